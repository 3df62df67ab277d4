import json

import pytest

from actlab import pipeline


@pytest.fixture(scope="session")
def quick_metrics() -> dict:
    """Every chapter executed in the quick profile (only what changed), its metrics by key."""
    pipeline.execute("quick", jobs=2)
    return json.loads((pipeline.out_dir("quick") / "metrics.json").read_text())


@pytest.fixture(scope="session")
def quick_site(quick_metrics):
    """The quick-profile book, built the way `make book` builds the full one."""
    return pipeline.build_html("quick")
