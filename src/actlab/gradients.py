"""Gradient flow through depth: per-layer gradient norms, Jacobian spectra, saturation in training."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from actlab import functions
from actlab.ensemble import Ensemble, Member, fit, init_layer, member_losses

# The first hidden layer's gradient "vanishes" when its weight gradient is below this fraction of
# the last hidden layer's (the ratio), or when its error per unit is below this fraction of the
# output's (the reach). A threshold we chose, stated before the numbers; not a learning speed.
VANISH_RATIO = 1e-2


def layer_gradients(ens: Ensemble, X: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
    """Per member, at the current weights on the batch (X, y) under cross-entropy:
    the Frobenius norm of d(loss)/d(W_l) for every weight matrix (input to output), and the
    back-propagated error per unit, rms(delta_l) = root mean square of d loss_i / d z_l over
    examples and units, at every hidden layer's pre-activation and at the output (last entry).

    Per unit, so that layers of different widths compare: a reach rms(delta_1) / rms(delta_out)
    of 1 means the same error per unit at layer 1 as at the output. The output error is fixed
    by the loss (softmax minus one-hot) at initialisation, so the reach is an absolute measure
    of the error that reaches the first layer: a common shrink of every layer cannot hide in it,
    as it does in a first/last weight-gradient ratio."""
    for p in ens.parameters():
        p.grad = None
    total, kept = 0, []
    for blk in ens.blocks:
        out, pre, _ = blk.forward(ens._member_input(X, blk), keep=True)
        for z in pre + [out]:
            z.retain_grad()
        total = total + member_losses(out, y, "xent").sum()
        kept.append((blk, pre + [out]))
    total.backward()
    w_out, d_out = [None] * len(ens), [None] * len(ens)
    n = X.shape[-2]
    for blk, zs in kept:
        norms = torch.stack([w.grad.flatten(1).norm(dim=1) for w in blk.weights], 1)  # (E_b, layers)
        deltas = torch.stack([z.grad.flatten(1).norm(dim=1) * (n / z.shape[-1]) ** 0.5 for z in zs], 1)
        for k, i in enumerate(blk.idx):
            w_out[i] = norms[k].detach().numpy().copy()
            d_out[i] = deltas[k].detach().numpy().copy()
    for p in ens.parameters():
        p.grad = None
    return w_out, d_out


def weight_gradient_norms(ens: Ensemble, X: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    """Frobenius norm of d(loss)/d(W_l) for every weight matrix of every member (input to output)."""
    return layer_gradients(ens, X, y)[0]


@dataclass
class LayerUpdates:
    """What each weight layer (input side first, output layer last) receives, per member.

    The gradient is what back-propagation delivers; the update is what the optimiser does with
    it, ‖W_l after a step − W_l before‖. Under SGD the update is the learning rate times the
    gradient (with momentum, times a running sum of gradients); Adam divides each parameter's
    gradient by a running root mean square of its own past gradients, so its update has about the
    learning rate's size in every layer however small the gradient is. Both optimisers see the same
    gradient at the first step (same weights); they differ in the update."""
    grad_init: np.ndarray   # (members, layers): ‖∂ℒ/∂W_l‖ on the whole of X at initialisation
    grad_end: np.ndarray    # (members, layers): the same after training
    update: np.ndarray      # (steps, members, layers): ‖ΔW_l‖ of every step
    weight: np.ndarray      # (members, layers): ‖W_l‖ at initialisation
    weight_before: np.ndarray  # (steps, members, layers): ‖W_l‖ just before each step
    loss: np.ndarray        # (steps, members): each step's minibatch loss

    def first_over_last(self, what: str = "update", hidden: int | None = None, steps=slice(None)) -> np.ndarray:
        """(members,) first weight layer's value ÷ the last hidden layer's (``hidden``: the number of
        hidden layers; default all but the output layer); for updates, the mean over ``steps`` first."""
        v = self.update[steps].mean(0) if what == "update" else getattr(self, what)
        last = (hidden or v.shape[1] - 1) - 1
        return v[:, 0] / v[:, last]


def layer_updates(ens: Ensemble, X: torch.Tensor, y: torch.Tensor, *, steps: int, optimizer: str,
                  momentum: float = 0.0, batch_size: int = 64, seed: int = 0) -> LayerUpdates:
    """Train ``ens`` with ``fit`` for ``steps`` minibatch steps (cross-entropy), recording every
    weight layer's update norm at every step, and its gradient norm on all of X before and after.
    Needs every member in one block (the same widths)."""
    blk = ens.single_block()
    grad_init = np.stack(layer_gradients(ens, X, y)[0])
    weight = torch.stack([w.detach().flatten(1).norm(dim=1) for w in blk.weights], 1)[ens.inverse].numpy()
    before, updates, sizes = [], [], []

    def keep(step, e):  # after the backward pass, before the update
        before[:] = [w.detach().clone() for w in blk.weights]

    def measure(step, e):
        d = torch.stack([(w.detach() - b).flatten(1).norm(dim=1) for w, b in zip(blk.weights, before, strict=True)], 1)
        updates.append(d[ens.inverse].numpy())
        sizes.append(torch.stack([b.flatten(1).norm(dim=1) for b in before], 1)[ens.inverse].numpy())

    loss = fit(ens, X, y, loss="xent", steps=steps, optimizer=optimizer, momentum=momentum, batch_size=batch_size,
               seed=seed, log_every=1, callback=measure, grad_callback=keep)
    grad_end = np.stack(layer_gradients(ens, X, y)[0])
    return LayerUpdates(grad_init, grad_end, np.stack(updates), weight, np.stack(sizes), loss)


# svdvals of one float64 w x w matrix, measured (CPU time) at w = 128, 256 and 512: 0.36, 0.21 and
# 0.17 ns x w^3 for the layer Jacobians, 0.54, 0.31 and 0.22 for the Gaussian matrices.
SVD_S = 4e-10           # per w^3


def norm_sweep_cost(n_activations: int, n_inits: int, depths, seeds: int, n: int, width: int, *, n_in: int = 64,
                    batch_norm: bool = False, itemsize: int = 8) -> tuple[float, float]:
    """(seconds, bytes) of :func:`norm_sweep`: one ensemble of seeds per (depth, activation, init),
    each a forward and backward pass on ``n`` examples with every layer's error kept (batch
    normalisation: half as much time again, a tenth more memory; the three sweeps of the vanishing-
    gradients chapter measured 445 MB at 5 seeds with four inits to an ensemble, where this
    estimated 580 MB)."""
    from actlab import workload

    parts = [workload.gradients(workload.mlp(n_in, (width,) * d, 10), seeds, n, itemsize=itemsize) for d in depths]
    return (n_activations * n_inits * (1.5 if batch_norm else 1) * sum(s for s, _ in parts),
            (1.1 if batch_norm else 1) * max(b for _, b in parts))


def jacobian_cost(width: int, depth: int, n_inputs: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`jacobian_singular_values`: per layer ``n_inputs`` Jacobians of
    width x width, float64, and their singular values."""
    return depth * n_inputs * SVD_S * width ** 3, 8 * 4 * n_inputs * width * width


