"""MNIST-1D: generated locally (never downloaded), cached, and pinned by a fingerprint."""
import random
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from actlab import data


def test_defaults_are_the_pinned_dataset_split_4000_1000():
    x, y, xt, yt = data.mnist1d()  # raises if the generated data differ from the pinned fingerprint
    assert x.shape == (4000, 40) and xt.shape == (1000, 40) and x.dtype == torch.float64
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10)) and set(yt.tolist()) == set(range(10))
    # the package standardises over all 5000 signals
    allx = torch.cat([x, xt])
    assert abs(allx.mean().item()) < 1e-12 and abs(allx.std(unbiased=False).item() - 1) < 1e-12


def test_smaller_sizes_are_a_prefix_of_the_default_split_in_any_dtype():
    x, y, xt, yt = data.mnist1d()
    xs, ys, xts, yts = data.mnist1d(300, 70, dtype=torch.float32)
    assert xs.dtype == torch.float32 and xs.shape == (300, 40) and xts.shape == (70, 40)
    assert torch.equal(xs, x[:300].float()) and torch.equal(ys, y[:300])
    assert torch.equal(xts, xt[:70].float()) and torch.equal(yts, yt[:70])
    assert data.mnist1d(10, 0)[2].shape == (0, 40)


def test_package_defaults_are_the_arguments_written_out():
    from mnist1d.data import get_dataset_args

    assert {k: v for k, v in get_dataset_args(as_dict=True).items() if k != "url"} == data.MNIST1D_ARGS


def test_generation_never_downloads_and_leaves_global_generators_alone(tmp_path, monkeypatch):
    import mnist1d.data
    import requests

    def refuse(*a, **k):
        raise AssertionError("MNIST-1D must be generated, never downloaded")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(mnist1d.data, "get_dataset", refuse)
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path)
    np.random.seed(7)
    random.seed(7)
    expect_np, expect_py = np.random.rand(), random.random()
    np.random.seed(7)
    random.seed(7)
    x, y = data._mnist1d_arrays(50, seed=3)  # 50 signals (the cache mechanics, cheaply)
    assert (np.random.rand(), random.random()) == (expect_np, expect_py)
    assert x.shape == (50, 40) and y.shape == (50,)
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    again = data._mnist1d_arrays(50, seed=3)  # from the cache, the same numbers
    assert np.array_equal(again[0], x) and np.array_equal(again[1], y)
    assert not np.array_equal(data._mnist1d_arrays(50, seed=4)[0], x)


def test_a_damaged_cache_file_is_generated_again(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_cache_dir", lambda: tmp_path)
    first = data._mnist1d_arrays(30, seed=5)[0]
    path = next(tmp_path.glob("mnist1d-*.npz"))
    with np.load(path) as f:
        parts = dict(f)
    parts["x"] = parts["x"] + 1
    with open(path, "wb") as f:
        np.savez(f, **parts)
    assert np.array_equal(data._mnist1d_arrays(30, seed=5)[0], first)


def test_larger_sizes_generate_a_larger_dataset(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "_mnist1d_arrays", lambda n, seed: calls.append(n) or (np.zeros((n, 40)), np.zeros(n, int)))
    x, y, xt, yt = data.mnist1d(4001, 10)
    assert calls == [5010] and x.shape == (4001, 40) and xt.shape == (10, 40)
    data.mnist1d(100, 2000)
    assert calls[-1] == 10000


def test_a_changed_dataset_names_what_changed(monkeypatch):
    data.mnist1d(1, 0)  # the default dataset, cached
    monkeypatch.setattr(data, "MNIST1D_FINGERPRINT", "0" * 64)
    monkeypatch.setattr(data, "MNIST1D_PINNED_WITH", {**data.MNIST1D_PINNED_WITH, "scipy": "0.1"})
    with pytest.raises(RuntimeError, match=r"scipy 0\.1 -> .*re-pin actlab\.data\.MNIST1D_FINGERPRINT"):
        data.mnist1d(1, 0)


def test_the_fingerprint_ignores_last_bit_differences_but_not_real_ones():
    x, y, xt, yt = data.mnist1d()
    X, Y = torch.cat([x, xt]).numpy(), torch.cat([y, yt]).numpy()
    assert data.mnist1d_fingerprint(X * (1 + 2e-16), Y) == data.MNIST1D_FINGERPRINT
    assert data.mnist1d_fingerprint(X + 1e-5, Y) != data.MNIST1D_FINGERPRINT
    assert data.mnist1d_fingerprint(X, np.roll(Y, 1)) != data.MNIST1D_FINGERPRINT


@pytest.mark.parametrize("kw, msg", [({"n_train": 0}, "n_train must be an integer >= 1"),
                                     ({"n_test": -1}, "n_test must be an integer >= 0"),
                                     ({"n_train": 2.5}, "n_train must be an integer"),
                                     ({"n_train": 60_000}, "at most 50000")])
def test_bad_sizes_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        data.mnist1d(**kw)


def test_importing_the_package_does_not_import_mnist1d():
    code = "import sys, actlab.data, actlab.ensemble; assert 'mnist1d' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
