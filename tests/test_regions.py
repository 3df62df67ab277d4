"""Linear regions of ReLU networks: pieces along lines, the sawtooth construction, sparsity, the stored cell."""

import numpy as np
import torch

from actlab import regions
from actlab.ensemble import Ensemble, Member


def test_pieces_along_a_line_count_the_kinks_it_crosses():
    ens = Ensemble([Member("relu", (2,), seed=0, init="kaiming")], 2, 1, dtype=torch.float32)
    blk = ens.single_block()
    with torch.no_grad():  # unit 1 switches at x1 = -0.5, unit 2 at x1 = 0.5; x2 plays no part
        blk.weights[0][0] = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
        blk.biases[0][0] = torch.tensor([[0.5, -0.5]])
    starts, ends = torch.tensor([[-1.0, 0.3]]), torch.tensor([[1.0, 0.3]])
    assert regions.count_pieces(ens, starts, ends, 1001)[0] == 3
    parallel = regions.count_pieces(ens, torch.tensor([[0.0, -1.0]]), torch.tensor([[0.0, 1.0]]), 1001)
    assert parallel[0] == 1  # a line along x2 crosses no boundary


def test_montufar_s_construction_and_the_sawtooth():
    assert regions.montufar_line((48,)) == 49 and regions.montufar_line((8,) * 6) == 8**5 * 9
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    tent = lambda x: 2 * relu(x) - 4 * relu(x - 0.5)  # noqa: E731  the exercise's two-unit layer
    x = np.linspace(0, 1, 100_001)
    y = x
    for _ in range(4):
        y = tent(y)
    slopes = np.sign(np.diff(y))
    assert 1 + np.count_nonzero(np.diff(slopes)) == 2**4  # 2^L pieces from 2L units


def test_sparsity_counts_exact_zeros_apart_from_dead_units():
    sp = regions.sparsity(["relu", "gelu"], width=16, depth=2, seeds=2, steps=20, lr=1e-3)
    assert 0.3 < np.median(sp.zero["relu", "init"]) < 0.7 and np.median(sp.zero["gelu", "init"]) < 0.01
    assert (sp.dead["relu", "init"] <= sp.zero["relu", "init"]).all()
    assert (sp.near["relu", "init"] >= sp.zero["relu", "init"]).all()  # an exact zero is also near zero


def test_the_stored_cell_round_trips_and_a_block_is_its_part():
    d = regions.pieces_data(["1 × 48", "2 × 24"], seeds=2, steps=5, lr=1e-3, n_lines=2, n_points=200)
    p = regions.pieces_from(d)
    assert p.architectures == [(48,), (24, 24)] and p.init[(48,)].shape == (2,)
    assert regions.pieces_part(d, ["2 × 24"]) == {"2 × 24": d["2 × 24"]}
    assert "| 2 × 24 |" in regions.pieces_table(p)