def layer_updates_cost(net, members: int, n: int, *, steps: int, optimizer: str, batch_size: int = 64,
                       itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`layer_updates` on ``n`` examples: the gradients on all of them
    before and after, and the training with a copy of every weight at every step."""
    from actlab import workload

    s, b = workload.fit(net, members, batch_size, steps, optimizer=optimizer, itemsize=itemsize)
    g_s, g_b = workload.gradients(net, members, n, itemsize=itemsize)
    return s + 2 * g_s, max(b + workload.SLACK * itemsize * members * net.params, g_b)


@dataclass
class NormSweep:
    activations: list[str]
    inits: list[str]
    depths: list[int]
    seeds: int
    norms: dict  # (act, init, depth) -> (seeds, depth + 1) array of per-layer weight-gradient norms
    deltas: dict = None  # (act, init, depth) -> (seeds, depth + 1): rms(delta_l) per hidden layer, then output

    def ratio(self, act: str, init: str, depth: int) -> np.ndarray:
        """First hidden layer's weight gradient over the last hidden layer's, per seed."""
        n = self.norms[act, init, depth]
        return n[:, 0] / n[:, depth - 1]

    def reach(self, act: str, init: str, depth: int) -> np.ndarray:
        """The error per unit at the first hidden layer over the output's, rms(delta_1) / rms(delta_out),
        per seed (1: the same error per unit): blind to nothing a ratio between two hidden layers could hide."""
        d = self.deltas[act, init, depth]
        return d[:, 0] / d[:, -1]

    def first(self, act: str, init: str, depth: int) -> np.ndarray:
        """The first layer's weight-gradient norm itself, per seed."""
        return self.norms[act, init, depth][:, 0]


def norm_sweep(activations, inits, depths, seeds: int, X, y, width: int = 64,
               batch_norm: bool = False) -> NormSweep:
    """Gradient norms at initialisation for every activation x init x depth x seed.

    One batched ensemble per (depth, activation, init), each over the seeds, rather than one for
    everything: the numbers are the same (each member is its own network), and the peak memory
    is one block's autograd graph (with every layer's error retained) instead of all blocks' at
    once (3.2 GB for the whole sweep with batch norm at 5 seeds; a block of ten seeds holds half
    what a block of four inits × five seeds did)."""
    norms, deltas = {}, {}
    for d in depths:
        for a in activations:
            for i in inits:
                members = [Member(a, (width,) * d, seed=s, init=i) for s in range(seeds)]
                ens = Ensemble(members, X.shape[1], int(y.max()) + 1, batch_norm=batch_norm, dtype=X.dtype)
                per_member, per_delta = layer_gradients(ens, X, y)
                norms[a, i, d], deltas[a, i, d] = np.stack(per_member), np.stack(per_delta)
                del ens
    return NormSweep(list(activations), list(inits), list(depths), seeds, norms, deltas)


def vanishing_depth(sweep: NormSweep, act: str, init: str, threshold: float = VANISH_RATIO,
                    measure: str = "ratio") -> int:
    """Smallest depth whose median ``measure`` ("ratio": first/last weight gradient; "reach":
    error per unit at layer 1 over the output's) is below ``threshold`` (0 if none)."""
    f = {"ratio": sweep.ratio, "reach": sweep.reach}[measure]
    for d in sweep.depths:
        if d > 1 and np.median(f(act, init, d)) < threshold:
            return d
    return 0


def heatmaps(sweep: NormSweep):
    """Depth x activation maps, one row per init: log10 of the first/last weight-gradient ratio
    (left) and of the reach, error per unit at layer 1 over the output's (right). The left
    column cannot see a shrink common to every layer; the right column can."""
    from actlab.plotting import figure, finish, label

    cols = [("ratio", "log₁₀ ratio\n(first ÷ last ‖∂ℒ/∂W‖)", sweep.ratio),
            ("reach", "log₁₀ reach\n(rms δ⁽¹⁾ ÷ rms δ_out)", sweep.reach)]
    n_i, n_a = len(sweep.inits), len(sweep.activations)
    fig, axes = figure(n_i, 2, width=7.0, height=n_i * (0.42 * n_a + 0.75) + 0.9, sharex=True, sharey=True)
    for c, (short, what, f) in enumerate(cols):
        for r, init in enumerate(sweep.inits):
            ax = axes[r, c]
            grid = np.array([[np.log10(np.median(f(a, init, d))) for d in sweep.depths] for a in sweep.activations])
            im = ax.imshow(grid, cmap="RdBu", vmin=-12, vmax=12, aspect="auto")
            for (i, j), v in np.ndenumerate(grid):
                ax.text(j, i, str(int(round(v))).replace("-", "−"), ha="center", va="center", fontsize=9,
                        color="white" if abs(v) > 7 else "black")
            ax.set_xticks(range(len(sweep.depths)), [str(d) for d in sweep.depths])
            ax.set_yticks(range(n_a), [label(a) for a in sweep.activations])
            ax.set_title(f"{short}, init: {init}", fontsize=9, loc="left")  # on a phone the columns are stacked
            ax.grid(False)
        axes[-1, c].set_xlabel("hidden layers")
        fig.colorbar(im, ax=axes[:, c].tolist(), label=what, location="bottom", shrink=0.9, aspect=30)
    return finish(fig, narrow_order="columns")  # on a phone, each measure's panels above its colour bar


# --- what an initialisation can do for the sigmoid --------------------------------------------

def sigmoid_as_tanh_(ens: Ensemble, shift: bool = True) -> Ensemble:
    """Rewrite, in place, every (sigmoid) member's weights so that it computes exactly the tanh
    network with the weights it was initialised with. Since sigma(x) = (tanh(x/2) + 1) / 2, a
    sigmoid layer s = (h + 1) / 2 of a tanh layer h needs weights x4 (x2 on the input) and biases
    shifted by the weights' column sums: W' = 4W, b' = 2b - 2 * 1'W; on the output W' = 2W,
    b' = b - 1'W. With ``shift=False`` only the weights are scaled (biases x2 on the hidden layers,
    unchanged on the output), which is not a tanh network: it tests the scale without the shift.
    Returns ens."""
    with torch.no_grad():
        for blk in ens.blocks:
            last = len(blk.weights) - 1
            for layer, (w, b) in enumerate(zip(blk.weights, blk.biases, strict=True)):
                col = w.sum(1, keepdim=True)  # (E, 1, out): 1'W
                if layer == 0:
                    w.mul_(2), b.mul_(2)
                elif layer == last:
                    if shift:
                        b.sub_(col)
                    w.mul_(2)
                else:
                    b.mul_(2)
                    if shift:
                        b.sub_(2 * col)
                    w.mul_(4)
    return ens


def orthogonal_(ens: Ensemble, gain: float = 1.0, seed: int = 0) -> Ensemble:
    """Replace every weight matrix with a (semi-)orthogonal one times ``gain`` (all singular
    values equal to ``gain``), seeded per member; biases to zero. After Saxe et al. and
    Pennington, Schoenholz & Ganguli (2017)."""
    with torch.no_grad():
        for blk in ens.blocks:
            for k, m in enumerate(blk.members):
                g = torch.Generator().manual_seed(10_000 + 97 * seed + m.seed)
                for w, b in zip(blk.weights, blk.biases, strict=True):
                    a, c = w.shape[1:]
                    q, r = torch.linalg.qr(torch.randn(max(a, c), min(a, c), generator=g, dtype=w.dtype))
                    q = q * torch.sign(torch.diagonal(r))  # a uniformly distributed orthogonal matrix
                    w[k] = gain * (q if a >= c else q.T)
                    b[k].zero_()
    return ens


def sigmoid_rescue(variants: dict, depth: int, width: int, seeds: int, X, y) -> dict:
    """Weight-gradient norms and back-propagated errors at initialisation for sigmoid networks
    under each named variant: {name: (init, orthogonal, x4, shift)} (x4: weights scaled as by
    ``sigmoid_as_tanh_``; shift: biases shifted too, which makes it a tanh network). Returns
    {name: NormSweep} with one (activation, init, depth) entry."""
    out = {}
    for name, (init, ortho, as_tanh, shift) in variants.items():
        ens = Ensemble([Member("sigmoid", (width,) * depth, seed=s, init=init) for s in range(seeds)],
                       X.shape[1], int(y.max()) + 1, dtype=X.dtype)
        if ortho:
            orthogonal_(ens)
        if as_tanh:
            sigmoid_as_tanh_(ens, shift=shift)
        w, d = layer_gradients(ens, X, y)
        out[name] = NormSweep(["sigmoid"], [init], [depth], seeds,
                              {("sigmoid", init, depth): np.stack(w)}, {("sigmoid", init, depth): np.stack(d)})
    return out


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


def gaussian_singular_values(width: int, n: int = 20, seed: int = 0) -> np.ndarray:
    """Singular values of ``n`` square Gaussian matrices with variance 1/width: they preserve a
    vector's squared norm on average (mean squared singular value 1) although their mean
    singular value is about 8/(3 pi) = 0.85 (the quarter-circle law)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, width, width, generator=g, dtype=torch.float64) / width ** 0.5
    return torch.linalg.svdvals(w).flatten().numpy()


def heldout_loss(ens: Ensemble, X, y) -> tuple[np.ndarray, np.ndarray]:
    """(E,) cross-entropy of every member on the two halves of a held-out split (X, y): the
    first half (validation, where learning rates are chosen) and the second (test, what is
    reported), so that a chosen rate's loss is not read off the data that chose it."""
    n = len(y) // 2
    with torch.no_grad():
        out = ens(X)
        return tuple(member_losses(o, t, "xent").numpy().copy() for o, t in ((out[:, :n], y[:n]), (out[:, n:], y[n:])))


@dataclass
class Trained:
    """One training sweep over learning rates x seeds: logged steps, training loss (the logged
    minibatch's), test loss and validation loss at every logged step, each (logs, lrs, seeds).
    Learning rates are chosen on ``val``; ``test`` is what the book reports (``heldout_loss``)."""
    steps: np.ndarray
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray


def train_heldout(ens: Ensemble, n_lrs: int, X, y, Xt, yt, *, steps: int, batch_size: int, every: int,
                  momentum: float = 0.9, offset: int = 0) -> Trained:
    """Train (SGD with momentum) members ordered lr-major, seed-minor; log the training loss
    and the loss on both halves of the held-out split (``heldout_loss``). ``offset`` shifts the step axis (steps spent before, e.g. pre-training)."""
    held = []
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=momentum,
               batch_size=batch_size, log_every=every, callback=lambda s, e: held.append(heldout_loss(e, Xt, yt)))
    logs = np.arange(1, len(hist) + 1) * every
    logs[-1] = steps
    shape = (len(hist), n_lrs, -1)
    val, test = (np.array([h[k] for h in held]).reshape(shape) for k in (0, 1))
    return Trained(logs + offset, hist.reshape(shape), test, val)


