"""Shared fixtures: the quick book, built once by the book's own engine, and the test tiers
(``make check`` runs what is not marked ``book``; ``make test`` runs the rest after it)."""
import os

import pytest
import torch
from hypothesis import settings

from actlab import paths, pipeline
from actlab.record import load_metrics

# The same examples on every run: a test that passes must pass again in CI.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")

# One torch thread per pytest worker: two workers on two cores, each with torch's default of one
# thread per core, oversubscribe the machine (the chapters run on one thread too, see
# actlab.seeding). Set before any test builds a tensor.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _denormals_back_on():
    """An experiment's actlab.deterministic flushes subnormal floats to zero for its thread (fast
    sweeps); hypothesis refuses to draw floats in that state, so a later test in the same worker
    would fail by order. Each test leaves the flag as it found it: off."""
    yield
    torch.set_flush_denormal(False)


# test files whose every test runs kernels or the book (the rest are the fast tier)
BOOK_MODULES = {"test_pipeline", "test_site", "test_browser", "test_chapters", "test_baseline"}


def _build(goal: str):
    """The quick book through `python -m actlab.pipeline`, as `make quick` runs it (it takes the
    checkout's lock: with pytest-xdist the other worker waits, then finds it all done)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "actlab.pipeline", goal, "--profile", "quick", "--jobs", "2"],
                          capture_output=True, text=True, env={**os.environ, "ACTLAB_ROOT": str(pipeline.ROOT)})
    assert proc.returncode == 0, f"the quick book's {goal} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="session")
def quick_metrics() -> dict:
    """Every chapter executed in the quick profile (only what changed), its metrics by key."""
    _build("execute")
    return load_metrics((paths.out_dir("quick") / "metrics.json").read_text())


@pytest.fixture(scope="session")
def quick_site(quick_metrics):
    """The quick-profile book, built the way `make book` builds the full one."""
    _build("book")
    return paths.out_dir("quick") / "html"


def pytest_collection_modifyitems(config, items):
    """Mark the book's tier; within it, the tests that need the quick book first (its browser
    tests first of all). With `-n 2 --dist worksteal` the first worker starts on the book while
    the second runs what needs none."""
    book = {"quick_metrics", "quick_site"}
    for item in items:
        if book & set(getattr(item, "fixturenames", ())) or item.module.__name__ in BOOK_MODULES:
            item.add_marker(pytest.mark.book)
    items.sort(key=lambda item: (not book & set(getattr(item, "fixturenames", ())),
                                 item.get_closest_marker("browser") is None))  # stable
