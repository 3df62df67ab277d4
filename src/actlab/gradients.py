"""Gradient flow through depth: per-layer gradient norms, Jacobian spectra, saturation in training."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import functions
from actlab.ensemble import Ensemble, Member, fit, init_layer, member_losses

# The first hidden layer "vanishes" when its weight gradient is below this fraction of the
# last hidden layer's: it then learns at least a hundred times more slowly.
VANISH_RATIO = 1e-2


def weight_gradient_norms(ens: Ensemble, X: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    """Frobenius norm of d(loss)/d(W_l) for every weight matrix of every member, at the
    current weights, on the batch (X, y) under cross-entropy. Returns one array per member,
    in member order (layers input to output)."""
    for p in ens.parameters():
        p.grad = None
    member_losses(ens(X), y, "xent").sum().backward()
    out = [None] * len(ens)
    for blk in ens.blocks:
        norms = torch.stack([w.grad.flatten(1).norm(dim=1) for w in blk.weights], 1)  # (E_b, layers)
        for k, i in enumerate(blk.idx):
            out[i] = norms[k].numpy().copy()
    for p in ens.parameters():
        p.grad = None
    return out


@dataclass
class NormSweep:
    activations: list[str]
    inits: list[str]
    depths: list[int]
    seeds: int
    norms: dict  # (act, init, depth) -> (seeds, depth + 1) array of per-layer gradient norms

    def ratio(self, act: str, init: str, depth: int) -> np.ndarray:
        """First hidden layer's weight gradient over the last hidden layer's, per seed."""
        n = self.norms[act, init, depth]
        return n[:, 0] / n[:, depth - 1]


def norm_sweep(activations, inits, depths, seeds: int, X, y, width: int = 64,
               batch_norm: bool = False) -> NormSweep:
    """Gradient norms at initialisation for every activation x init x depth x seed: one ensemble."""
    members = [Member(a, (width,) * d, seed=s, init=i)
               for a in activations for i in inits for d in depths for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, batch_norm=batch_norm, dtype=X.dtype)
    per_member = weight_gradient_norms(ens, X, y)
    norms, k = {}, 0
    for a in activations:
        for i in inits:
            for d in depths:
                norms[a, i, d] = np.stack(per_member[k:k + seeds])
                k += seeds
    return NormSweep(list(activations), list(inits), list(depths), seeds, norms)


def vanishing_depth(sweep: NormSweep, act: str, init: str, threshold: float = VANISH_RATIO) -> int:
    """Smallest depth whose median first/last gradient ratio is below ``threshold`` (0 if none)."""
    for d in sweep.depths:
        if d > 1 and np.median(sweep.ratio(act, init, d)) < threshold:
            return d
    return 0


def jacobian_singular_values(act: str, init: str, width: int, depth: int, n_inputs: int,
                             seed: int = 0) -> np.ndarray:
    """Singular values of every layer-to-layer Jacobian dh_l/dh_{l-1} = W_l^T diag(f'(z_l)) of a
    freshly initialised network, at ``n_inputs`` standard-normal inputs (Glorot & Bengio §4.2.2)."""
    f = functions.get(act)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n_inputs, width, generator=g, dtype=torch.float64)
    svs = []
    for _ in range(depth):
        w, b = init_layer(g, init, width, width, torch.float64)
        z = h @ w + b
        jac = w.T[None] * f.derivative(z)[:, :, None]  # (inputs, out, in)
        svs.append(torch.linalg.svdvals(jac).flatten())
        h = f(z)
    return torch.cat(svs).numpy()


def train_tracking_activations(act: str, init: str, widths, seeds: int, X, y, *, lr: float,
                               steps: int, batch_size: int, every: int, probe: int = 300):
    """Train (SGD) and record each hidden layer's mean activation on a fixed probe batch.

    Returns (steps logged, mean activation (logs, seeds, layers), training loss (logs, seeds)).
    """
    ens = Ensemble([Member(act, tuple(widths), seed=s, lr=lr, init=init) for s in range(seeds)],
                   X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    xp = X[:probe]
    logged, means = [], []

    def probe_means(step, e):
        with torch.no_grad():
            _, _, post = e.hidden(xp)
        logged.append(step)
        means.append(torch.stack([p.mean(dim=(1, 2)) for p in post], 1).numpy())

    probe_means(0, ens)
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", batch_size=batch_size,
               log_every=every, callback=probe_means)
    return np.array(logged), np.array(means), hist


def output_scale(act: str, inits, depth: int, width: int, seeds: int, X) -> dict:
    """Std of the last hidden layer's activations at initialisation, per init: (seeds,) each."""
    out = {}
    for init in inits:
        ens = Ensemble([Member(act, (width,) * depth, seed=s, init=init) for s in range(seeds)],
                       X.shape[1], 10, dtype=X.dtype)
        with torch.no_grad():
            _, _, post = ens.hidden(X)
        out[init] = post[-1].std(dim=(1, 2)).numpy()
    return out


def train_curves(act: str, inits, lrs, depth: int, width: int, seeds: int, X, y, *,
                 steps: int, batch_size: int, every: int) -> tuple[list[Member], np.ndarray]:
    """Training loss over steps for every init x learning rate x seed, as one ensemble."""
    members = [Member(act, (width,) * depth, seed=s, lr=lr, init=i)
               for i in inits for lr in lrs for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=0.9,
               batch_size=batch_size, log_every=every)
    return members, hist


def pretrain_layerwise(members: list[Member], X: torch.Tensor, *, steps: int, lr: float,
                       batch_size: int = 128) -> Ensemble:
    """Greedy layer-wise pre-training (after Hinton et al. 2006, with autoencoders in place of
    RBMs): layer l is the encoder of a one-hidden-layer autoencoder trained to reconstruct
    layer l-1's activations; then the next layer is trained on its codes. Returns the deep
    ensemble with its hidden layers set to the encoders (the output layer stays random)."""
    deep = Ensemble(members, X.shape[1], 10, dtype=X.dtype)
    blk = deep.single_block()
    h = X.expand(len(members), *X.shape)
    for layer in range(len(blk.weights) - 1):
        n_in, n_out = blk.dims[layer], blk.dims[layer + 1]
        ae = Ensemble([Member(m.activation, (n_out,), seed=1000 + m.seed, lr=lr, init=m.init)
                       for m in blk.members], n_in, n_in, dtype=X.dtype)
        fit(ae, h, h.detach(), loss="mse", steps=steps, batch_size=batch_size, y_per_member=True)
        enc = ae.single_block()
        with torch.no_grad():
            blk.weights[layer].copy_(enc.weights[0])
            blk.biases[layer].copy_(enc.biases[0])
            h = blk.activate(torch.baddbmm(blk.biases[layer], h, blk.weights[layer]), layer)
    return deep