def on_one_axis(runs: dict) -> tuple[np.ndarray, dict]:
    """{name: Trained} with different step axes (a pre-trained run starts late) on the union of
    their steps: (steps, {name: test loss (steps, seeds), nan where a run has no log})."""
    axis = np.unique(np.concatenate([t.steps for t in runs.values()]))
    out = {}
    for name, t in runs.items():
        v = np.full((len(axis), t.test.shape[1]), np.nan)
        v[np.searchsorted(axis, t.steps)] = t.test
        out[name] = v
    return axis, out


def final_score(t: Trained) -> np.ndarray:
    """(seeds, lrs) final validation loss; a diverged run is nan (never wins a tuning)."""
    s = t.val[-1].T.copy()
    s[~np.isfinite(s)] = np.nan
    return s


def train_curves(act: str, inits, lrs, depth: int, width: int, seeds: int, X, y, Xt, yt, *,
                 steps: int, batch_size: int, every: int) -> dict:
    """Training and held-out loss over steps for every init x learning rate x seed, as one
    ensemble (one pass of Python overhead for all). Returns {init: Trained}."""
    members = [Member(act, (width,) * depth, seed=s, lr=lr, init=i) for i in inits for lr in lrs for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    t = train_heldout(ens, len(inits) * len(lrs), X, y, Xt, yt, steps=steps, batch_size=batch_size, every=every)
    n = len(lrs)
    part = lambda a, k: a[:, k * n:(k + 1) * n]
    return {i: Trained(t.steps, part(t.train, k), part(t.test, k), part(t.val, k)) for k, i in enumerate(inits)}


def tuned_inits(act: str, inits, lrs, depth: int, width: int, seeds: int, X, y, Xt, yt, *, chance: float,
                max_rounds: int = 3, **kw) -> dict:
    """``tuned_curves`` for each init, with the first grid trained for all inits at once; only
    the extensions of a grid (when the best sits on its edge) are trained per init.
    Returns {init: (Tuned, runs)}."""
    first = train_curves(act, inits, lrs, depth, width, seeds, X, y, Xt, yt, **kw)
    out = {}
    for i in inits:
        make = lambda grid, i=i: (first[i] if list(grid) == sorted(float(v) for v in lrs)
                                  else train_curves(act, [i], grid, depth, width, seeds, X, y, Xt, yt, **kw)[i])
        out[i] = tuned_curves(make, lrs, chance, max_rounds=max_rounds)
    return out


# A run "learned" when its final validation loss is at least this far below chance (ln 10 for ten
# classes). Runs that end at chance differ only by noise of about 1e-3; letting that noise pick a
# "best" learning rate would extend the grid towards ever smaller rates for nothing.
LEARNED_MARGIN = 0.05


def train_curves_cost(n_inits: int, n_lrs: int, depth: int, width: int, seeds: int, n: int, n_test: int, *,
                      steps: int, batch_size: int, every: int, momentum: bool = True, n_in: int = 64,
                      itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`train_curves`: one ensemble, the held-out loss at every log."""
    from actlab import workload

    return workload.fit(workload.mlp(n_in, (width,) * depth, 10), n_inits * n_lrs * seeds, batch_size, steps,
                        optimizer="momentum" if momentum else "sgd", itemsize=itemsize, evals=steps // every + 1,
                        eval_rows=n_test)


def tuned_curves(make, lrs, chance: float | None = None, max_rounds: int = 3) -> tuple:
    """Tune the learning rate on the final validation loss (``actlab.tuning.tune``, which extends
    the grid while the best sits on its edge); ``make(lrs)`` trains and returns a Trained. With
    ``chance``, a run that ends within LEARNED_MARGIN of it never wins (it did not learn).
    Returns (Tuned, {lr: Trained} for every learning rate tried)."""
    from actlab.tuning import tune

    runs = {}

    def run(grid):
        t = make(grid)
        for k, lr in enumerate(grid):
            runs[lr] = Trained(t.steps, t.train[:, k], t.test[:, k], t.val[:, k])
        s = final_score(t)
        if chance is not None:
            s = np.where(s >= chance - LEARNED_MARGIN, np.inf, s)
        return s

    return tune(run, lrs, max_rounds=max_rounds), runs


def chosen(tuned, runs: dict, fallback: float | None = None) -> tuple[float, Trained]:
    """The tuned learning rate and its run; when no rate learned, ``fallback`` (or the grid's
    largest rate whose runs all finished) so that the curve can still be shown."""
    if tuned.best is not None:
        return tuned.lr, runs[tuned.lr]
    ok = [lr for lr in tuned.lrs if np.isfinite(runs[lr].test[-1]).all()]
    lr = fallback if fallback in runs else (max(ok) if ok else tuned.lrs[0])
    return lr, runs[lr]


def per_seed_best(tuned, runs: dict) -> tuple[Trained, list[float]]:
    """The run of each seed at its own learning rate, the one (of every rate tried) with that seed's
    lowest finite final validation loss: the curves behind a baseline "each seed's best rate".
    Returns (Trained with one column per seed, the rate of each seed)."""
    lrs = list(tuned.lrs)
    finals = np.stack([runs[v].val[-1] for v in lrs])  # (rates, seeds)
    finals = np.where(np.isfinite(finals), finals, np.inf)
    pick = finals.argmin(0)
    cols = range(finals.shape[1])
    first = runs[lrs[0]]
    train = np.stack([runs[lrs[k]].train[:, j] for j, k in zip(cols, pick, strict=True)], 1)
    test = np.stack([runs[lrs[k]].test[:, j] for j, k in zip(cols, pick, strict=True)], 1)
    val = np.stack([runs[lrs[k]].val[:, j] for j, k in zip(cols, pick, strict=True)], 1)
    return Trained(first.steps, train, test, val), [lrs[k] for k in pick]


def learned_count(tuned, runs: dict, chance: float) -> tuple[int, int]:
    """(learning rates whose median final validation loss is LEARNED_MARGIN below chance, rates tried)."""
    # a diverged run counts as not learned (inf), never ignored
    k = sum(np.median(np.where(np.isfinite(runs[lr].val[-1]), runs[lr].val[-1], np.inf)) < chance - LEARNED_MARGIN
            for lr in tuned.lrs)
    return int(k), len(tuned.lrs)


def pretrain_layerwise(members: list[Member], X: torch.Tensor, *, steps: int, lr: float,
                       batch_size: int = 128) -> Ensemble:
    """Greedy layer-wise pre-training with autoencoders (Bengio et al. 2007; Hinton et al. 2006
    pre-trained with RBMs): layer l is the encoder of a one-hidden-layer autoencoder trained to reconstruct
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


PRETRAIN_STARTS = ("default init", "Xavier init", "tanh-matched init", "pre-trained")


def pretrain_compare(depth: int, width: int, seeds: int, lrs, X, y, Xt, yt, *, pretrain_steps: int,
                     finetune_steps: int, every: int, pretrain_lr: float = 0.01, batch_size: int = 32,
                     chance: float | None = None, starts=PRETRAIN_STARTS) -> dict:
    """A fair test of layer-wise pre-training for a sigmoid MLP: each random start (PyTorch's
    default initialisation; the sigmoid's recommended one, Xavier's with gain 1; and a tanh
    network at tanh's recommended initialisation rewritten exactly as a sigmoid network,
    :func:`sigmoid_as_tanh_`) gets the same total number of steps (pre-training steps +
    fine-tuning steps), each start has its own learning rate tuned on the validation half of the
    held-out split, and all are scored on its test half.
    Returns {start: (Tuned, runs, start gradients)}: ``tuned_curves``'s pair, and the weight
    gradient norms and errors per unit (:func:`layer_gradients`, every training example) at the
    weights supervised training starts from, per seed. ``starts`` computes some of them only
    (each is tuned on its own runs)."""
    total = finetune_steps + depth * pretrain_steps
    sigmoid, tanh = functions.get("sigmoid"), functions.get("tanh")
    init = {"default init": ("default", 1.0), "Xavier init": (sigmoid.init, sigmoid.gain),
            "tanh-matched init": (tanh.init, tanh.gain), "pre-trained": ("default", 1.0)}

    def members(grid, name):
        scheme, gain = init[name]
        return [Member("sigmoid", (width,) * depth, seed=s, lr=lr, init=scheme, gain=gain)
                for lr in grid for s in range(seeds)]

    def start(grid, name):
        if name == "pre-trained":
            return pretrain_layerwise(members(grid, name), X, steps=pretrain_steps, lr=pretrain_lr)
        ens = Ensemble(members(grid, name), X.shape[1], 10, dtype=X.dtype)
        return sigmoid_as_tanh_(ens) if name == "tanh-matched init" else ens

    def run(grid, name):
        ens = start(grid, name)
        if name == "pre-trained":
            return train_heldout(ens, len(grid), X, y, Xt, yt, steps=finetune_steps, batch_size=batch_size,
                                 every=every, offset=depth * pretrain_steps)
        return train_heldout(ens, len(grid), X, y, Xt, yt, steps=total, batch_size=batch_size, every=every)

    out = {}
    for name in starts:
        w, d = layer_gradients(start(lrs[:1], name), X, y)  # the learning rate does not change the start
        out[name] = (*tuned_curves(functools.partial(run, name=name), lrs, chance),
                     {"weight_norms": np.stack(w), "deltas": np.stack(d)})
    return out


def pretrain_compare_cost(depth: int, width: int, seeds: int, n_lrs: int, n: int, n_test: int, *,
                          pretrain_steps: int, finetune_steps: int, every: int, batch_size: int = 32,
                          max_rounds: int = 3, n_in: int = 64, itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`pretrain_compare`, each start's grid extended ``max_rounds`` times
    by one rate: the three random starts trained for all the steps; the pre-trained one's autoencoders
    (members x all ``n`` examples of their input, expanded) layer by layer, then fine-tuned."""
    from actlab import workload

    total = finetune_steps + depth * pretrain_steps
    rates = n_lrs + max_rounds
    plain = train_curves_cost(1, rates, depth, width, seeds, n, n_test, steps=total, batch_size=batch_size,
                              every=every, n_in=n_in, itemsize=itemsize)
    fine = train_curves_cost(1, rates, depth, width, seeds, n, n_test, steps=finetune_steps, batch_size=batch_size,
                             every=every, n_in=n_in, itemsize=itemsize)
    members = rates * seeds
    codes = workload.SLACK * itemsize * members * n * 2 * max(n_in, width)  # a layer's codes on every example
    aes = [workload.fit(workload.mlp(a, (width,), a), members, 128, pretrain_steps, optimizer="adam",
                        itemsize=itemsize) for a in [n_in] + [width] * (depth - 1)]
    seconds = 3 * plain[0] + fine[0] + sum(s for s, _ in aes)
    return seconds, max(plain[1], fine[1], codes + max(b for _, b in aes))


def deepest_table(sweep: NormSweep, depth: int, ref: tuple[str, str] = ("relu", "kaiming")) -> str:
    """Markdown: per activation and init at ``depth``, the first/last ratio beside the two absolute
    measures (the reach: error per unit at layer 1 over the output's; layer 1's weight gradient, also as a
    multiple of the ``ref`` network's), medians over seeds."""
    from actlab.numbers import fmt
    from actlab.plotting import label
    from actlab.tables import markdown_table

    base = np.median(sweep.first(*ref, depth)) if ref[0] in sweep.activations and ref[1] in sweep.inits else np.nan
    rows = [[label(a), i, fmt(np.median(sweep.ratio(a, i, depth))), fmt(np.median(sweep.reach(a, i, depth))),
             fmt(np.median(sweep.first(a, i, depth))), fmt(np.median(sweep.first(a, i, depth)) / base)]
            for a in sweep.activations for i in sweep.inits]
    return markdown_table(["activation", "init", "first ÷ last ‖∂ℒ/∂W‖", "reach (rms δ₁ ÷ rms δ_out)", "‖∂ℒ/∂W₁‖",
                           f"‖∂ℒ/∂W₁‖ ÷ {label(ref[0])}-{ref[1]}'s"], rows)


def vanishing_table(sweep: NormSweep, threshold: float = VANISH_RATIO) -> str:
    """Markdown: the smallest depth at which each measure falls below ``threshold``, as
    "ratio / reach" per activation and init ("—": not up to the deepest network)."""
    from actlab.plotting import label
    from actlab.tables import markdown_table

    show = lambda d: str(d) if d else "—"
    rows = [[label(a)] + [f"{show(vanishing_depth(sweep, a, i, threshold))} / "
                          f"{show(vanishing_depth(sweep, a, i, threshold, 'reach'))}" for i in sweep.inits]
            for a in sweep.activations]
    return markdown_table(["activation"] + list(sweep.inits), rows)


# --- prose generated from what the chapter recorded (never from hand-written verdicts) ------------

def _iv(m: dict, name: str) -> str:
    """"value [lo, hi]" of a recorded measure."""
    from actlab.numbers import fmt

    return f"{fmt(m[name])} [{fmt(m[name + '_lo'])}, {fmt(m[name + '_hi'])}]"


def rescue_table(rescue: dict, depth: int) -> str:
    """Markdown: each sigmoid variant's first/last ratio and reach: median over seeds with the
    bootstrap 95% interval of that median (the same interval the verdicts and the prose use)."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table
    from actlab.verdicts import bootstrap

    rows, n = [], 0
    for name, sw in rescue.items():
        (k,) = sw.norms
        r, q = bootstrap(sw.ratio(*k)), bootstrap(sw.reach(*k))
        n = r.n
        rows.append([name, f"{fmt(r.value)} [{fmt(r.lo)}, {fmt(r.hi)}]", f"{fmt(q.value)} [{fmt(q.lo)}, {fmt(q.hi)}]"])
    return markdown_table([f"sigmoid network, {depth} hidden layers",
                           f"first ÷ last ‖∂ℒ/∂W‖, median of {n} seeds [bootstrap 95% interval]",
                           f"reach (rms δ₁ ÷ rms δ_out), median of {n} seeds [bootstrap 95% interval]"], rows)


def rescue_sentence(m: dict, threshold: float = VANISH_RATIO) -> str:
    """What holds of "no initialisation rescues the sigmoid", from the recorded reaches."""
    from actlab.numbers import fmt

    names = {"xavier": "Xavier", "orthogonal": "orthogonal", "x4_no_shift": "Xavier ×4 without the bias shift",
             "tanh_like": "Xavier ×4 with shifted biases", "orthogonal_tanh_like": "orthogonal ×4 with shifted biases"}
    ok = [k for k in names if f"rescue_reach_{k}_lo" in m and m[f"rescue_reach_{k}_lo"] > threshold]
    bad = [k for k in names if f"rescue_reach_{k}_hi" in m and m[f"rescue_reach_{k}_hi"] < threshold]
    said = []
    if bad:
        said.append("Below the vanishing threshold (" + fmt(threshold) + "), with the whole bootstrap 95% interval "
                    "of the median: " + ", ".join(f"{names[k]} (reach {_iv(m, f'rescue_reach_{k}')})" for k in bad) + ".")
    if ok:
        said.append("Above it, with the whole interval: " + ", ".join(f"{names[k]} (reach {_iv(m, f'rescue_reach_{k}')})" for k in ok) + ".")
    tried = [names[k] for k in ("xavier", "orthogonal", "x4_no_shift") if k in bad]
    if ok and {"tanh_like", "orthogonal_tanh_like"} & set(ok):
        said.append("So what holds is narrower than \"no initialisation rescues the sigmoid\": of those we tried, "
                    + (("the ones that only scale the weights or make them orthogonal (" + ", ".join(tried) + ") do not; ")
                       if tried else "")
                    + "the ones that rewrite the weights and biases as above do — because that makes the network a "
                    "tanh network in disguise, with half of its reach (each of its pre-activations is twice the "
                    "tanh network's, so the error reaching it is half).")
    elif not ok:
        said.append("None of the initialisations we tried rescues the sigmoid.")
    return " ".join(said)


def five_layer_sentence(v, m5, threshold: float = VANISH_RATIO) -> str:
    """The five-layer verdict in words, with the thresholds at which it would read otherwise."""
    from actlab.numbers import fmt

    if m5.n == 0 or not np.isfinite(m5.value):
        return "Five hidden layers are not among this run's depths, so the claim is not measured."
    lo, hi = m5.lo, m5.hi
    return (f"**Within five layers:** at exactly five hidden layers the first layer of a default-initialised "
            f"sigmoid network gets {fmt(m5.value)} of the last hidden layer's gradient (median over {m5.n} seeds, "
            f"95% interval {fmt(lo)} to {fmt(hi)}), so against our threshold of {fmt(threshold)} the claim "
            f"{v.outcome if v.outcome != 'undecided' else f'is undecided at {m5.n} seeds'}. The threshold is our "
            f"choice: any threshold above {fmt(hi)} gives the same verdict, one below {fmt(lo)} the opposite, "
            f"and one between the two leaves it undecided at these seeds.")


def diverged(runs: dict, lr: float) -> tuple[int, int]:
    """(seeds whose final test loss is not finite at ``lr``, seeds)."""
    last = runs[lr].test[-1]
    return int((~np.isfinite(last)).sum()), int(last.size)


def grid_outcome(tuned, runs: dict, chance: float) -> str:
    """What the grid's largest rate did, in words: learned, diverged (k of n seeds), or neither."""
    from actlab.numbers import fmt

    top = tuned.lrs[-1]
    k, n = diverged(runs, top)
    med = np.median(np.where(np.isfinite(runs[top].val[-1]), runs[top].val[-1], np.inf))
    if k == n:
        return f"the largest, {fmt(top)}, diverged on all {n} seeds"
    if med < chance - LEARNED_MARGIN:
        return f"the largest, {fmt(top)}, learned"
    return (f"the largest, {fmt(top)}, neither learned nor diverged on every seed (diverged on {k} of {n})"
            if k else f"the largest, {fmt(top)}, neither learned nor diverged")


def he_sentence(he: dict, ln10: float, steps: int, first_grid) -> str:
    """The He et al. training comparison in words: tuned learning rates, held-out loss, chance.
    ``he``: {init: (Tuned, runs, chosen lr)}; ``first_grid``: the rates given before any extension."""
    from actlab.numbers import fmt
    from actlab.tuning import times

    out = []
    top0, bottom0 = max(first_grid), min(first_grid)
    for init, (tuned, runs, lr) in he.items():
        name = {"xavier": "Xavier", "kaiming": "Kaiming"}[init]
        grid = ", ".join(fmt(v) for v in tuned.lrs)
        ext = (f"; the given grid up to {fmt(top0)}, extended upward {times(tuned.rounds)} by ×3"
               if tuned.rounds and max(tuned.lrs) > top0 else
               f"; the given grid from {fmt(bottom0)}, extended downward {times(tuned.rounds)} by ÷3"
               if tuned.rounds and min(tuned.lrs) < bottom0 else "")
        k, n = learned_count(tuned, runs, ln10)
        test, train = np.median(runs[lr].test[-1]), np.median(runs[lr].train[-1])
        rel = _from_chance(test, ln10)
        if tuned.best is None:
            out.append(f"Under {name}, {k} of {n} learning rates ({grid}{ext}) ended more than {fmt(LEARNED_MARGIN)} "
                       f"below chance on the validation half within {steps} steps; {grid_outcome(tuned, runs, ln10)}, "
                       f"so no rate tried learns in this budget. At {fmt(lr)} (shown) the test loss after "
                       f"{steps} steps is {rel}.")
        else:
            where = "inside the grid" if tuned.interior else tuned.edge_note()
            out.append(f"Under {name} the learning rate with the lowest validation loss is {fmt(lr)} ({where}; "
                       f"grid {grid}{ext}; {k} of {n} rates learned); after {steps} steps its test loss is "
                       f"{fmt(test, 4)} and its training loss {fmt(train, 4)}.")
    return " ".join(out)


def _from_chance(loss: float, chance: float) -> str:
    """A loss near chance, with its gap from chance, so that rounding never shows it on the wrong
    side (six figures each, so that the gap agrees with the difference of the printed values)."""
    from actlab.numbers import fmt

    side = "above" if loss > chance else "below"
    return f"{fmt(loss, 6)}, {fmt(abs(loss - chance), 2)} {side} chance (ln 10 ≈ {fmt(chance, 6)})"


def pretrain_sentence(m: dict) -> str:
    """What PyTorch's default random start did over its learning-rate grid, saying whether any
    rate learned (the comparisons themselves are the chapter's prose)."""
    from actlab.numbers import fmt

    g = lambda k: fmt(m[k])
    base = (f"From PyTorch's default initialisation, {g('pretrain_learned_random')} of {g('pretrain_n_lrs_random')} "
            f"learning rates ({m['pretrain_grid']}) end more than {g('pretrain_chance_margin')} below chance on the "
            f"validation half; {m['pretrain_top_outcome_random']}.")
    if m["pretrain_learned_random"] == 0:
        base += (f" Its runs in the figure (each seed at the rate with its lowest final validation loss, in its "
                 f"favour) did not learn: their test loss has median {_from_chance(m['pretrain_test_random'], m['ln10'])}, "
                 "so a gain over this start is a gain over a network that did not learn in this budget, not over one "
                 "that learned more slowly. That is why the verdict compares with a better-scaled start.")
    return base


def bn_relu_sentence(m: dict, threshold: float = VANISH_RATIO) -> str:
    """Batch norm's own distortion on the deepest ReLU network, in defined words."""
    from actlab.numbers import fmt

    r, reach = m["bn_relu_deepest"], m["bn_reach_relu_deepest"]
    kind = ("an exploding gradient by the mirror image of our definition of vanishing (a ratio above "
            f"{fmt(1 / threshold)})" if r > 1 / threshold else
            f"a gradient that grows towards the input, though by less than the factor {fmt(1 / threshold)} "
            "that would mirror our definition of vanishing")
    return (f"It is not free of its own distortion: with batch norm the first layer of the deepest "
            f"(Kaiming) ReLU network gets {fmt(r)} times the weight gradient of its last hidden layer, {kind}; "
            f"the error per unit at its first layer is {fmt(reach)} times the output's (its reach).")


# --- figures of the chapter's measurements -----------------------------------------------------

def layer_gradient_norms(sweep: NormSweep, depth: int):
    """Weight-gradient norm against layer index (log scale): one panel per initialisation (two a
    row), one line per activation, median over seeds with the min-max band; legend under the panels."""
    from actlab.plotting import figure, finish, spread

    ncols = min(2, len(sweep.inits))
    nrows = -(-len(sweep.inits) // ncols)
    fig, axes = figure(nrows, ncols, width=7.0, height=2.4 * nrows + 0.5, sharex=True, sharey=True)
    layers = np.arange(1, depth + 2)
    for ax, init in zip(axes.flat, sweep.inits, strict=False):
        for act in sweep.activations:
            spread(ax, layers, sweep.norms[act, init, depth], act, axis=0)
        ax.set_yscale("log")
        ax.set_title(f"init: {init}")
    for ax in axes.flat[len(sweep.inits):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("weight layer (1 = input side)")
    for ax in axes[:, 0]:
        ax.set_ylabel("‖∂ℒ/∂W⁽ˡ⁾‖")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=len(sweep.activations))
    return finish(fig)


def activation_means(act: str, steps, means):
    """Mean activation of each hidden layer during training: median over seeds with the
    min-max band; legend beside the axes."""
    from actlab.plotting import figure, finish, label, layer_shades

    fig, axes = figure(1, 1, width=6.5, height=3.0)
    ax = axes[0, 0]
    n_layers = means.shape[-1]
    for layer, c in zip(range(n_layers), layer_shades(act, n_layers), strict=True):
        vals = means[:, :, layer]
        ax.plot(steps, np.median(vals, 1), color=c, label=f"hidden layer {layer + 1}")
        ax.fill_between(steps, vals.min(1), vals.max(1), color=c, alpha=0.2, linewidth=0)
    ax.set_xlabel("training step (minibatch SGD)")
    ax.set_ylabel(f"mean {label(act)} output")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return finish(fig)


def loss_curves(steps, curves: dict, act: str, ylabel: str = "training loss (cross-entropy)",
                chance: float | None = None, log: bool = False, xlabel: str = "training step",
                colors: list[str] | None = None):
    """Loss against step for a few settings of one activation: {name: (logs, seeds) array};
    line style and a marker tell the settings apart, colour stays the activation's unless
    ``colors`` gives one per setting; legend under the axes. ``chance``: a dotted grey line at
    that loss; ``log``: a log y-axis (the step axis stays linear)."""
    from actlab.numbers import fmt
    from actlab.plotting import color, figure, finish

    fig, axes = figure(1, 1, width=6.5, height=3.4)
    ax = axes[0, 0]
    styles, markers = ["-", "--", "-.", (0, (5, 1.5, 1, 1.5, 1, 1.5))], ["o", "s", "^", "D"]
    if len(curves) > len(styles):  # a fifth curve would otherwise vanish from the figure
        raise ValueError(f"at most {len(styles)} curves per panel; got {len(curves)}")
    colors = colors or [color(act)] * len(curves)
    for (name, vals), ls, mk, c in zip(curves.items(), styles[:len(curves)], markers, colors, strict=False):
        vals = np.asarray(vals, float)
        # a run that starts late (pre-training) has no value at the first steps: draw only where
        # some seed has one (and never ask numpy for the median of an all-NaN row)
        has = np.isfinite(vals).any(1)
        x, v = np.asarray(steps)[has], vals[has]
        ax.plot(x, np.nanmedian(v, 1), color=c, linestyle=ls, marker=mk, markevery=max(1, len(x) // 8),
                markersize=5, label=name)
        ax.fill_between(x, np.nanmin(v, 1), np.nanmax(v, 1), color=c, alpha=0.12, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="#666666", linestyle=(0, (1, 2)), linewidth=1.2,
                   label=f"chance (ln 10 ≈ {fmt(chance, sig=3)})")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    fig.legend(loc="outside lower center", ncol=1)
    return finish(fig)
