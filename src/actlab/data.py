"""Datasets, loaded through the package so a chapter works from any working directory.

``load_digits`` ships inside scikit-learn (1,797 8x8 images of handwritten digits), and MNIST-1D
(:func:`mnist1d`, 5,000 signals of length 40) is generated locally by the pinned ``mnist1d``
package, so nothing is fetched at run time.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
from functools import cache
from pathlib import Path

import numpy as np
import torch


@cache
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn's bundled CSV, read without importing sklearn.datasets: that import costs
    # about 0.7 s in every kernel that loads digits (tests check it equals load_digits()).
    sklearn = Path(importlib.util.find_spec("sklearn").origin).parent
    table = np.loadtxt(sklearn / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    return table[:, :-1].astype(np.float64), table[:, -1].astype(np.int64)


def digits(split: str = "all", standardise: bool = True, test_fraction: float = 0.2, seed: int = 0,
           dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (n, 64), labels (n,)). Standardised with the training split's mean and std
    (constant pixels stay 0); pixels otherwise scaled to [0, 1]. ``split``: all, train, test."""
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test'; got {split!r}")
    X, y = _digits_raw()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    ref = X[train]
    if standardise:
        mu, sd = ref.mean(0), ref.std(0)
        X = (X - mu) / np.where(sd > 0, sd, 1.0)
    else:
        X = X / 16.0
    idx = {"all": np.arange(len(y)), "train": train, "test": test}[split]
    return torch.tensor(X[idx], dtype=dtype), torch.tensor(y[idx])


def gaussian(n: int, d: int = 64, classes: int = 10, seed: int = 0, dtype=torch.float64):
    """Standard-normal inputs with random labels: the same shapes as digits, no structure."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, classes, (n,), generator=g)


def dataset(name: str, n: int = 512, seed: int = 0, dtype=torch.float64):
    """'digits' (the first n standardised images of the training split) or 'gaussian'."""
    if name == "digits":
        X, y = digits("train", seed=seed, dtype=dtype)
        return X[:n], y[:n]
    if name == "gaussian":
        return gaussian(n, seed=seed, dtype=dtype)
    raise ValueError(f"dataset must be 'digits' or 'gaussian'; got {name!r}")


# ---------------------------------------------------------------- MNIST-1D
# Greydanus's MNIST-1D (references.bib: greydanus2020): ten 1-D digit templates, padded, scaled,
# translated, sheared and noised into length-40 signals. Generated here with the pinned `mnist1d`
# package, never downloaded (its `get_dataset` fetches a pickle from GitHub; nothing here calls it),
# and cached under _build/data/. The default dataset (5000 examples, seed 42) generated here agrees
# with the pickle the paper used to within 9e-16 and has the same labels, so its fingerprint (below)
# is that pickle's too.

MNIST1D_LENGTH = 40
MNIST1D_CLASSES = 10
MNIST1D_TRAIN, MNIST1D_TEST = 4000, 1000  # the package's default split: the paper's numbers are on it
MNIST1D_SEED = 42                         # the package's default seed
MNIST1D_MAX_EXAMPLES = 50_000             # about 7 s to generate; more is refused, not run for minutes
# The package's default generator arguments (a test checks them against mnist1d.get_dataset_args),
# written out so the cache key needs no import of the package. num_samples and seed are set per call.
MNIST1D_ARGS = {"num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": [36, 60],
                "scale_coeff": 0.4, "max_translation": 48, "corr_noise_scale": 0.25, "iid_noise_scale": 2e-2,
                "shear_scale": 0.75, "shuffle_seq": False, "final_seq_length": 40, "seed": 42}
# Fingerprint (see mnist1d_fingerprint) of the default dataset, and the versions that produced it.
MNIST1D_FINGERPRINT = "f40167d0699e5ecc37c00e955d0e906c050e8fcacad81aff4421398ba044ab0a"
MNIST1D_PINNED_WITH = {"mnist1d": "0.0.2.post1", "numpy": "2.4.6", "scipy": "1.17.1"}


def _cache_dir():
    from actlab.paths import BUILD

    return BUILD / "data"


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in MNIST1D_PINNED_WITH}


def mnist1d_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the labels and of x rounded to multiples of 2**-20 (about 1e-6).

    Rounding first: a different CPU's last-bit differences (1e-15 here) do not change it, while any
    change that matters to a model (another noise draw, another template) does. The default
    dataset's values lie at least 1.5e-14 from a rounding boundary."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.round(np.asarray(x, np.float64) * 2**20)).astype("<i8").tobytes())
    h.update(np.ascontiguousarray(y).astype("<i8").tobytes())
    return h.hexdigest()


def _raw_sha256(x: np.ndarray, y: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, "<f8").tobytes() + np.ascontiguousarray(y, "<i8").tobytes()).hexdigest()


def _generate(args: dict) -> tuple[np.ndarray, np.ndarray]:
    """All examples in the package's shuffled order, (num_samples, 40) and (num_samples,).

    ``make_dataset`` seeds numpy's and Python's global generators; their states are put back, so
    generating the data does not change what a later unseeded draw in the caller gives."""
    import random
    from types import SimpleNamespace

    from mnist1d.data import make_dataset  # only here: the import costs about a second (scipy, pyplot)

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(SimpleNamespace(**args))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float64)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    return x, y


def _mnist1d_arrays(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Generated once per (arguments, package versions) and cached in _build/data/; the default
    dataset is checked against MNIST1D_FINGERPRINT on every load."""
    import json
    import os

    from filelock import FileLock

    args = {**MNIST1D_ARGS, "num_samples": int(num_samples), "seed": int(seed)}
    versions = _versions()
    key = hashlib.sha256(json.dumps({"args": args, "versions": versions}, sort_keys=True).encode()).hexdigest()[:16]
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"mnist1d-{key}.npz"

    def load():
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as f:
            x, y, sha = f["x"], f["y"], str(f["sha256"])
        return (x, y) if _raw_sha256(x, y) == sha else None  # a damaged file is generated again

    arrays = load()
    if arrays is None:
        with FileLock(str(path.with_suffix(".lock"))):  # parallel chapters generate it once
            arrays = load()
            if arrays is None:
                arrays = _generate(args)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                    np.savez(f, x=arrays[0], y=arrays[1], sha256=_raw_sha256(*arrays),
                             args=json.dumps(args, sort_keys=True), versions=json.dumps(versions, sort_keys=True))
                os.replace(tmp, path)  # a reader never sees half a file
    if args == MNIST1D_ARGS:
        _check_pinned(*arrays, versions)
    return arrays


