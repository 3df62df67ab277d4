"""Many small MLPs and 1-D CNNs trained as one batched model.

A sweep (widths x activations x seeds x learning rates x initialisations) becomes one
:class:`Ensemble`. Members with the same layer widths share a *block*: their weights are
stacked into ``(members, fan_in, fan_out)`` tensors and evaluated with one batched matmul
per layer, so a block of a thousand networks costs a handful of tensor operations per
step instead of a thousand Python-level forward passes. Members of different widths sit
in different blocks of the same model (no padding, so nothing is wasted on masked units).

A member may start with 1-D convolutions (``Member.conv``: channels per layer; the input
x (B, L) is one channel of length L), flattened channel by channel into its dense layers,
as ``torch.nn.Conv1d`` then ``nn.Flatten`` then ``nn.Linear`` would. Inside a block the
activations of conv layers are kept batch innermost, (members, channels, length, B). The first
layer is an im2col copy plus one matmul (:class:`BatchedConv1d`; one plain matmul for all
members, whose input they share); it writes its positions by residue class of the next layer's
stride, and so does every layer before another, so each later layer reads its taps as plain
matrices, without im2col (:class:`PhaseConv1d`). Every member of a block goes through a layer at
once, with the activation inside the layer's autograd function (:class:`ConvActs`), so the runs
of different activations need no concatenation. On one CPU core this beats both ``F.conv1d``
with ``groups=members`` and a Python loop of ``nn.Conv1d`` networks
(``benchmarks/ensemble_vs_loop.py --sweep conv`` measures the latter). Batch norm and
``Ensemble.hidden`` take a plainer path: in-order im2col layers, the activation through autograd.

Every member is exactly the network it would be alone: its initial weights come from its
own generator (seeded by ``Member.seed``), its loss is its own mean, the total loss is a
plain sum (so each member's gradient is its own), and the optimisers act elementwise with
a per-member learning rate. ``benchmarks/ensemble_vs_loop.py`` checks this against a
Python loop over the same networks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from actlab import functions

INITS = ("default", "standard", "xavier", "kaiming", "lecun")
LOSSES = ("mse", "xent", "bce")
_SQRT_HALF, _INV_SQRT_2PI = math.sqrt(0.5), 1 / math.sqrt(2 * math.pi)
_ZERO = torch.tensor(0.0)  # addcmul's addend where only value * t1 * t2 is wanted: one pass, not two


# Greydanus's small MNIST-1D CNN (his ConvBase): three conv layers of 25 channels, kernels 5, 3, 3,
# stride 2, padding 1, then a linear read-out. On length-40 signals: lengths 40 -> 19 -> 10 -> 5.
MNIST1D_CONV = (25, 25, 25)
MNIST1D_KERNELS = (5, 3, 3)
CONV_STRIDE, CONV_PADDING = 2, 1


@dataclass(frozen=True)
class Member:
    """One network of the sweep: activation, hidden widths, seed, learning rate, initialisation,
    and optionally 1-D conv layers before the dense ones.

    ``conv``: output channels of each conv layer (input: one channel, the signal x (B, L)).
    ``kernels``: kernel size of each conv layer; empty means 5 for the first and 3 after it, as
    in the MNIST-1D paper's CNN. ``stride`` and ``padding`` (zeros, both ends) apply to every conv
    layer and are ignored without conv layers. ``widths`` may be empty when there are conv
    layers (conv, then the linear read-out). Every conv and dense hidden layer has the activation.
    """
    activation: str
    widths: tuple[int, ...]
    seed: int = 0
    lr: float = 1e-2
    init: str = "default"
    gain: float = 1.0  # multiplies the hidden layers' initial weights (torch.nn.init.calculate_gain's)
    tag: dict = field(default_factory=dict, compare=False, hash=False)  # free labels for the caller
    conv: tuple[int, ...] = ()
    kernels: tuple[int, ...] = ()
    stride: int = CONV_STRIDE
    padding: int = CONV_PADDING

    def __post_init__(self):
        functions.get(self.activation)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"init gain must be finite and positive; got {self.gain}")
        if (not self.widths and not self.conv) or min(self.widths, default=1) < 1:
            raise ValueError(f"hidden widths must be positive integers; got {self.widths}")
        if self.conv:
            kernels = self.kernels or (5,) + (3,) * (len(self.conv) - 1)
            object.__setattr__(self, "kernels", tuple(kernels))
            if min(self.conv) < 1 or len(kernels) != len(self.conv) or min(kernels) < 1:
                raise ValueError(f"conv channels and kernels must be positive integers, one kernel per conv "
                                 f"layer; got conv={self.conv}, kernels={self.kernels}")
            if self.stride < 1 or self.padding < 0:
                raise ValueError(f"conv stride must be >= 1 and padding >= 0; got {self.stride}, {self.padding}")
        elif self.kernels:
            raise ValueError(f"kernels {self.kernels} given without conv layers")

    @property
    def shape(self) -> tuple:
        """What decides the block: the layer sizes (stride and padding only with conv layers)."""
        geometry = (self.conv, self.kernels, self.stride, self.padding) if self.conv else ()
        return self.widths, geometry


def mnist1d_cnn(activation: str, *, seed: int = 0, lr: float = 1e-2, init: str = "default",
                channels: int = 25, tag: dict | None = None) -> Member:
    """The MNIST-1D paper's CNN (its ConvBase) with another activation: conv layers of ``channels``
    channels with kernels 5, 3, 3, stride 2, padding 1, then a linear read-out. Use it with
    ``Ensemble(members, n_in=40, n_out=10)``; with 25 channels it has 5,210 parameters."""
    return Member(activation, (), seed=seed, lr=lr, init=init, tag=dict(tag or {}),
                  conv=(channels,) * 3, kernels=MNIST1D_KERNELS, stride=2, padding=1)


def conv_lengths(n_in: int, kernels, stride: int, padding: int) -> list[int]:
    """The signal length after each conv layer, starting from n_in (torch's formula)."""
    out = [n_in]
    for k in kernels:
        out.append((out[-1] + 2 * padding - k) // stride + 1)
    return out


def init_layer(g: torch.Generator, scheme: str, fan_in: int, fan_out: int, dtype, *,
               kernel: int = 1) -> tuple:
    """One layer's (weight (fan_in, fan_out), bias (fan_out,)) under an initialisation scheme.

    default:  PyTorch's nn.Linear and nn.Conv1d, W and b ~ U(+-1/sqrt(fan_in)).
    standard: Glorot & Bengio's "standard" heuristic, W ~ U(+-1/sqrt(fan_in)), b = 0.
    xavier:   Glorot & Bengio's normalised init, W ~ U(+-sqrt(6/(fan_in+fan_out))), b = 0.
    kaiming:  He et al., W ~ N(0, 2/fan_in), b = 0.
    lecun:    W ~ N(0, 1/fan_in), b = 0 (what SELU assumes).

    A conv layer passes ``fan_in`` = in-channels x ``kernel`` and ``fan_out`` = out-channels: its
    weight is then (in-channels x kernel, out-channels) and xavier's fan-out is out-channels x
    kernel, as in torch.nn.init.
    """
    u = lambda *shape: torch.rand(*shape, generator=g, dtype=dtype) * 2 - 1
    n = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)
    zeros = torch.zeros(fan_out, dtype=dtype)
    if scheme == "default":
        bound = 1 / math.sqrt(fan_in)
        return u(fan_in, fan_out) * bound, u(fan_out) * bound
    if scheme == "standard":
        return u(fan_in, fan_out) / math.sqrt(fan_in), zeros
    if scheme == "xavier":
        return u(fan_in, fan_out) * math.sqrt(6 / (fan_in + fan_out * kernel)), zeros
    if scheme == "kaiming":
        return n(fan_in, fan_out) * math.sqrt(2 / fan_in), zeros
    if scheme == "lecun":
        return n(fan_in, fan_out) * math.sqrt(1 / fan_in), zeros
    raise ValueError(f"init must be one of {', '.join(INITS)}; got {scheme!r}")


def affine(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (E, B, i) @ w (E, i, o) + b (E, 1, o). With i or o of 1 (1-D regression), a batched
    matmul is an outer product or a dot product, which broadcasting does several times faster."""
    if w.shape[1] == 1:
        return torch.addcmul(b, h, w)
    if w.shape[2] == 1:
        return (h * w.transpose(1, 2)).sum(-1, keepdim=True) + b
    return torch.baddbmm(b, h, w)


def _buffer(like: torch.Tensor, *shape: int) -> torch.Tensor:
    """An uninitialised tensor that the caller writes in full, on a bare storage of its own:
    deterministic mode NaN-fills every torch.empty (a wasted pass over the step's largest buffers)
    but not a storage, so no global switch is turned off and back on."""
    storage = torch.UntypedStorage(math.prod(shape) * like.element_size(), device=like.device)
    return like.new_empty(0).set_(storage, 0, shape)


def _taps(L: int, runs, kernel: int, stride: int, padding: int):
    """Where each window tap reads. Output positions come in runs (start, step, count) laid out one
    after another (one run (0, 1, L_out) in order); output i reads input stride*i + j - padding at
    tap j. Yields (j, o, n, lo, hi, t, dt): the run's n outputs start at column o, and its outputs
    lo..hi-1 read inside the signal at tap j, at input positions t, t + dt, ..."""
    o = 0
    for i0, step, n in runs:
        for j in range(kernel):
            t0, dt = stride * i0 + j - padding, stride * step
            lo = min(n, max(0, -(t0 // dt)))  # an empty run (a residue class with no positions) reads nothing
            hi = max(lo, min(n, (L - 1 - t0) // dt + 1))
            yield j, o, n, lo, hi, t0 + dt * lo, dt
        o += n


def _phases(L: int, s: int) -> list[tuple[int, int, int]]:
    """Positions 0..L-1 by residue class mod s, as runs (r, s, n): r, r + s, ... for r < s, each
    class n = ceil(L / s) slots long, so that positions L and beyond pad the short ones (in order
    for s = 1)."""
    return [(r, s, -(-L // s)) for r in range(s)]


def _pad_slots(L: int, s: int):
    """(class, slot) of the padding positions (L and beyond) in :func:`_phases`' layout."""
    n = -(-L // s)
    return [(r, q) for r in range(s) for q in range(n) if s * q + r >= L]


def _im2col(h: torch.Tensor, kernel: int, stride: int, padding: int, runs) -> torch.Tensor:
    """h (E, C, L, B) -> its im2col columns (E, kernel * C + 1, L_out * B), output positions in
    ``runs``, with a last row of ones (the bias's weight, so the matmul adds the bias and its
    transpose sums the bias's gradient): one strided copy per tap straight from h, each a run of B
    values, and zeros where a window reaches into the padding (no padded copy of h)."""
    E, C, L, B = h.shape
    L_out = sum(n for _r, _s, n in runs)
    cols = _buffer(h, E, kernel * C + 1, L_out * B)
    taps = cols[:, :-1].view(E, kernel, C, L_out, B)
    for j, o, n, lo, hi, t, dt in _taps(L, runs, kernel, stride, padding):
        if lo:
            taps[:, j, :, o:o + lo] = 0
        if hi < n:
            taps[:, j, :, o + hi:o + n] = 0
        if hi > lo:
            taps[:, j, :, o + lo:o + hi] = h[:, :, t:t + dt * (hi - lo - 1) + 1:dt]
    cols[:, -1] = 1
    return cols


def _col2im(gcols: torch.Tensor, L: int, kernel: int, stride: int, padding: int, runs) -> torch.Tensor:
    """The gradient (E, C, L, B) of h from its columns' (E, kernel, C, L_out, B), the reverse of
    :func:`_im2col`: each tap's slice goes back where it came from, copied where no earlier tap
    wrote and added where one did (no zero fill and scatter)."""
    E, _k, C, _n, B = gcols.shape
    gh = _buffer(gcols, E, C, L, B)
    written = [False] * L
    for j, o, _n, lo, hi, t, dt in _taps(L, runs, kernel, stride, padding):
        if hi == lo:
            continue
        pos = range(t, t + dt * (hi - lo), dt)
        dst, src = gh[:, :, t:pos[-1] + 1:dt], gcols[:, j, :, o + lo:o + hi]
        if not any(written[p] for p in pos):
            dst.copy_(src)
        else:
            for p in pos:  # the few positions no earlier tap reached
                if not written[p]:
                    gh[:, :, p] = 0
            dst.add_(src)
        for p in pos:
            written[p] = True
    for p in range(L):  # positions no window reads (stride > kernel)
        if not written[p]:
            gh[:, :, p] = 0
    return gh


def _zero_slots(t: torch.Tensor, s: int, slots) -> None:
    """Zero the (class, slot) positions ``slots`` of t (E, C, positions, B) stored by class mod s."""
    if slots:
        v = t.view(t.shape[0], t.shape[1], s, -1, t.shape[3])
        for r, q in slots:
            v[:, :, r, q] = 0


def _tap_groups(L: int, L_out: int, kernel: int, stride: int, padding: int):
    """For input positions by residue class mod ``stride`` (:func:`_phases`: n slots per class,
    padding zeros past L) and outputs in order, the taps by the slot shift q they read at: output
    i reads input stride*i + j - padding, slot i + q of class r at tap j = stride*q + r + padding.
    Returns (first tap, class or None, q, (lo, hi)) per group: class None when the group has a tap
    for every class, taps first .. first + stride - 1, read as one matmul over the rows (channel,
    class); otherwise one tap of that class. Outputs lo..hi-1 read inside the slots."""
    n = -(-L // stride)
    by_shift = {}
    for j in range(kernel):
        q, r = divmod(j - padding, stride)
        by_shift.setdefault(q, []).append((r, j))
    out = []
    for q, taps in sorted(by_shift.items()):
        lo, hi = max(0, -q), min(L_out, n - q)
        if hi > lo:
            if len(taps) == stride:
                out.append((taps[0][1], None, q, (lo, hi)))
            else:
                out += [(j, r, q, (lo, hi)) for r, j in taps]
    return out


@dataclass(frozen=True)
class ConvActs:
    """A conv layer's activation, applied inside the layer's autograd function run by run of one
    activation (members ``a:b`` of the block): ReLU, tanh, sigmoid and GELU by hand (the registered
    functions' kernels and values), any other function through autograd on its slice. ``pieces``
    > 1: a layer (maxout, gated units) that maps pieces * C channels to C."""
    runs: tuple  # (function, a, b, learnable) per run
    pieces: int = 1
    own_grad: bool = False  # nothing else reads the output's gradient: the backward may overwrite it


# Forward (z, out) and backward (grad, y, out) of the activations whose derivative reads only the output:
# the kernels of torch.relu, torch.tanh and torch.sigmoid and of their autograd formulas.
_BY_OUTPUT = {
    "relu": (lambda z, out: torch.clamp_min(z, 0, out=out),
             lambda g, y, out: torch.ops.aten.threshold_backward.grad_input(g, y, 0, grad_input=out)),
    "tanh": (lambda z, out: torch.tanh(z, out=out),
             lambda g, y, out: torch.ops.aten.tanh_backward.grad_input(g, y, grad_input=out)),
    "sigmoid": (lambda z, out: torch.sigmoid(z, out=out),
                lambda g, y, out: torch.ops.aten.sigmoid_backward.grad_input(g, y, grad_input=out)),
}


def gelu_forward(z: torch.Tensor, out: torch.Tensor | None = None, derivative: bool = True) -> torch.Tensor | None:
    """functions' GELU z Phi(z) = z erfc(t) / 2 with t = -z / sqrt 2 (the same values: halving is
    exact), into ``out`` (in place without); returns the derivative Phi(z) + z phi(z), doubled, for
    :func:`gelu_backward`:
    (e - 2 t exp(-t^2) / sqrt(pi)) with e = erfc(t) (z = -sqrt(2) t, so z^2 / 2 = t^2), formed
    while t and e are fresh. Autograd through the composite keeps about eight intermediates and
    makes some twenty passes over them; this makes seven passes forward and one backward."""
    finite = bool(torch.isfinite(z.sum()))  # else z holds +-inf: the registered function's limits
    t = torch.mul(z, -_SQRT_HALF)
    e = torch.special.erfc(t)  # 2 Phi(z), as functions._ndtr forms it
    out = z if out is None else out
    if finite:
        torch.addcmul(_ZERO.to(z), z, e, value=0.5, out=out)
    else:
        out.copy_(functions.get("gelu")(z))
    if not derivative:
        return None
    d = torch.addcmul(_ZERO.to(t), t, t, value=-1).exp_()  # sqrt(2 pi) phi(z)
    return torch.addcmul(e, d, t, value=-2 / math.sqrt(math.pi), out=d)


def gelu_backward(d: torch.Tensor, grad: torch.Tensor, out: torch.Tensor) -> None:
    """The GELU's derivative (``d`` from :func:`gelu_forward`, halved) times ``grad``, into ``out``."""
    torch.addcmul(_ZERO.to(d), d, grad, value=0.5, out=out)


def _acts_forward(z: torch.Tensor, acts: ConvActs, slopes, y: torch.Tensor | None = None,
                  grad: bool = True) -> tuple[torch.Tensor, list]:
    """y = activation(z) for every run of ``acts``, into ``y`` (members first, then z's shape
    with the channels reduced by pieces per unit), else in place (a layer of several pieces per
    unit writes a new, narrower y). Returns y and what the backward needs per run (nothing
    without ``grad``: no backward will run)."""
    if y is None:
        y = z if acts.pieces == 1 else _buffer(z, z.shape[0], z.shape[1] // acts.pieces, *z.shape[2:])
    state, slopes = [], iter(slopes)
    for f, a, b, learnable in acts.runs:
        zr, yr = z[a:b], y[a:b]
        if f.name in _BY_OUTPUT and not learnable:
            _BY_OUTPUT[f.name][0](zr, yr)
            state.append(None)
        elif f.name == "gelu":
            state.append(gelu_forward(zr, yr, derivative=grad))
        elif not grad:
            sl = next(slopes) if learnable else None
            yr.copy_(torch.where(zr > 0, zr, sl.view(-1, *[1] * (zr.dim() - 1)) * zr) if learnable else
                     f(zr) if f.elementwise else f(zr.movedim(1, -1)).movedim(-1, 1))
            state.append(None)
        else:  # autograd on the slice (a copy of it, if y overwrites it); PReLU's slopes are inputs of the layer
            with torch.enable_grad():
                zl = (_buffer(zr, *zr.shape).copy_(zr) if y is z else zr.detach()).requires_grad_()
                sl = next(slopes).detach().requires_grad_() if learnable else None
                if learnable:
                    yl = torch.where(zl > 0, zl, sl.view(-1, *[1] * (zl.dim() - 1)) * zl)
                else:
                    yl = f(zl) if f.elementwise else f(zl.movedim(1, -1)).movedim(-1, 1)
            yr.copy_(yl)
            state.append((zl, sl, yl))
    return y, state


def _acts_backward(acts: ConvActs, state: list, y: torch.Tensor, grad: torch.Tensor) -> tuple:
    """The gradient of the layer's output before the activation, from y's, and of each learned
    slope, run by run."""
    if acts.own_grad and acts.pieces == 1 and grad.is_contiguous():
        gz = grad  # in place: the old values are read once, where they are written, and no new buffer
    else:
        gz = _buffer(grad, grad.shape[0], grad.shape[1] * acts.pieces, *grad.shape[2:])
    gslopes = []
    for (f, a, b, learnable), st in zip(acts.runs, state, strict=True):
        g, out = grad[a:b], gz[a:b]
        if st is None:
            _BY_OUTPUT[f.name][1](g, y[a:b], out)
        elif f.name == "gelu" and not learnable:
            gelu_backward(st, g, out)
        else:
            zl, sl, yl = st
            # kept, as the outer graph is when its backward runs again (retain_graph, gradcheck)
            grads = torch.autograd.grad(yl, [zl] if sl is None else [zl, sl], g, retain_graph=True)
            out.copy_(grads[0])
            if sl is not None:
                gslopes.append(grads[1])
    return gz, gslopes


class BatchedConv1d(torch.autograd.Function):
    """Every member's 1-D convolution at once, batch innermost: h (E, C_in, L, B),
    w (E, k*C_in, C_out) (row j*C_in + c holds torch's weight[:, c, j]), b (E, 1, C_out)
    -> (E, C_out, L_out, B), its positions in order, or with ``phases`` = s > 1 by residue class
    mod s (0, s, 2s, ..., then 1, s + 1, ...; :func:`_phases`, zeros in the padding slots after
    the activation) for a next layer of stride s (:class:`PhaseConv1d`). h may be the signal
    x (B, L) that every member shares.

    With the batch innermost, (length, batch) is one matmul dimension of L_out*B columns: the
    im2col columns (:func:`_im2col`) are one strided copy per tap, and [w; b]^T @ columns is one
    batched matmul whose output is already the next layer's layout. For a shared x the columns
    are the same for every member, so the layer is one plain matmul of every member's rows.
    Backward by hand, because autograd's backward of ``unfold`` (a zero fill and a scatter)
    costs more than the matmuls (:func:`_col2im`). ``acts`` (:class:`ConvActs`, with ``slopes``
    its PReLU slopes): the activation too, so the layer returns its output and its runs of
    members need no concatenation. First derivatives only (no double backward)."""

    @staticmethod
    def forward(ctx, h, w, b, kernel: int, stride: int, padding: int, phases: int = 1, acts=None, *slopes):
        shared = h.dim() == 2
        h = h.T[None, None] if shared else h
        E, C_out = w.shape[0], w.shape[2]
        _e, C, L, B = h.shape
        runs = _phases((L + 2 * padding - kernel) // stride + 1, phases)
        cols = _im2col(h, kernel, stride, padding, runs)
        L_out = cols.shape[2] // B
        wb = torch.cat([w, b], 1).transpose(1, 2)  # (E, C_out, k*C + 1)
        z = _buffer(h, E, C_out, L_out, B)  # not a view of the product: activations may act in place
        if shared:  # the same columns for every member: one matmul, rows (member, channel)
            torch.mm(wb.reshape(E * C_out, -1), cols[0], out=z.view(E * C_out, -1))
        else:
            torch.bmm(wb, cols, out=z.view(E, C_out, -1))
        y, ctx.state = _acts_forward(z, acts, slopes, grad=any(ctx.needs_input_grad)) if acts is not None else (z, None)
        pads = _pad_slots((L + 2 * padding - kernel) // stride + 1, phases)
        _zero_slots(y, phases, pads)  # padding positions are zeros for the next layer
        ctx.save_for_backward(cols, w, y)
        ctx.geometry = (kernel, stride, padding, L, runs, acts, shared, phases, pads)
        return y

    @staticmethod
    def backward(ctx, grad):
        cols, w, y = ctx.saved_tensors
        kernel, stride, padding, L, runs, acts, shared, phases, pads = ctx.geometry
        gslopes = []
        if acts is not None:
            grad, gslopes = _acts_backward(acts, ctx.state, y, grad)
            _zero_slots(grad, phases, pads)  # the padding positions' pre-activations reach nothing
        E, C_out, L_out, B = grad.shape
        C = w.shape[1] // kernel
        grad = grad.reshape(E, C_out, L_out * B)
        if shared:
            gwb = torch.mm(grad.view(E * C_out, -1), cols[0].T).view(E, C_out, -1).transpose(1, 2)
        else:
            gwb = torch.bmm(cols, grad.transpose(1, 2))
        gh = None
        if ctx.needs_input_grad[0]:  # for a shared x, summed over the members
            if shared:
                gcols = torch.mm(w.permute(1, 0, 2).reshape(kernel * C, -1), grad.view(E * C_out, -1))[None]
            else:
                gcols = torch.bmm(w, grad)
            gh = _col2im(gcols.view(gcols.shape[0], kernel, C, L_out, B), L, kernel, stride, padding, runs)
            gh = gh[0, 0].T if shared else gh
        return (gh, gwb[:, :-1], gwb[:, -1:], None, None, None, None, None, *gslopes)


class PhaseConv1d(torch.autograd.Function):
    """:class:`BatchedConv1d` for an input whose positions come by residue class mod this layer's
    stride s (``BatchedConv1d(..., phases=s)`` writes them so; ``length``: its real length), each
    class as long as the longest: a tap then reads one contiguous block of (position, batch)
    columns, a plain matrix, and the s taps that read at the same shift, one per class, read one
    matrix whose rows are (channel, class) (:func:`_tap_groups`). So the layer is a few
    accumulating matmuls, the widest with s times the channels as their inner dimension, with no
    im2col copy forward and no column gradient to scatter back. Output positions in order, or by
    class mod ``phases`` for a next PhaseConv1d (the activation writes them so); ``acts`` as in
    :class:`BatchedConv1d`."""

    @staticmethod
    def forward(ctx, h, w, b, kernel: int, stride: int, padding: int, length: int, phases: int = 1, acts=None,
                *slopes):
        E, C, _slots, B = h.shape
        L_out = (length + 2 * padding - kernel) // stride + 1
        h = h.contiguous().view(E, C * stride, -1)  # rows (channel, class)
        groups = _tap_groups(length, L_out, kernel, stride, padding)
        n = -(-L_out // phases)  # output slots per class of the next layer's stride
        z = _buffer(h, E, w.shape[2], n * phases, B)
        if n * phases > L_out:
            z[:, :, L_out:] = 0  # positions past the end, the classes being uneven
        flat = z.view(E, w.shape[2], -1)[:, :, :L_out * B]
        # a group that feeds every output starts the sum with the bias, in one contiguous matmul
        first = next((g for g in groups if g[1] is None and g[3] == (0, L_out)), None)
        if first is None:
            flat.copy_(b.transpose(1, 2).expand_as(flat))
        for group in sorted(groups, key=lambda g: g is not first):
            wg, hg, (lo, hi) = PhaseConv1d._operands(group, h, w, stride, B)
            if group is first:
                torch.baddbmm(b.transpose(1, 2), wg.transpose(1, 2), hg, out=flat)
            else:
                flat[:, :, lo * B:hi * B].baddbmm_(wg.transpose(1, 2), hg)
        grad = any(ctx.needs_input_grad)
        if phases == 1:
            y, ctx.state = _acts_forward(z, acts, slopes, grad=grad) if acts is not None else (z, None)
        else:  # the activation writes its output by class for the next layer: no extra copy
            y = _buffer(z, E, z.shape[1] // (acts.pieces if acts is not None else 1), n * phases, B)
            zc, yc = PhaseConv1d._by_class(z, phases), PhaseConv1d._by_class(y, phases, stored=True)
            ctx.state = None if acts is None else _acts_forward(zc, acts, slopes, yc, grad)[1]
            if acts is None:
                yc.copy_(zc)
            _zero_slots(y, phases, _pad_slots(L_out, phases))  # padding positions are zeros for the next layer
        ctx.save_for_backward(h, w, y)
        ctx.geometry = (groups, length, stride, acts, phases, L_out)
        return y

    @staticmethod
    def _by_class(t, s, stored=False):
        """t (E, C, n * s, B) indexed (E, C, n, s, B), position q * s + r at [q, r], whether its
        positions are in order or, ``stored``, by class mod s (class r's slot q at r * n + q)."""
        E, C, slots, B = t.shape
        return t.view(E, C, s, slots // s, B).transpose(2, 3) if stored else t.view(E, C, slots // s, s, B)

    @staticmethod
    def _operands(group, h, w, s, B):
        """A group's weight rows (E, rows, C_out), in the order of its input rows (E, rows, columns)."""
        j, r, q, (lo, hi) = group
        E, C = h.shape[0], h.shape[1] // s
        cols = slice((lo + q) * B, (hi + q) * B)
        if r is None:  # taps j..j+s-1, one per class: rows (channel, class)
            wg = w.view(E, -1, C, w.shape[2])[:, j:j + s].transpose(1, 2).reshape(E, C * s, -1)
            return wg, h[:, :, cols], (lo, hi)
        return w[:, j * C:(j + 1) * C], h.view(E, C, s, -1)[:, :, r, cols], (lo, hi)

    @staticmethod
    def backward(ctx, grad):
        h, w, y = ctx.saved_tensors
        groups, length, s, acts, phases, L_out = ctx.geometry
        gslopes = []
        if phases > 1:  # back to positions in order: the gradient of z
            by_class = PhaseConv1d._by_class
            if acts is not None:
                grad, gslopes = _acts_backward(acts, ctx.state, by_class(y, phases, True), by_class(grad, phases, True))
            else:
                grad = by_class(grad, phases, True).contiguous()
            grad = grad.view(grad.shape[0], grad.shape[1], -1, grad.shape[-1])
        elif acts is not None:
            grad, gslopes = _acts_backward(acts, ctx.state, y, grad)
        E, C_out, _l, B = grad.shape
        C, kernel = h.shape[1] // s, w.shape[1] * s // h.shape[1]
        grad = grad.reshape(E, C_out, -1)[:, :, :L_out * B]
        gw = gh = None
        if ctx.needs_input_grad[1]:
            gw = w.new_zeros(E, kernel, C, C_out)  # tap-major; taps that read only padding stay zero
            for group in groups:
                j, r, q, (lo, hi) = group
                _wg, hg, _ = PhaseConv1d._operands(group, h, w, s, B)
                gg = torch.bmm(hg, grad[:, :, lo * B:hi * B].transpose(1, 2))
                if r is None:
                    gw[:, j:j + s] = gg.view(E, C, s, C_out).transpose(1, 2)
                else:
                    gw[:, j] = gg
            gw = gw.view_as(w)
        gb = grad.sum(2).unsqueeze(1) if ctx.needs_input_grad[2] else None
        if ctx.needs_input_grad[0]:
            gh = _buffer(h, *h.shape)
            n = h.shape[2] // B
            # a group reaching every slot of every class writes gh in one contiguous matmul, later ones add
            first = next((g for g in groups if g[1] is None and (g[3][0] + g[2], g[3][1] + g[2]) == (0, n)), None)
            if first is None:
                gh.zero_()
            for group in sorted(groups, key=lambda g: g is not first):
                wg, _hg, (lo, hi) = PhaseConv1d._operands(group, h, w, s, B)
                j, r, q, _ = group
                g = grad[:, :, lo * B:hi * B]
                if group is first:
                    torch.bmm(wg, g, out=gh)
                else:
                    dst = gh[:, :, (lo + q) * B:(hi + q) * B] if r is None else \
                        gh.view(E, C, s, -1)[:, :, r, (lo + q) * B:(hi + q) * B]
                    dst.baddbmm_(wg, g)
            gh = gh.view(E, C, -1, B)
            _zero_slots(gh, s, _pad_slots(length, s))  # what reached the padding goes nowhere
        return (gh, gw, gb, None, None, None, None, None, None, *gslopes)


class Block:
    """Members with identical layer sizes: weights stacked along a leading member axis.

    ``weights``/``biases`` list the conv layers first (weights (E, k*C_in, C_out), see
    :class:`BatchedConv1d`), then the dense ones ((E, fan_in, fan_out), biases (E, 1, fan_out)).
    ``dims`` are the dense part's sizes: its first entry is n_in, or for conv members the
    flattened conv output (channels x length)."""

    def __init__(self, members: list[Member], idx: list[int], n_in: int, n_out: int,
                 batch_norm: bool, dtype, layer_norm: bool = False, residual: bool = False):
        self.members, self.idx = members, idx
        m0 = members[0]
        self.conv, self.kernels, self.stride, self.padding = m0.conv, m0.kernels, m0.stride, m0.padding
        self.lengths = conv_lengths(n_in, self.kernels, self.stride, self.padding) if self.conv else [n_in]
        if min(self.lengths) < 1:
            raise ValueError(f"conv layers {self.conv} with kernels {self.kernels}, stride {self.stride} and "
                             f"padding {self.padding} leave no signal from length {n_in}: lengths {self.lengths}")
        flat = self.conv[-1] * self.lengths[-1] if self.conv else n_in
        self.dims = [flat, *m0.widths, n_out]
        self.n_hidden = len(self.conv) + len(m0.widths)
        self.batch_norm, self.layer_norm, self.residual = batch_norm, layer_norm, residual
        if self.conv and (layer_norm or residual):
            raise ValueError("layer norm and residual connections are for dense layers; got conv members")
        self.weights, self.biases = [], []
        # Layers (maxout, the gated units) get blocks of their own, by their pieces per unit: each
        # hidden layer's weights are (fan_in, pieces * width), and the activation reduces them
        # (maxout's max over k pieces; a gated unit's a * g(b) over the value half a and the gate half b).
        self.pieces = functions.get(m0.activation).pieces
        channels_in = [1, *self.conv][:len(self.conv)]
        # (fan_in, fan_out, kernel) per layer: conv layers, then dense ones
        shapes = [(c_in * k, self.pieces * c, k) for c_in, c, k in zip(channels_in, self.conv, self.kernels, strict=True)]
        shapes += [(a, self.pieces * b, 1) for a, b in zip(self.dims[:-2], self.dims[1:-1], strict=True)]
        shapes.append((self.dims[-2], n_out, 1))
        per_member = []
        for m in members:
            g = torch.Generator().manual_seed(m.seed)
            layers = [init_layer(g, m.init, a, b, dtype, kernel=k) for a, b, k in shapes]
            per_member.append([(w * m.gain, b) for w, b in layers[:-1]] + layers[-1:])  # the read-out: gain 1
        for layer in range(len(shapes)):
            self.weights.append(torch.stack([pm[layer][0] for pm in per_member]).requires_grad_(True))
            self.biases.append(torch.stack([pm[layer][1] for pm in per_member])[:, None, :].requires_grad_(True))
        self.lr = torch.tensor([m.lr for m in members], dtype=dtype)[:, None, None]
        # contiguous runs of one activation (members are sorted by activation within a block)
        self.groups, start = [], 0
        for i in range(1, len(members) + 1):
            if i == len(members) or members[i].activation != members[start].activation:
                self.groups.append((functions.get(members[start].activation), start, i))
                start = i
        # Learnable activations (PReLU): one slope per hidden layer per member, shared by the
        # layer's units (He et al.'s channel-shared variant), keyed by group start.
        self.slopes = {a: [torch.full((b - a, 1, 1), f.params["a"], dtype=dtype, requires_grad=True)
                           for _ in range(self.n_hidden)]
                       for f, a, b in self.groups if f.learnable}
        self.conv_acts = ConvActs(tuple((f, a, b, a in self.slopes) for f, a, b in self.groups), self.pieces,
                                  own_grad=True)  # the conv outputs are internal to forward()

    def parameters(self) -> list[torch.Tensor]:
        return self.weights + self.biases + [s for v in self.slopes.values() for s in v]

    def param_lrs(self) -> list[torch.Tensor]:
        """The learning rate of each tensor of ``parameters()``, broadcastable to it."""
        lrs = [self.lr] * (len(self.weights) + len(self.biases))
        for _f, a, b in self.groups:
            if a in self.slopes:
                lrs += [self.lr[a:b]] * len(self.slopes[a])
        return lrs

    def _act(self, f, a: int, part: torch.Tensor, layer: int) -> torch.Tensor:
        if a in self.slopes:
            slope = self.slopes[a][layer]
            if part.dim() == 4:  # a conv layer, (members, channels, length, B)
                slope = slope[..., None]
            return torch.where(part > 0, part, slope * part)
        return f(part)

    def activate(self, z: torch.Tensor, layer: int = 0) -> torch.Tensor:
        if len(self.groups) == 1:
            f, a, _ = self.groups[0]
            return self._act(f, a, z, layer)
        # split, not slicing: a slice's backward fills a zero tensor the size of z per group
        parts = z.split([b - a for _, a, b in self.groups], 0)
        return torch.cat([self._act(f, a, part, layer) for (f, a, _), part in zip(self.groups, parts, strict=True)], 0)

    def forward(self, x: torch.Tensor, keep: bool = False):
        """x: (B, n_in) shared by all members, or (E, B, n_in). Returns (E, B, n_out) [, pre, post];
        pre/post per hidden layer: (E, B, width), or (E, B, channels, length) for a conv layer."""
        pre, post = [], []
        nc = len(self.conv)
        if nc:
            h = self._conv_forward(x, keep, pre, post)
        else:
            h = x.expand(len(self.members), *x.shape[-2:]) if x.dim() == 2 else x
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights[nc:], self.biases[nc:], strict=True), start=nc):
            if layer == nc and nc:  # conv features (E, channels * length, B): w^T @ h keeps their gradient in that layout
                z = torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), h).transpose(1, 2)
            else:
                z = affine(h, w, b)
            if layer == last:
                return (z, pre, post) if keep else z
            if self.batch_norm:  # training-mode statistics over the batch, no affine part
                z = (z - z.mean(1, keepdim=True)) / torch.sqrt(z.var(1, unbiased=False, keepdim=True) + 1e-5)
            if self.layer_norm:  # over each example's units, no affine part: the same in training and test
                z = (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-5)
            a = self.activate(z, layer)
            h = h + a if self.residual and a.shape == h.shape else a  # a skip wherever the width stays
            if keep:
                pre.append(z)
                post.append(h)

    def _conv_forward(self, x: torch.Tensor, keep: bool, pre: list, post: list) -> torch.Tensor:
        """The conv layers, (E, channels, length, B) inside (see :class:`BatchedConv1d`); returns
        the flattened features (E, channels * length, B), channel by channel as torch's Flatten
        of a (B, channels, length) output.

        Every member goes through each layer at once, the activation inside the layer's autograd
        function (:class:`ConvActs`) run by run of one activation: no concatenation of the runs'
        outputs forward or of their gradients backward. A layer followed by another writes its
        positions by residue class of that one's stride (:class:`PhaseConv1d`). Batch norm, and
        ``keep`` (the pre-activations are wanted), take in-order layers and run the activation
        outside, through autograd."""
        fused = not (keep or self.batch_norm)
        h = x if x.dim() == 2 else x.transpose(1, 2)[:, None]  # shared (B, L) or per member (E, 1, L, B)
        for layer, k in enumerate(self.kernels):
            w, b, geometry = self.weights[layer], self.biases[layer], (k, self.stride, self.padding)
            if not fused:
                z = BatchedConv1d.apply(h, w, b, *geometry)
            else:  # positions by class of the next layer's stride
                phases = self.stride if layer < len(self.kernels) - 1 else 1
                acts = (self.conv_acts, *[s[layer] for s in self.slopes.values()])
                if layer == 0:
                    z = BatchedConv1d.apply(h, w, b, *geometry, phases, *acts)
                else:
                    z = PhaseConv1d.apply(h, w, b, *geometry, self.lengths[layer], phases, *acts)
            if fused:
                h = z
                continue
            if self.batch_norm:  # over batch and length per channel, as BatchNorm1d in training mode
                z = (z - z.mean((2, 3), keepdim=True)) / torch.sqrt(z.var((2, 3), unbiased=False, keepdim=True) + 1e-5)
            if self.pieces == 1:
                h = self.activate(z, layer)
            else:  # maxout and gated units reduce the last axis: move channels there and back
                h = self.activate(z.movedim(1, -1), layer).movedim(-1, 1)
            if keep:  # (E, B, channels, length)
                pre.append(z.permute(0, 3, 1, 2))
                post.append(h.permute(0, 3, 1, 2))
        return h.reshape(h.shape[0], -1, h.shape[-1])


class Ensemble:
    """A sweep of MLPs (and CNNs) as one model. Results come back in the order ``members`` was given.

    ``n_in``: input features, or the signal length for members with conv layers (x is (B, n_in)
    either way, so MLPs and CNNs can share one ensemble and one input). ``batch_norm`` or
    ``layer_norm`` normalise every hidden pre-activation (no affine part); ``residual`` adds each
    dense hidden layer's input to its output wherever the two widths agree (MLPs only)."""

    def __init__(self, members: list[Member], n_in: int, n_out: int, *, batch_norm: bool = False,
                 layer_norm: bool = False, residual: bool = False, dtype=torch.float64):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.n_in, self.n_out, self.dtype = n_in, n_out, dtype
        act_rank = {n: i for i, n in enumerate(functions.names())}
        shape = lambda i: (members[i].shape, functions.get(members[i].activation).pieces)
        order = sorted(range(len(members)), key=lambda i: (shape(i), act_rank[members[i].activation]))
        self.blocks = []
        start = 0
        for i in range(1, len(order) + 1):
            if i == len(order) or shape(order[i]) != shape(order[start]):
                ids = order[start:i]
                self.blocks.append(Block([members[j] for j in ids], ids, n_in, n_out, batch_norm, dtype,
                                         layer_norm, residual))
                start = i
        flat = [j for blk in self.blocks for j in blk.idx]
        self.inverse = torch.argsort(torch.tensor(flat))
        # members already in block order (one activation, or sorted): no reordering copy needed
        self.in_order = flat == list(range(len(members)))

    def __len__(self):
        return len(self.members)

    def parameters(self) -> list[torch.Tensor]:
        return [p for blk in self.blocks for p in blk.parameters()]

    def lrs(self) -> list[torch.Tensor]:
        return [lr for blk in self.blocks for lr in blk.param_lrs()]

    def parameter_counts(self) -> np.ndarray:
        """Trainable parameters of each member (weights, biases, learned slopes: one per hidden
        layer, conv layers included), member order."""
        out = np.zeros(len(self), int)
        for blk in self.blocks:
            per = sum(p[0].numel() for p in blk.weights + blk.biases)
            for j in range(len(blk.members)):
                out[blk.idx[j]] = per
            for _f, a, b in blk.groups:
                for j in range(a, b):
                    out[blk.idx[j]] += len(blk.slopes.get(a, ()))
        return out

    def prelu_slopes(self) -> np.ndarray:
        """Learned PReLU slopes, (members, hidden layers); nan for members without PReLU."""
        out = np.full((len(self), max(b.n_hidden for b in self.blocks)), np.nan)
        for blk in self.blocks:
            for _f, a, b in blk.groups:
                if a in blk.slopes:
                    vals = torch.stack([s.detach()[:, 0, 0] for s in blk.slopes[a]], 1).numpy()
                    out[blk.idx[a:b], :vals.shape[1]] = vals
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, n_out): every member's output on x (B, n_in), in member order."""
        outs = [blk.forward(self._member_input(x, blk)) for blk in self.blocks]
        out = outs[0] if len(outs) == 1 else torch.cat(outs, 0)
        if self.in_order:
            return out
        if out.transpose(1, 2).is_contiguous():  # conv members' (E, n_out, B) layout, kept for the loss (member_losses)
            return out.transpose(1, 2)[self.inverse].transpose(1, 2)
        return out[self.inverse]

    def _member_input(self, x, blk):
        return x if x.dim() == 2 or (self.in_order and len(self.blocks) == 1) else x[blk.idx]

    def single_block(self) -> Block:
        if len(self.blocks) != 1:
            raise ValueError("this needs every member to have the same widths, conv layers and pieces per unit")
        return self.blocks[0]

    def hidden(self, x: torch.Tensor):
        """(output, pre-activations, post-activations) per hidden layer, each (E, B, width), or
        (E, B, channels, length) for a conv layer, in member order (a layer's pre-activations have
        pieces * width units). Needs one block (all members the same widths, conv layers and pieces)."""
        blk = self.single_block()
        out, pre, post = blk.forward(x, keep=True)
        if self.in_order:
            return out, pre, post
        inv = self.inverse
        return out[inv], [p[inv] for p in pre], [p[inv] for p in post]


class _Residual(torch.nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class _Elementwise(torch.nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.name, self.f = name, functions.get(name)

    def forward(self, x):
        return self.f(x)


class _Maxout(torch.nn.Module):
    """Max over k adjacent units (dense, dim -1) or channels (conv, dim 1 of (B, k*C, L))."""

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k, self.dim = k, dim

    def forward(self, x):
        return x.unflatten(self.dim, (-1, self.k)).amax(self.dim + 1 if self.dim >= 0 else -1)


class _Gated(torch.nn.Module):
    """a * g(b) over the halves (value a, gate input b) of units (dense, dim -1) or channels (conv, dim 1)."""

    def __init__(self, gate: str, dim: int):
        super().__init__()
        self.g, self.dim = functions.get(gate), dim

    def forward(self, x):
        a, b = x.chunk(2, self.dim)
        return a * self.g(b)


def torch_network(ens: Ensemble, i: int) -> torch.nn.Sequential:
    """Member ``i`` as plain torch.nn (Conv1d, Linear, activations, Flatten), holding copies of its
    current weights: the same function of x (B, n_in), for checks against idiomatic PyTorch and
    for a loop-over-networks baseline. Batch norm becomes BatchNorm1d without affine part or
    running statistics; PReLU becomes nn.PReLU with the member's learned slope per layer."""
    nn = torch.nn
    blk = next(b for b in ens.blocks if i in b.idx)
    j = list(blk.idx).index(i)
    m = blk.members[j]
    f = functions.get(m.activation)
    group_start = next(a for _f, a, b in blk.groups if a <= j < b)
    dtype = blk.weights[0].dtype
    layers: list = [nn.Unflatten(1, (1, ens.n_in))] if blk.conv else []
    n_layers = len(blk.weights)
    for layer, (w, b) in enumerate(zip(blk.weights, blk.biases, strict=True)):
        w, b = w[j].detach(), b[j].detach().reshape(-1)
        is_conv = layer < len(blk.conv)
        if is_conv:
            k = blk.kernels[layer]
            mod = nn.Conv1d(w.shape[0] // k, w.shape[1], k, stride=blk.stride, padding=blk.padding, dtype=dtype)
            weight = w.view(k, -1, w.shape[1]).permute(2, 1, 0)  # row tap * C_in + c -> [out, c, tap]
        else:
            if layer == len(blk.conv) and blk.conv:
                layers.append(nn.Flatten())
            mod = nn.Linear(w.shape[0], w.shape[1], dtype=dtype)
            weight = w.T
        with torch.no_grad():
            mod.weight.copy_(weight)
            mod.bias.copy_(b)
        if layer == n_layers - 1:
            layers.append(mod)
            break
        unit = [mod]
        if blk.batch_norm:
            unit.append(nn.BatchNorm1d(w.shape[1], eps=1e-5, affine=False, track_running_stats=False, dtype=dtype))
        if blk.layer_norm:
            unit.append(nn.LayerNorm(w.shape[1], eps=1e-5, elementwise_affine=False, dtype=dtype))
        if group_start in blk.slopes:
            prelu = nn.PReLU(1, dtype=dtype)
            with torch.no_grad():
                prelu.weight.copy_(blk.slopes[group_start][layer][j - group_start].reshape(1))
            unit.append(prelu)
        elif f.gate is not None:
            unit.append(_Gated(f.gate, 1 if is_conv else -1))
        elif not f.elementwise:
            unit.append(_Maxout(blk.pieces, 1 if is_conv else -1))
        else:
            unit.append(_Elementwise(m.activation))
        if blk.residual and w.shape[0] * blk.pieces == w.shape[1]:
            layers.append(_Residual(*unit))
        else:
            layers.extend(unit)
    return nn.Sequential(*layers)


def member_losses(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """(E,) mean loss of each member. y: (B, ...) shared or (E, B, ...) per member."""
    if loss == "mse":
        return ((out - y) ** 2).mean(dim=(1, 2))
    if loss == "bce":
        y = y.expand_as(out)
        return F.binary_cross_entropy_with_logits(out, y, reduction="none").mean(dim=(1, 2))
    if loss == "xent":
        E, B, C = out.shape
        target = y.expand(E, B) if y.dim() == 1 else y
        if out.transpose(1, 2).is_contiguous():
            # (E, classes, B) in memory, as the conv read-out writes it: the softmax over a middle axis is
            # vectorised along B, several times faster than torch's over a last axis of ten classes
            return F.cross_entropy(out.transpose(1, 2), target, reduction="none").mean(1)
        return F.cross_entropy(out.reshape(E * B, C), target.reshape(E * B), reduction="none").view(E, B).mean(1)
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


class Optimizer:
    """SGD (optionally with momentum) or Adam, elementwise, with one learning rate per member."""

    def __init__(self, ens: Ensemble, kind: str = "adam", momentum: float = 0.0,
                 betas=(0.9, 0.999), eps: float = 1e-8):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {kind!r}")
        self.kind, self.momentum, self.betas, self.eps = kind, momentum, betas, eps
        self.params, self.lrs = ens.parameters(), ens.lrs()
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params] if kind == "adam" else None
        self.t = 0

    @torch.no_grad()
    def step(self):
        """One update of every parameter tensor, as torch._foreach calls (each a C++ loop over the
        tensors, the same elementwise kernels in the same order as one tensor at a time): a dozen
        Python-level calls per step instead of eight per tensor."""
        self.t += 1
        b1, b2 = self.betas
        ps, gs = self.params, [p.grad for p in self.params]
        if self.kind == "sgd":
            if self.momentum:
                torch._foreach_mul_(self.m, self.momentum)
                torch._foreach_add_(self.m, gs)
                gs = self.m
            torch._foreach_sub_(ps, torch._foreach_mul(gs, self.lrs))
        else:
            torch._foreach_mul_(self.m, b1)
            torch._foreach_add_(self.m, gs, alpha=1 - b1)
            torch._foreach_mul_(self.v, b2)
            torch._foreach_addcmul_(self.v, gs, gs, value=1 - b2)
            step = torch._foreach_mul(torch._foreach_div(self.m, 1 - b1**self.t), self.lrs)  # lr * mhat
            den = torch._foreach_sqrt(torch._foreach_div(self.v, 1 - b2**self.t))
            torch._foreach_add_(den, self.eps)
            torch._foreach_div_(step, den)
            torch._foreach_sub_(ps, step)
        for p in ps:
            p.grad = None


def fit(ens: Ensemble, x: torch.Tensor, y: torch.Tensor, *, loss: str = "mse", steps: int = 1000,
        optimizer: str = "adam", momentum: float = 0.0, batch_size: int | None = None,
        y_per_member: bool = False, seed: int = 0, log_every: int = 0, callback=None,
        grad_callback=None) -> np.ndarray:
    """Train every member; returns the per-member training loss, shape (logged steps, E).

    Full-batch when ``batch_size`` is None; otherwise minibatches in an order drawn from ``seed``
    and the member's own seed, so that a seed fixes a run's minibatch order as well as its initial
    weights, and members of one seed (the functions and rates a sweep compares) share an order. A
    member whose loss turns NaN or inf keeps training as NaN without touching the others (its
    parameters are its own). ``callback(step, ens)`` runs after each logged step;
    ``grad_callback(step, ens)`` after every backward pass, before the update (the gradients are in
    ``p.grad``). ``y_per_member``: y has a leading member axis.
    """
    opt = Optimizer(ens, optimizer, momentum=momentum)
    n = x.shape[-2]  # examples (x may carry a leading member axis)
    seeds = sorted({m.seed for m in ens.members})
    gens = [torch.Generator().manual_seed(seed * 1_000_003 + s) for s in seeds]
    # one order per distinct seed; with one seed, x stays shared by every member (the fast path)
    row = torch.tensor([seeds.index(m.seed) for m in ens.members])[:, None]
    members = torch.arange(len(ens.members))[:, None]
    history = []
    perm, pos = None, n
    for step in range(1, steps + 1):
        if batch_size is None or batch_size >= n:
            xb, yb = x, y
        else:
            if pos + batch_size > n:
                perm, pos = torch.stack([torch.randperm(n, generator=g) for g in gens]), 0
            sel = perm[:, pos:pos + batch_size]
            pos += batch_size
            if len(seeds) == 1:
                sel = sel[0]
                xb = x[sel] if x.dim() == 2 else x[:, sel]
                yb = y[:, sel] if y_per_member else y[sel]
            else:
                sel = sel[row[:, 0]]  # (E, batch): each member's own order
                xb = x[sel] if x.dim() == 2 else x[members, sel]
                yb = y[members, sel] if y_per_member else y[sel]
        losses = member_losses(ens(xb), yb, loss)
        losses.sum().backward()
        if grad_callback is not None:
            grad_callback(step, ens)
        opt.step()
        if log_every and (step % log_every == 0 or step == steps):
            history.append(losses.detach().numpy().copy())
            if callback is not None:
                callback(step, ens)
    return np.array(history)
