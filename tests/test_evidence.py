"""The evidence store: keys follow the code a cell imports, stale or missing cells fail the check
by name, broken files are recomputed, other parameters never touch the store. A scratch package
holds the cells, so no test trains anything."""
import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
import torch

from actlab import evidence as ev
from actlab import leaderboard as lb
from actlab.paths import CHAPTERS

CELL_PY = '''
from evfake import helper


def run(seeds=2, scale=1.0, device="cpu"):
    """Per-seed outcomes and a short curve; a non-finite value, as a diverged run gives."""
    return {"device": device, "runs": [helper.outcome(s, scale) for s in range(seeds)], "bad": float("inf")}


def block(data, seeds):
    return {**data, "runs": data["runs"][:seeds]}


def slow(seconds=60):
    import time
    time.sleep(seconds)
    return {"slept": seconds}
'''
HELPER_PY = '''
def outcome(seed, scale):
    return {"seed": seed, "error": scale * (seed + 1) / 10, "curve": [scale / (t + 1) for t in range(5)]}
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A scratch package ``evfake`` (a cell, the helper it imports, a module it does not) and a
    registry and store of its own; returns the package folder."""
    pkg = tmp_path / "pkg" / "evfake"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cell.py").write_text(CELL_PY)
    (pkg / "helper.py").write_text(HELPER_PY)
    (pkg / "unrelated.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setitem(ev.ROOTS, "evfake", pkg)
    monkeypatch.setattr(ev, "STORE", tmp_path / "evidence")
    monkeypatch.setattr(ev, "CACHE", tmp_path / "_build" / "evidence")
    monkeypatch.setattr(ev, "CELLS", {"fake": ev.Cell("evfake.cell:run", {"seeds": 2, "scale": 1.0}, expected_s=1,
                                                      summary="{seeds} seeds", spot=({"seeds": 1},),
                                                      select="evfake.cell:block", atol=1e-9)})
    for m in [m for m in sys.modules if m.startswith("evfake")]:
        monkeypatch.delitem(sys.modules, m)
    return pkg


def store_one(name="fake"):
    """Write the cell as ``compute`` would, in this process (no worker to start)."""
    cell = ev.CELLS[name]
    data = ev.call(cell.func, cell.params)
    ev.write_atomic(ev.store_path(name), ev.dumps(ev.record(name, ev.cell_key(cell), cell.params, data, 0.1, 1.0, "cpu")))


def test_the_key_follows_the_imported_code_and_nothing_else(fake):
    cell = ev.CELLS["fake"]
    assert ev.code_modules("evfake.cell") == ("evfake", "evfake.cell", "evfake.helper")
    key = ev.cell_key(cell)
    (fake / "unrelated.py").write_text("X = 2\n")
    assert ev.cell_key(cell) == key                     # not imported: no effect
    assert ev.cell_key(cell, {"seeds": 3, "scale": 1.0}) != key
    (fake / "helper.py").write_text(HELPER_PY.replace("/ 10", "/ 11"))
    assert ev.cell_key(cell) != key                     # imported by the cell's module: stale


def test_check_names_missing_and_stale_cells_and_the_command(fake, capsys):
    assert ev.main(["check"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["Evidence cell fake is missing or unreadable: run `make evidence CELL=fake`."]
    store_one()
    assert ev.main(["check"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    (fake / "helper.py").write_text(HELPER_PY + "\n# an edit\n")
    assert ev.main(["check"]) == 1
    out = capsys.readouterr().out.strip()
    assert out == "Evidence cell fake is stale (its code, parameters or library versions changed): " \
                  "run `make evidence CELL=fake`."


def test_the_book_never_reads_a_stale_cell(fake):
    with pytest.raises(ev.EvidenceError, match=r"fake is missing.*make evidence CELL=fake"):
        ev.load("fake")
    store_one()
    assert ev.load("fake")["runs"][1]["error"] == 0.2
    assert ev.load("fake")["bad"] == float("inf")    # strict JSON on disk, the float back in memory
    assert "Infinity" not in ev.store_path("fake").read_text()
    (fake / "helper.py").write_text(HELPER_PY + "\n# an edit\n")
    with pytest.raises(ev.EvidenceError, match="fake is stale"):
        ev.load("fake", seeds=2)                         # the registered parameters, given explicitly


def test_other_parameters_compute_under_build_and_never_touch_the_store(fake, monkeypatch):
    store_one()
    before = {p: p.read_bytes() for p in ev.STORE.iterdir()}
    data = ev.load("fake", seeds=3)
    assert [r["seed"] for r in data["runs"]] == [0, 1, 2]
    assert {p: p.read_bytes() for p in ev.STORE.iterdir()} == before
    cached = list(ev.CACHE.glob("fake-*.json"))
    assert len(cached) == 1 and len(cached[0].stem.split("-")[-1]) == 8
    monkeypatch.setattr(ev, "call", lambda *a, **k: pytest.fail("a cached cell was computed again"))
    assert ev.load("fake", seeds=3) == data
    assert "computed for this run's parameters: 3 seeds" in ev.provenance_line("fake", seeds=3)
    assert ev.provenance_line("fake").startswith("Stored evidence `fake`: 2 seeds; computed ")
    with pytest.raises(TypeError, match="no parameter width"):
        ev.load("fake", width=3)


def test_a_corrupt_cache_file_is_recomputed_with_one_line(fake, capsys):
    ev.load("fake", seeds=3)
    path = next(ev.CACHE.glob("fake-*.json"))
    path.write_text('{"x')
    assert len(ev.load("fake", seeds=3)["runs"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "does not read back" in err[0]
    assert json.loads(path.read_text())["cell"] == "fake"


def test_a_corrupt_store_file_is_recomputed_by_compute(fake, capsys):
    store_one()
    ev.store_path("fake").write_text('{"x')
    assert ev.main(["compute", "--jobs", "1"]) == 0     # a fresh process per cell
    err = [line for line in capsys.readouterr().err.splitlines() if "does not read back" in line]
    assert err and all(str(ev.store_path("fake")) in line for line in err)
    rec = json.loads(ev.store_path("fake").read_text())
    assert rec["key"] == ev.cell_key(ev.CELLS["fake"]) and rec["provenance"]["peak_mb"] > 0
    assert set(rec["provenance"]) == {"commit", "machine", "date", "wall_seconds", "peak_mb", "torch", "numpy", "device"}
    assert ev.main(["check"]) == 0


def test_a_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cell.json"
    ev.write_atomic(path, "old")

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        ev.write_atomic(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["cell.json"]  # no temp file left


def test_an_unknown_cell_is_one_sentence_listing_the_cells(fake, capsys):
    assert ev.main(["compute", "--cell", "nope"]) == 2
    assert capsys.readouterr().out.strip() == "evidence: there is no cell 'nope'; the cells are fake."


def test_a_spot_check_passes_on_honest_data_and_fails_on_tampered_data(fake, capsys):
    store_one()
    assert ev.main(["spot-check", "--commit", "abc123"]) == 0
    assert "reproduces" in capsys.readouterr().out
    rec = json.loads(ev.store_path("fake").read_text())
    rec["data"]["runs"][0]["curve"][3] += 1e-3
    ev.store_path("fake").write_text(json.dumps(rec))
    assert ev.main(["spot-check", "--commit", "abc123"]) == 1
    out = capsys.readouterr().out
    assert "Evidence cell fake does not reproduce within atol 1e-09" in out and "data.runs[0].curve[3]" in out


def test_the_spot_block_is_drawn_from_the_commit(fake, monkeypatch):
    monkeypatch.setitem(ev.CELLS, "other", ev.CELLS["fake"])
    assert len(ev.spot_blocks()) == 2
    draws = {ev.spot_blocks()[int(__import__("hashlib").sha256(c.encode()).hexdigest(), 16) % 2][0]
             for c in ("a", "b", "c", "d", "e", "f")}
    assert draws == {"fake", "other"}


def test_a_timing_cell_is_never_spot_checked_and_is_computed_alone_after_the_others(fake, monkeypatch):
    import dataclasses

    monkeypatch.setitem(ev.CELLS, "clock", dataclasses.replace(ev.CELLS["fake"], timing=True))
    assert [n for n, _ in ev.spot_blocks()] == ["fake"]
    calls = []
    monkeypatch.setattr(ev, "compute_side_by_side", lambda names, jobs, device: calls.append((names, jobs)) or 0)
    assert ev.compute(["clock", "fake"], jobs=2) == 0
    assert calls == [(["fake"], 2), (["clock"], 1)]
    calls.clear()
    monkeypatch.setattr(ev, "compute_side_by_side", lambda names, jobs, device: calls.append((names, jobs)) or 130)
    assert ev.compute(["clock", "fake"], jobs=2) == 130 and calls == [(["fake"], 2)]  # Ctrl-C: no timing after


def test_compare_states_where_data_differ():
    assert ev.compare({"a": [1.0, 2.0]}, {"a": [1.0, 2.05]}, atol=0.1, rtol=0) is None
    assert ev.compare({"a": [1.0, 2.0]}, {"a": [1.0, 2.5]}, atol=0.1, rtol=0) == "data.a[1] is 2.5, stored 2.0"
    assert ev.compare({"a": [True]}, {"a": [False]}, atol=1, rtol=1) == "data.a[0] is False, stored True"
    assert ev.compare([float("nan"), float("inf")], [float("nan"), float("inf")], 0, 0) is None


def test_the_device_reaches_the_cell_and_cpu_results_match(fake, capsys):
    assert ev.call("evfake.cell:run", {"seeds": 1}, "cpu")["device"] == "cpu"
    assert ev.call("evfake.cell:run", {"seeds": 1}, "cuda")["device"] == "cuda"   # plumbing only: no GPU here
    assert ev.main(["compute", "--jobs", "1", "--device", "cpu"]) == 0
    rec = json.loads(ev.store_path("fake").read_text())
    assert rec["provenance"]["device"] == "cpu" and rec["data"]["device"] == "cpu"
    assert ev.loads(json.dumps(rec["data"]))["runs"] == ev.call("evfake.cell:run", {"seeds": 2})["runs"]
    with pytest.raises(SystemExit):
        ev.main(["compute", "--device", "gpu"])
    with pytest.raises(ValueError, match="CPU only"):
        lb.board_data(device="cuda")


@pytest.mark.parametrize("started", ["in the foreground", "as a background job"])
def test_ctrl_c_stops_within_3_s_keeps_finished_cells_and_kills_the_workers(fake, tmp_path, started):
    """Also when started with SIGINT ignored, as a shell starts a background job (`make evidence &`)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(fake.parent)!r})
        from pathlib import Path
        from actlab import evidence as ev
        ev.ROOTS["evfake"] = Path({str(fake)!r})
        ev.STORE = Path({str(ev.STORE)!r})
        ev.CELLS = {{"quick": ev.Cell("evfake.cell:run", {{"seeds": 1}}, expected_s=1),
                    "slow": ev.Cell("evfake.cell:slow", {{"seconds": 60}}, expected_s=60)}}
        sys.exit(ev.main(["compute", "--jobs", "2"]))
    """)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if started == "as a background job" else None
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore)
    deadline = time.monotonic() + 60
    while not (ev.STORE / "quick.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the quick cell never finished: {proc.communicate()[1]}")
        time.sleep(0.1)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 3
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "1 finished cell(s) kept" in lines[0] and "Traceback" not in err
    assert (ev.STORE / "quick.json").exists() and not (ev.STORE / "slow.json").exists()
    time.sleep(0.2)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


# ---------------------------------------------------------------- the guide's cell

def test_the_board_round_trips_bit_for_bit():
    rng = np.random.default_rng(0)
    task = lb.tasks(digits_lrs=[0.01, 0.1], deep_lrs=[0.001], regression_lrs=[0.01], cnn_lrs=[0.1])["digits"]
    shape = (2, 3, 2)
    val = rng.random(shape)
    val[0, 0, 0] = np.inf
    r = lb.TaskResult(task, ["relu", "tanh"], [0.01, 0.1], val, rng.random(shape), rng.random(shape) < 0.3,
                      rng.random(shape + (4,)).astype(np.float32), [1, 2, 3, 4])
    board = lb.Board([r], rng.random((1, 2)))
    back = lb.Board.from_data(ev.loads(ev.dumps(board.to_data())))
    (r2,) = back.results
    assert r2.task == task
    for f in ("val", "test", "failed", "curve"):
        a, b = getattr(r, f), getattr(r2, f)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert np.array_equal(back.step_time, board.step_time)


def test_the_guide_defaults_are_the_stored_cell_parameters():
    """Otherwise the full book would train the leaderboard live instead of reading the store."""
    text = (CHAPTERS / "guide.md").read_text()
    cell = text.split(":tags: [parameters]", 1)[1].split("```", 1)[0]
    defaults = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell).body}
    assert defaults == ev.CELLS["guide-leaderboard"].params


def test_the_mnist1d_defaults_are_the_stored_cell_parameters():
    """The chapter loads the cell with SPEED_PARAMS of its parameters: at its defaults, the store."""
    from actlab import mnist1dsweeps as mc

    text = (CHAPTERS / "mnist1d.md").read_text()
    cell = text.split(":tags: [parameters]", 1)[1].split("```", 1)[0]
    defaults = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell).body}
    assert {k: defaults[k] for k in mc.SPEED_PARAMS} == ev.CELLS["mnist1d-speed"].params
    assert 'evidence.load("mnist1d-speed", **SP)' in text and "SP = {k: P[k] for k in mc.SPEED_PARAMS}" in text


def test_the_mnist1d_cell_key_covers_its_training_code_only():
    """Not the chapter's deep MLPs, timings, tables or figures: editing those leaves the cell current."""
    mods = ev.code_modules("actlab.mnist1dsweeps")
    assert {"actlab.convergence", "actlab.deadunits", "actlab.ensemble", "actlab.data", "actlab.seeding"} <= set(mods)
    assert not {"actlab.mnist1dcnn", "actlab.gradients", "actlab.cost", "actlab.evidence", "actlab.pipeline"} & set(mods)


def test_the_guide_cell_key_covers_its_training_code_only():
    mods = ev.code_modules("actlab.leaderboard")
    assert {"actlab.leaderboard", "actlab.ensemble", "actlab.data", "actlab.functions", "actlab.seeding"} <= set(mods)
    assert not {"actlab.evidence", "actlab.pipeline", "actlab.kernels"} & set(mods)
    assert torch.__version__.split("+")[0] in json.dumps(ev.versions())


def test_the_committed_store_is_small_and_strict_json():
    files = list(ev.STORE.glob("*.json"))
    assert sum(f.stat().st_size for f in files) < 20e6
    def refuse(constant):
        raise ValueError(f"{constant} is not strict JSON")
    for f in files:
        json.loads(f.read_text(), parse_constant=refuse)
        assert f.stem in ev.CELLS


# ---------------------------------------------------------------- the ReLU, variants and vanishing-gradients cells

# cell: (chapter, the package's tuple of the chapter parameters the cell takes, the chapter's dict of them)
CHAPTER_CELLS = {
    "relu-speed": ("relu", "actlab.speedsweeps:RELU_SPEED_PARAMS", "SPEED"),
    "relu-dead-units": ("relu", "actlab.deadunits:RELU_DEAD_PARAMS", "DEAD"),
    "relu-born-dead": ("relu", "actlab.deadunits:RELU_BORN_PARAMS", "BORN"),
    "relu-bias-shift": ("relu", "actlab.biasshift:RELU_SHIFT_PARAMS", "SHIFT"),
    "variants-prelu": ("relu-variants", "actlab.variants:PRELU_PARAMS", "PRELU"),
    "variants-dead-units": ("relu-variants", "actlab.deadunits:VARIANTS_DEAD_PARAMS", "DEAD"),
    "variants-speed": ("relu-variants", "actlab.speedsweeps:VARIANTS_SPEED_PARAMS", "SPEED"),
    "vanishing-norms": ("vanishing-gradients", "actlab.gradientdata:NORMS_PARAMS", "NORMS"),
    "vanishing-he": ("vanishing-gradients", "actlab.gradientdata:HE_PARAMS", "HE"),
    "vanishing-pretrain": ("vanishing-gradients", "actlab.gradientdata:PRETRAIN_PARAMS", "PRETRAIN"),
    "properties-cost": ("properties", "actlab.evidence:PROPERTIES_COST", "COST"),
    "regions-pieces": ("sparsity-pieces", "actlab.evidence:REGIONS_PIECES", "PIECES"),
}


def chapter_defaults(name: str) -> dict:
    text = (CHAPTERS / f"{name}.md").read_text()
    cell = text.split(":tags: [parameters]", 1)[1].split("```", 1)[0]
    return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell).body}


@pytest.mark.parametrize("cell", sorted(CHAPTER_CELLS))
def test_a_chapter_cell_is_registered_at_the_chapter_defaults(cell):
    """Otherwise the full book would compute the cell live instead of reading the store; and the
    chapter passes the cell every parameter it takes, so no other run reads the stored one."""
    import importlib

    chapter, names, var = CHAPTER_CELLS[cell]
    mod, _, attr = names.partition(":")
    names = getattr(importlib.import_module(mod), attr)
    defaults = chapter_defaults(chapter)
    assert set(names) == set(ev.CELLS[cell].params)
    assert {k: defaults[k] for k in names} == ev.CELLS[cell].params
    text = (CHAPTERS / f"{chapter}.md").read_text()
    assert f"{var} = {{k: P[k] for k in " in text and f'evidence.load("{cell}", **{var})' in text
    assert f".{attr}}}" in text.split(f"{var} = {{k: P[k] for k in ", 1)[1].split("\n", 1)[0]



def test_registered_compares_as_json_and_require_all_names_what_is_missing():
    assert ev.registered("relu-born-dead", {}) and ev.registered("relu-born-dead", {"born_samples": 1000.0})
    assert not ev.registered("relu-born-dead", {"born_samples": 999})
    with pytest.raises(TypeError, match=r"^the race takes every parameter of the evidence cell relu-born-dead; "
                                        r"missing: born_depths, born_samples$"):
        ev.require_all("relu-born-dead", {"born_widths": [2]}, "the race")


def test_a_guide_spot_block_recomputed_equals_its_part_of_the_stored_board():
    p = dict(activations=["relu", "tanh"], tasks=["digits", "regression"], seeds=2, epochs=1, deep_depth=2,
             deep_epochs=1, modern_epochs=1, regression_steps=20, digits_lrs=[0.01, 0.1], deep_lrs=[0.01],
             modern_lrs=[0.01], regression_lrs=[0.01], cnn_lrs=[0.01], cnn_channels=2, cnn_epochs=1,
             cnn_train=200, time_steps=0)
    stored = ev.loads(ev.dumps(lb.board_data(**p)))
    for task in ("digits", "regression"):
        block = ev.loads(ev.dumps(lb.board_data(**{**p, "tasks": [task], "only_seeds": [1]})))
        part = ev.loads(ev.dumps(lb.board_subset(stored, [task], [1])))
        assert ev.compare(part, block, 0, 0) is None, task
    assert "test_wrong" in part["results"][0] and part["results"][0]["test_wrong"] is None  # the regression's
