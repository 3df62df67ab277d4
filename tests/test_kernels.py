"""Kernels forked from a warm zygote (actlab.kernels) against kernels started the usual way."""
import json
import os
import time

import psutil
import pytest
from test_pipeline import book, chapter  # noqa: F401  (the throw-away book fixture)

from actlab import kernels, pipeline

pytestmark = pytest.mark.skipif(not kernels.available(), reason="forked kernels are Linux only")

# what a chapter could notice about the process it runs in
PROBE = "\n    ".join([
    "import json, os, sys", "import matplotlib", "import actlab",
    "actlab.record('cwd', os.getcwd())",
    "actlab.record('path', json.dumps([p for p in sys.path if p]))",
    "actlab.record('backend', matplotlib.get_backend())",
    "actlab.record('mplbackend', os.environ.get('MPLBACKEND', ''))"])


def test_a_forked_kernel_sees_what_a_freshly_started_one_sees(book):  # noqa: F811
    (book / "chapters" / "demo.md").write_text(chapter(PROBE))
    pipeline.execute("quick", ["demo"], jobs=1)  # in a pipeline worker: a forked kernel
    forked = json.loads((book / "_build" / "quick" / "executed" / "demo.metrics.json").read_text())
    job = pipeline._job("quick", "demo", {}, book / "plain")
    pipeline.run_job(job)  # here, with no zygote: papermill starts the kernel
    plain = json.loads((book / "plain" / "demo.metrics.json").read_text())
    assert forked == plain
    assert forked["cwd"] == str(book / "chapters")


def test_the_zygote_imports_what_the_chapters_import_and_no_more(book):  # noqa: F811
    (book / "chapters" / "demo.md").write_text(chapter("import numpy as np\n    from actlab import params, record"))
    modules = kernels.imported_modules([book / "chapters" / "demo.md"])
    assert {"numpy", "actlab", "actlab.params", "actlab.record"} <= set(modules)
    assert not any(m.startswith("torch") for m in modules)  # a chapter without torch pays nothing for it


def test_each_kernel_reports_its_own_peak_memory_and_none_outlives_the_build(book):  # noqa: F811
    big = "import numpy as np\n    a = np.ones(50_000_000)  # 400 MB\n    a.sum()"
    (book / "chapters" / "demo.md").write_text(chapter(big))
    (book / "chapters" / "broken.md").write_text(chapter("x = 1"))
    pipeline.execute("quick", ["demo", "broken"], jobs=1)  # one worker: the small one runs after the big one
    stats = {n: json.loads((book / "_build" / "quick" / "executed" / f"{n}.stats.json").read_text())
             for n in ("demo", "broken")}
    assert stats["demo"]["peak_mb"] > stats["broken"]["peak_mb"] + 300, stats
    def ours():
        out = []
        for p in psutil.Process(os.getpid()).children(recursive=True):
            try:
                if p.name() in ("ipykernel", "kernel-zygote") or "spawn_main" in " ".join(p.cmdline()):
                    out.append((p.pid, p.name()))
            except psutil.NoSuchProcess:
                pass
        return out

    deadline = time.time() + 10
    while ours() and time.time() < deadline:
        time.sleep(0.1)
    assert not ours(), f"processes left behind: {ours()}"  # workers, their zygotes and kernels
