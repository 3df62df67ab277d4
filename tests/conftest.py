import pytest
import torch
from hypothesis import settings

from actlab import kernels, pipeline
from actlab.record import load_metrics

# The same examples on every run: a test that passes must pass again in CI.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")

# One torch thread per pytest worker: two workers on two cores, each with torch's default of one
# thread per core, oversubscribe the machine (the chapters run on one thread too, see
# actlab.seeding). Set before any test builds a tensor.
torch.set_num_threads(1)
# and memory reused as in a chapter's kernel (actlab.kernels.tune_malloc): the tests train ensembles too
kernels.tune_malloc()



@pytest.fixture(scope="session")
def quick_metrics() -> dict:
    """Every chapter executed in the quick profile (only what changed), its metrics by key.
    Under the build lock: with pytest-xdist the other worker waits, then finds it all done."""
    with pipeline.build_lock(pipeline.BUILD / ".lock"):
        pipeline.execute("quick", jobs=2)
    return load_metrics((pipeline.out_dir("quick") / "metrics.json").read_text())


@pytest.fixture(scope="session")
def quick_site(quick_metrics):
    """The quick-profile book, built the way `make book` builds the full one."""
    with pipeline.build_lock(pipeline.BUILD / ".lock"):
        return pipeline.build_html("quick")


def pytest_collection_modifyitems(config, items):
    """The tests that need the quick book first (its browser tests first of all), the rest after.
    With `-n 2 --dist worksteal` the first worker gets the first half of the list: it starts on
    the book (its build holds both cores' worth of chapters) while the second runs everything
    that needs no book, instead of both waiting for the build; it then takes over the first
    worker's queue from its end."""
    book = {"quick_metrics", "quick_site"}
    # within the book's tests the browser ones (the long ones) first, so that short ones fill the end
    items.sort(key=lambda item: (not book & set(getattr(item, "fixturenames", ())),
                                 item.get_closest_marker("browser") is None))  # stable