def _check_pinned(x, y, versions: dict[str, str]):
    got = mnist1d_fingerprint(x, y)
    if got == MNIST1D_FINGERPRINT:
        return
    changed = [f"{p} {MNIST1D_PINNED_WITH[p]} -> {v}" for p, v in versions.items() if v != MNIST1D_PINNED_WITH[p]]
    raise RuntimeError(
        f"the MNIST-1D data generated here differ from the pinned dataset (fingerprint {got[:12]}..., "
        f"pinned {MNIST1D_FINGERPRINT[:12]}...). Changed since it was pinned: "
        f"{', '.join(changed) if changed else 'no package version (a platform difference?)'}. "
        "Install the pinned versions (requirements.lock; `make` does it), or, having checked the new data, "
        "re-pin actlab.data.MNIST1D_FINGERPRINT and MNIST1D_PINNED_WITH.")


def mnist1d(n_train: int = MNIST1D_TRAIN, n_test: int = MNIST1D_TEST, seed: int = MNIST1D_SEED,
            dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST-1D (Greydanus 2020, references.bib greydanus2020): (x_train (n_train, 40), y_train (n_train,), x_test (n_test, 40),
    y_test (n_test,)); x in ``dtype``, labels int64 in 0..9.

    The defaults are the package's dataset, the one its paper reports accuracies on (4000 training
    and 1000 test signals, seed 42). Smaller sizes take the first examples of each split of that
    same dataset (shuffled, so every class is there in about equal numbers), so a quick profile sees
    a subset of the full profile's data. Larger sizes generate 10 * ceil(max(n_train / 8, n_test / 2))
    signals, split 4:1 as the package does: another dataset, not an extension of the default one.
    ``seed`` draws another dataset of the same kind. The package standardises x over all its
    signals (mean 0, standard deviation 1), test split included; nothing else is done to it here.
    """
    for name, v, lo in (("n_train", n_train, 1), ("n_test", n_test, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    if n_train <= MNIST1D_TRAIN and n_test <= MNIST1D_TEST:
        n = MNIST1D_TRAIN + MNIST1D_TEST
    else:
        n = 10 * math.ceil(max(n_train / 8, n_test / 2))
    if n > MNIST1D_MAX_EXAMPLES:
        raise ValueError(f"n_train = {n_train} and n_test = {n_test} need {n} generated signals; at most "
                         f"{MNIST1D_MAX_EXAMPLES} are allowed (generation takes about 1.3 s per 10 000)")
    x, y = _mnist1d_arrays(n, seed)
    split = 4 * n // 5
    as_x = lambda a: torch.tensor(a, dtype=dtype)
    return (as_x(x[:n_train]), torch.tensor(y[:n_train]),
            as_x(x[split:split + n_test]), torch.tensor(y[split:split + n_test]))
