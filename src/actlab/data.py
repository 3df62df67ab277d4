"""Datasets, loaded through the package so a chapter works from any working directory.

``load_digits`` ships inside scikit-learn (1,797 8x8 images of handwritten digits), so
nothing is fetched at run time.
"""
from __future__ import annotations

import importlib.util
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
