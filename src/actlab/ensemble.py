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
activations of conv layers are kept batch innermost, (members, channels, length, B), and each
layer is an im2col copy plus one batched matmul (:class:`BatchedConv1d`), except the second,
which reads the first's output in phase order as plain matrices (:class:`PhaseConv1d`). Each
run of one activation goes through the conv layers on its own. On one CPU core this beats
both ``F.conv1d`` with ``groups=members`` and a Python loop of ``nn.Conv1d`` networks
(``benchmarks/ensemble_vs_loop.py --sweep conv`` measures the latter).

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
    tag: dict = field(default_factory=dict, compare=False, hash=False)  # free labels for the caller
    conv: tuple[int, ...] = ()
    kernels: tuple[int, ...] = ()
    stride: int = CONV_STRIDE
    padding: int = CONV_PADDING

    def __post_init__(self):
        functions.get(self.activation)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
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
            lo = max(0, -(t0 // dt))
            hi = max(lo, min(n, (L - 1 - t0) // dt + 1))
            yield j, o, n, lo, hi, t0 + dt * lo, dt
        o += n


def _phases(L: int, s: int) -> list[tuple[int, int, int]]:
    """Positions 0..L-1 phase by phase for a layer of stride s: r, r + s, ... for r < s."""
    return [(r, s, len(range(r, L, s))) for r in range(s)]


class BatchedConv1d(torch.autograd.Function):
    """Every member's 1-D convolution at once, batch innermost: h (E, C_in, L, B),
    w (E, k*C_in, C_out) (row j*C_in + c holds torch's weight[:, c, j]), b (E, 1, C_out)
    -> (E, C_out, L_out, B), its positions in order, or with ``phases`` = s > 1 phase by phase
    (0, s, 2s, ..., then 1, s + 1, ...) for a next layer of stride s (:class:`PhaseConv1d`).

    With the batch innermost, (length, batch) is one matmul dimension of L_out*B columns: the
    im2col columns (E, k*C_in, L_out*B) are one strided copy per tap straight from h (zeros
    where a window reaches into the padding, so no padded copy of h), each a run of B values,
    and w^T @ columns is one batched matmul whose output is already the next layer's layout.
    Backward by hand, because autograd's backward of ``unfold`` (a zero fill and a scatter)
    costs more than the matmuls: the columns' gradient, w @ grad, goes back into the k strided
    slices it came from, copied where no earlier tap wrote and added where one did.
    First derivatives only (no double backward)."""

    @staticmethod
    def forward(ctx, h, w, b, kernel: int, stride: int, padding: int, phases: int = 1):
        E, C, L, B = h.shape
        L_out = (L + 2 * padding - kernel) // stride + 1
        runs = _phases(L_out, phases)
        cols = _buffer(h, E, kernel, C, L_out, B)
        for j, o, n, lo, hi, t, dt in _taps(L, runs, kernel, stride, padding):
            if lo:
                cols[:, j, :, o:o + lo] = 0
            if hi < n:
                cols[:, j, :, o + hi:o + n] = 0
            cols[:, j, :, o + lo:o + hi] = h[:, :, t:t + dt * (hi - lo - 1) + 1:dt]
        cols = cols.view(E, kernel * C, L_out * B)
        ctx.save_for_backward(cols, w)
        ctx.geometry = (kernel, stride, padding, L, runs)
        out = _buffer(h, E, w.shape[2], L_out, B)  # not a view of the product: activations may act in place
        torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), cols, out=out.view(E, -1, L_out * B))
        return out

    @staticmethod
    def backward(ctx, grad):
        cols, w = ctx.saved_tensors
        kernel, stride, padding, L, runs = ctx.geometry
        E, C_out, L_out, B = grad.shape
        grad = grad.reshape(E, C_out, L_out * B)
        gw = torch.bmm(cols, grad.transpose(1, 2)) if ctx.needs_input_grad[1] else None
        gb = grad.sum(2).unsqueeze(1) if ctx.needs_input_grad[2] else None
        gh = None
        if ctx.needs_input_grad[0]:
            C = w.shape[1] // kernel
            gcols = torch.bmm(w, grad).view(E, kernel, C, L_out, B)
            gh = _buffer(grad, E, C, L, B)
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
        return gh, gw, gb, None, None, None, None


class PhaseConv1d(torch.autograd.Function):
    """:class:`BatchedConv1d` for an input whose positions come phase by phase for this layer's
    stride s (``BatchedConv1d(..., phases=s)`` writes them so): each tap then reads one contiguous
    block of (position, batch) columns, a plain matrix, so the layer is k accumulating matmuls of
    w's tap rows, with no im2col copy forward and no column gradient to scatter back.
    Output positions in order."""

    @staticmethod
    def forward(ctx, h, w, b, kernel: int, stride: int, padding: int):
        E, C, L, B = h.shape
        L_out = (L + 2 * padding - kernel) // stride + 1
        h = h.contiguous().view(E, C, L * B)
        taps = PhaseConv1d._blocks(L, L_out, kernel, stride, padding, B)
        out = _buffer(h, E, w.shape[2], L_out, B)
        flat = out.view(E, w.shape[2], L_out * B)
        flat.copy_(b.transpose(1, 2).expand_as(flat))
        for j, (o0, o1), (i0, i1) in taps:
            flat[:, :, o0:o1].baddbmm_(w[:, j * C:(j + 1) * C].transpose(1, 2), h[:, :, i0:i1])
        ctx.save_for_backward(h, w)
        ctx.geometry = (taps, L)
        return out

    @staticmethod
    def _blocks(L, L_out, kernel, stride, padding, B):
        """Per tap: the output columns it feeds and the input columns (one phase's block) it reads."""
        start = [0]
        for _r, _s, n in _phases(L, stride):
            start.append(start[-1] + n)
        out = []
        for j, _o, _n, lo, hi, t, _dt in _taps(L, [(0, 1, L_out)], kernel, stride, padding):
            if hi > lo:
                m = start[t % stride] + t // stride
                out.append((j, (lo * B, hi * B), (m * B, (m + hi - lo) * B)))
        return out

    @staticmethod
    def backward(ctx, grad):
        h, w = ctx.saved_tensors
        taps, L = ctx.geometry
        E, C_out = grad.shape[:2]
        C = h.shape[1]
        grad = grad.flatten(2)
        gw = gh = None
        if ctx.needs_input_grad[1]:
            gw = w.new_zeros(E, w.shape[1] // C, C, C_out)
            for j, (o0, o1), (i0, i1) in taps:
                torch.bmm(h[:, :, i0:i1], grad[:, :, o0:o1].transpose(1, 2), out=gw[:, j])
            gw = gw.view_as(w)
        gb = grad.sum(2).unsqueeze(1) if ctx.needs_input_grad[2] else None
        if ctx.needs_input_grad[0]:
            gh, B = _buffer(h, *h.shape), h.shape[2] // L
            written = [False] * L  # per position, in the input's (phase) order
            for j, (o0, o1), (i0, i1) in taps:  # the first tap to reach a position writes it, later ones add
                seen = written[i0 // B:i1 // B]
                if not any(seen):
                    torch.bmm(w[:, j * C:(j + 1) * C], grad[:, :, o0:o1], out=gh[:, :, i0:i1])
                else:
                    for m, done in enumerate(seen, start=i0 // B):
                        if not done:
                            gh[:, :, m * B:(m + 1) * B] = 0
                    gh[:, :, i0:i1].baddbmm_(w[:, j * C:(j + 1) * C], grad[:, :, o0:o1])
                written[i0 // B:i1 // B] = [True] * len(seen)
            for m, done in enumerate(written):  # positions no window reads (stride > kernel)
                if not done:
                    gh[:, :, m * B:(m + 1) * B] = 0
            gh = gh.view(E, C, L, B)
        return gh, gw, gb, None, None, None


def conv_shared(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, kernel: int, stride: int,
                padding: int, phases: int = 1) -> torch.Tensor:
    """A first conv layer whose input x (B, L) every member shares, as an expanded view (E, 1, L, B):
    im2col copies its k columns per member, a fifth of the layer's output at k = 5 and one
    channel. w (E, k, C), b (E, 1, C) -> (E, C, L_out, B); ``phases`` as in :class:`BatchedConv1d`."""
    return BatchedConv1d.apply(x.T.expand(w.shape[0], 1, *x.T.shape), w, b, kernel, stride, padding, phases)


class _GELU(torch.autograd.Function):
    """functions' GELU, x Phi(x) with Phi from erfc (the same values), with its derivative
    Phi(x) + x phi(x) by hand. Autograd through that composite keeps about eight intermediates
    and makes some twenty passes over them, which on conv layers' activations costs more than
    the layer's matmuls; this makes five passes forward and five backward."""

    @staticmethod
    def forward(ctx, x):
        p = torch.mul(x, -_SQRT_HALF).erfc_().mul_(0.5)  # Phi(x), as functions._ndtr forms it
        y = x * p
        if not torch.isfinite(x.sum()):  # x may hold +-inf: the registered function's limits
            y = functions.get("gelu")(x)
        ctx.save_for_backward(x, p)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, p = ctx.saved_tensors
        phi = torch.mul(x, x).mul_(-0.5).exp_()  # sqrt(2 pi) phi(x)
        return torch.addcmul(p, phi, x, value=_INV_SQRT_2PI).mul_(grad)


# On conv layers, whose activations are the largest tensors of a step: activations whose autograd
# graph is much slower than a hand-fused forward and backward, and the registered functions' in-place
# forms (the same kernels; their backward reads the output, so the pre-activation need not be kept).
FUSED = {"gelu": _GELU.apply}
IN_PLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}


class Block:
    """Members with identical layer sizes: weights stacked along a leading member axis.

    ``weights``/``biases`` list the conv layers first (weights (E, k*C_in, C_out), see
    :class:`BatchedConv1d`), then the dense ones ((E, fan_in, fan_out), biases (E, 1, fan_out)).
    ``dims`` are the dense part's sizes: its first entry is n_in, or for conv members the
    flattened conv output (channels x length)."""

    def __init__(self, members: list[Member], idx: list[int], n_in: int, n_out: int,
                 batch_norm: bool, dtype):
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
        self.batch_norm = batch_norm
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
            per_member.append([init_layer(g, m.init, a, b, dtype, kernel=k) for a, b, k in shapes])
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
            h = self.activate(z, layer)
            if keep:
                pre.append(z)
                post.append(h)

    def _conv_forward(self, x: torch.Tensor, keep: bool, pre: list, post: list) -> torch.Tensor:
        """The conv layers, (E, channels, length, B) inside (see :class:`BatchedConv1d`); returns
        the flattened features (E, channels * length, B), channel by channel as torch's Flatten
        of a (B, channels, length) output.

        Each run of one activation goes through the conv layers on its own: its slice of the
        weights is a view, and the activation's output feeds the next matmul directly, where one
        tensor for the whole block would cost a concatenation forward and another backward, per
        layer, of the largest tensors of the step."""
        nc, sizes = len(self.conv), [b - a for _f, a, b in self.groups]
        ws = [w.split(sizes) for w in self.weights[:nc]]
        bs = [b.split(sizes) for b in self.biases[:nc]]
        xs = x.transpose(1, 2)[:, None].split(sizes) if x.dim() == 3 else [x] * len(sizes)
        outs, zs, hs = [], [], []
        phased = nc > 1 and self.stride > 1
        for g, (f, a, _b) in enumerate(self.groups):
            fast = None if a in self.slopes else FUSED.get(f.name) or (None if keep else IN_PLACE.get(f.name))
            h = xs[g]
            for layer, k in enumerate(self.kernels):
                geometry = (k, self.stride, self.padding)
                if layer == 0:  # positions phase by phase for a second layer of stride > 1 (see PhaseConv1d)
                    conv = conv_shared if h.dim() == 2 else BatchedConv1d.apply
                    z = conv(h, ws[0][g], bs[0][g], *geometry, self.stride if phased else 1)
                elif layer == 1 and phased:
                    z = PhaseConv1d.apply(h, ws[1][g], bs[1][g], *geometry)
                else:
                    z = BatchedConv1d.apply(h, ws[layer][g], bs[layer][g], *geometry)
                if self.batch_norm:  # over batch and length per channel, as BatchNorm1d in training mode
                    z = (z - z.mean((2, 3), keepdim=True)) / torch.sqrt(z.var((2, 3), unbiased=False, keepdim=True) + 1e-5)
                if fast:
                    h = fast(z)
                elif f.elementwise:
                    h = self._act(f, a, z, layer)
                else:  # maxout and gated units reduce the last axis: move channels there and back
                    h = self._act(f, a, z.movedim(1, -1), layer).movedim(-1, 1)
                if keep:
                    zs.append(z)
                    hs.append(h)
            outs.append(h)
        if keep:  # per layer, the groups' tensors in member order and positions in order, (E, B, channels, length)
            order = torch.tensor([i for r, s, n in _phases(self.lengths[1], self.stride if phased else 1)
                                  for i in range(r, r + s * n, s)]).argsort()
            for out, got in ((pre, zs), (post, hs)):
                out += [torch.cat(got[layer::nc], 0)[:, :, order if layer == 0 else slice(None)].permute(0, 3, 1, 2)
                        for layer in range(nc)]
        h = torch.cat(outs, 0) if len(outs) > 1 else outs[0]
        return h.reshape(h.shape[0], -1, h.shape[-1])


class Ensemble:
    """A sweep of MLPs (and CNNs) as one model. Results come back in the order ``members`` was given.

    ``n_in``: input features, or the signal length for members with conv layers (x is (B, n_in)
    either way, so MLPs and CNNs can share one ensemble and one input)."""

    def __init__(self, members: list[Member], n_in: int, n_out: int, *, batch_norm: bool = False,
                 dtype=torch.float64):
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
                self.blocks.append(Block([members[j] for j in ids], ids, n_in, n_out, batch_norm, dtype))
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
        layers.append(mod)
        if layer == n_layers - 1:
            break
        if blk.batch_norm:
            layers.append(nn.BatchNorm1d(w.shape[1], eps=1e-5, affine=False, track_running_stats=False, dtype=dtype))
        if group_start in blk.slopes:
            prelu = nn.PReLU(1, dtype=dtype)
            with torch.no_grad():
                prelu.weight.copy_(blk.slopes[group_start][layer][j - group_start].reshape(1))
            layers.append(prelu)
        elif f.gate is not None:
            layers.append(_Gated(f.gate, 1 if is_conv else -1))
        elif not f.elementwise:
            layers.append(_Maxout(blk.pieces, 1 if is_conv else -1))
        else:
            layers.append(_Elementwise(m.activation))
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

    Full-batch when ``batch_size`` is None; otherwise minibatches in one seeded order that
    all members share. A member whose loss turns NaN or inf keeps training as NaN without
    touching the others (its parameters are its own). ``callback(step, ens)`` runs after
    each logged step; ``grad_callback(step, ens)`` after every backward pass, before the
    update (the gradients are in ``p.grad``). ``y_per_member``: y has a leading member axis.
    """
    opt = Optimizer(ens, optimizer, momentum=momentum)
    g = torch.Generator().manual_seed(seed)
    n = x.shape[-2]  # examples (x may carry a leading member axis)
    history = []
    perm, pos = None, n
    for step in range(1, steps + 1):
        if batch_size is None or batch_size >= n:
            xb, yb = x, y
        else:
            if pos + batch_size > n:
                perm, pos = torch.randperm(n, generator=g), 0
            sel = perm[pos:pos + batch_size]
            pos += batch_size
            xb = x[sel] if x.dim() == 2 else x[:, sel]
            yb = y[:, sel] if y_per_member else y[sel]
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
