"""Many small MLPs trained as one batched model.

A sweep (widths x activations x seeds x learning rates x initialisations) becomes one
:class:`Ensemble`. Members with the same layer widths share a *block*: their weights are
stacked into ``(members, fan_in, fan_out)`` tensors and evaluated with one batched matmul
per layer, so a block of a thousand networks costs a handful of tensor operations per
step instead of a thousand Python-level forward passes. Members of different widths sit
in different blocks of the same model (no padding, so nothing is wasted on masked units).

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


@dataclass(frozen=True)
class Member:
    """One network of the sweep: hidden widths, activation, seed, learning rate, initialisation."""
    activation: str
    widths: tuple[int, ...]
    seed: int = 0
    lr: float = 1e-2
    init: str = "default"
    tag: dict = field(default_factory=dict, compare=False, hash=False)  # free labels for the caller

    def __post_init__(self):
        functions.get(self.activation)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"hidden widths must be positive integers; got {self.widths}")


def init_layer(g: torch.Generator, scheme: str, fan_in: int, fan_out: int, dtype) -> tuple:
    """One layer's (weight (fan_in, fan_out), bias (fan_out,)) under an initialisation scheme.

    default:  PyTorch's nn.Linear, W and b ~ U(+-1/sqrt(fan_in)).
    standard: Glorot & Bengio's "standard" heuristic, W ~ U(+-1/sqrt(fan_in)), b = 0.
    xavier:   Glorot & Bengio's normalised init, W ~ U(+-sqrt(6/(fan_in+fan_out))), b = 0.
    kaiming:  He et al., W ~ N(0, 2/fan_in), b = 0.
    lecun:    W ~ N(0, 1/fan_in), b = 0 (what SELU assumes).
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
        return u(fan_in, fan_out) * math.sqrt(6 / (fan_in + fan_out)), zeros
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


class Block:
    """Members with identical widths: weights stacked along a leading member axis."""

    def __init__(self, members: list[Member], idx: list[int], n_in: int, n_out: int,
                 batch_norm: bool, dtype):
        self.members, self.idx = members, idx
        self.dims = [n_in, *members[0].widths, n_out]
        self.batch_norm = batch_norm
        self.weights, self.biases = [], []
        # Layers (maxout, the gated units) get blocks of their own, by their pieces per unit: each
        # hidden layer's weights are (fan_in, pieces * width), and the activation reduces them
        # (maxout's max over k pieces; a gated unit's a * g(b) over the value half a and the gate half b).
        self.pieces = functions.get(members[0].activation).pieces
        outs = [self.pieces * d for d in self.dims[1:-1]] + [n_out]
        per_member = []
        for m in members:
            g = torch.Generator().manual_seed(m.seed)
            per_member.append([init_layer(g, m.init, a, b, dtype) for a, b in zip(self.dims[:-1], outs, strict=True)])
        for layer in range(len(self.dims) - 1):
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
                           for _ in range(len(self.dims) - 2)]
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
            return torch.where(part > 0, part, self.slopes[a][layer] * part)
        return f(part)

    def activate(self, z: torch.Tensor, layer: int = 0) -> torch.Tensor:
        if len(self.groups) == 1:
            f, a, _ = self.groups[0]
            return self._act(f, a, z, layer)
        # split, not slicing: a slice's backward fills a zero tensor the size of z per group
        parts = z.split([b - a for _, a, b in self.groups], 0)
        return torch.cat([self._act(f, a, part, layer) for (f, a, _), part in zip(self.groups, parts, strict=True)], 0)

    def forward(self, x: torch.Tensor, keep: bool = False):
        """x: (B, n_in) shared by all members, or (E, B, n_in). Returns (E, B, n_out) [, pre, post]."""
        h = x.expand(len(self.members), *x.shape[-2:]) if x.dim() == 2 else x
        pre, post = [], []
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = affine(h, w, b)
            if layer == last:
                return (z, pre, post) if keep else z
            if self.batch_norm:  # training-mode statistics over the batch, no affine part
                z = (z - z.mean(1, keepdim=True)) / torch.sqrt(z.var(1, unbiased=False, keepdim=True) + 1e-5)
            h = self.activate(z, layer)
            if keep:
                pre.append(z)
                post.append(h)


class Ensemble:
    """A sweep of MLPs as one model. Results come back in the order ``members`` was given."""

    def __init__(self, members: list[Member], n_in: int, n_out: int, *, batch_norm: bool = False,
                 dtype=torch.float64):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.n_in, self.n_out, self.dtype = n_in, n_out, dtype
        act_rank = {n: i for i, n in enumerate(functions.names())}
        shape = lambda i: (members[i].widths, functions.get(members[i].activation).pieces)
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

    def __len__(self):
        return len(self.members)

    def parameters(self) -> list[torch.Tensor]:
        return [p for blk in self.blocks for p in blk.parameters()]

    def lrs(self) -> list[torch.Tensor]:
        return [lr for blk in self.blocks for lr in blk.param_lrs()]

    def parameter_counts(self) -> np.ndarray:
        """Trainable parameters of each member (weights, biases, learned slopes), member order."""
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
        out = np.full((len(self), max(len(b.dims) - 2 for b in self.blocks)), np.nan)
        for blk in self.blocks:
            for _f, a, b in blk.groups:
                if a in blk.slopes:
                    vals = torch.stack([s.detach()[:, 0, 0] for s in blk.slopes[a]], 1).numpy()
                    out[blk.idx[a:b], :vals.shape[1]] = vals
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, n_out): every member's output on x (B, n_in), in member order."""
        outs = [blk.forward(self._member_input(x, blk)) for blk in self.blocks]
        return torch.cat(outs, 0)[self.inverse]

    def _member_input(self, x, blk):
        return x if x.dim() == 2 else x[blk.idx]

    def single_block(self) -> Block:
        if len(self.blocks) != 1:
            raise ValueError("this needs every member to have the same widths (and pieces per unit)")
        return self.blocks[0]

    def hidden(self, x: torch.Tensor):
        """(output, pre-activations, post-activations) per hidden layer, each (E, B, width),
        in member order (a layer's pre-activations are (E, B, pieces * width)). Needs one block
        (all members the same widths and pieces per unit)."""
        blk = self.single_block()
        out, pre, post = blk.forward(x, keep=True)
        inv = self.inverse
        return out[inv], [p[inv] for p in pre], [p[inv] for p in post]


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
        self.t += 1
        b1, b2 = self.betas
        for i, (p, lr) in enumerate(zip(self.params, self.lrs, strict=True)):
            g = p.grad
            if self.kind == "sgd":
                if self.momentum:
                    self.m[i].mul_(self.momentum).add_(g)
                    g = self.m[i]
                p.sub_(lr * g)
            else:
                self.m[i].mul_(b1).add_(g, alpha=1 - b1)
                self.v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                mhat = self.m[i] / (1 - b1**self.t)
                vhat = self.v[i] / (1 - b2**self.t)
                p.sub_(lr * mhat / (vhat.sqrt() + self.eps))
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
