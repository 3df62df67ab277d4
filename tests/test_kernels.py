"""Kernels forked from a warm zygote (actlab.kernels) against kernels started the usual way."""
import json
import os
import subprocess
import sys
import time

import psutil
import pytest
from test_pipeline import book, chapter  # noqa: F401  (the throw-away book fixture)

from actlab import kernels, pipeline

pytestmark = pytest.mark.skipif(not kernels.available(), reason="forked kernels are Linux only")

# what a chapter could notice about the process it runs in; the last line draws a figure the
# usual way (pyplot, shown by the inline backend at the end of the cell)
PROBE = "\n    ".join([
    "import json, os, sys", "import matplotlib", "import matplotlib.pyplot as plt", "import actlab",
    "actlab.record('cwd', os.getcwd())",
    "actlab.record('path', json.dumps([p for p in sys.path if p]))",
    "actlab.record('backend', matplotlib.get_backend())",
    "actlab.record('mplbackend', os.environ.get('MPLBACKEND', ''))",
    "actlab.record('comm', open('/proc/self/comm').read().strip())",
    "_ = plt.plot([0, 1], [0, 1])"])


def test_a_forked_kernel_sees_what_a_freshly_started_one_sees(book):  # noqa: F811
    import nbformat

    (book / "chapters" / "demo.md").write_text(chapter(PROBE))
    pipeline.execute("quick", ["demo"], jobs=1)  # in a pipeline worker: a forked kernel
    out = book / "_build" / "quick" / "executed"
    forked = json.loads((out / "demo.metrics.json").read_text())
    job = pipeline._job("quick", "demo", {}, book / "plain")
    pipeline.run_job(job)  # here, with no zygote: papermill starts the kernel
    plain = json.loads((book / "plain" / "demo.metrics.json").read_text())
    assert forked.pop("comm") == "ipykernel" and plain.pop("comm") != "ipykernel"  # forked, and not
    assert forked == plain
    assert forked["cwd"] == str(book / "chapters")
    for folder in (out, book / "plain"):  # pyplot's figure reached the notebook in both
        nb = nbformat.read(folder / "demo.ipynb", as_version=4)
        assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])), folder


# Ten 4 MiB arrays made and freed together, twenty times: page faults after a warm-up.
FAULTS = "\n    ".join([
    "import resource, numpy as np", "import actlab",
    "def faults():",
    "    for k in range(23):",
    "        if k == 3:",
    "            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt",
    "        a = [np.ones(1 << 19) for _ in range(10)]",
    "        del a",
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before",
    "actlab.record('faults', faults())"])


def test_a_kernel_keeps_freed_memory_instead_of_faulting_it_in_again(book):  # noqa: F811
    """kernels.tune_malloc: with glibc's defaults the 40 MiB freed at the heap's top is handed back
    and faulted in again on every round (about 100,000 faults); a chapter's kernel reuses it."""
    import textwrap

    plain = textwrap.dedent("    " + FAULTS).replace("actlab.record('faults', faults())", "print(faults())")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc's defaults
    control = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, check=True, env=env).stdout
    (book / "chapters" / "demo.md").write_text(chapter(FAULTS))
    pipeline.execute("quick", ["demo"], jobs=1)
    kernel = json.loads((book / "_build" / "quick" / "executed" / "demo.metrics.json").read_text())["faults"]
    assert int(control) > 50_000 and kernel < 1_000, (control, kernel)


def test_the_zygote_imports_what_the_chapters_import_and_no_more(book):  # noqa: F811
    (book / "chapters" / "demo.md").write_text(chapter("import numpy as np\n    from actlab import params, record"))
    modules = kernels.imported_modules([book / "chapters" / "demo.md"])
    assert {"numpy", "actlab", "actlab.params", "actlab.record"} <= set(modules)
    assert not any(m.startswith("torch") for m in modules)  # a chapter without torch pays nothing for it


def test_the_zygote_imports_what_deterministic_would_import_in_every_kernel(book):  # noqa: F811
    from actlab.seeding import FIRST_CALL_IMPORTS

    (book / "chapters" / "demo.md").write_text(chapter("import actlab\n    actlab.deterministic(0)"))
    assert set(FIRST_CALL_IMPORTS) <= set(kernels.imported_modules([book / "chapters" / "demo.md"]))
    # the call really imports them (if torch stops doing so, FIRST_CALL_IMPORTS is stale)
    probe = ("import sys, actlab; from actlab.seeding import FIRST_CALL_IMPORTS as m; "
             "a = [x in sys.modules for x in m]; actlab.deterministic(0); print(a, [x in sys.modules for x in m])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("] [")
    assert "True" not in out[0] and "False" not in out[1], out


def test_each_kernel_reports_its_own_peak_memory_and_none_outlives_the_build(book):  # noqa: F811
    started = time.time()
    big = "import numpy as np\n    a = np.ones(50_000_000)  # 400 MB\n    a.sum()"
    (book / "chapters" / "demo.md").write_text(chapter(big))
    (book / "chapters" / "broken.md").write_text(chapter("x = 1"))
    pipeline.execute("quick", ["demo", "broken"], jobs=1)  # one worker: the small one runs after the big one
    stats = {n: json.loads((book / "_build" / "quick" / "executed" / f"{n}.stats.json").read_text())
             for n in ("demo", "broken")}
    assert stats["demo"]["peak_mb"] > stats["broken"]["peak_mb"] + 300, stats
    def ours():  # leaked kernels and zygotes are adopted by init, not by this process: look everywhere
        out = []
        for p in psutil.process_iter(["name", "ppid", "cwd", "create_time", "status"]):
            i = p.info
            if (i["name"] in ("ipykernel", "kernel-zygote") and (i["create_time"] or 0) >= started - 1
                    and i["status"] != psutil.STATUS_ZOMBIE
                    and (i["ppid"] == 1 or str(book) in (i["cwd"] or ""))):
                out.append((p.pid, i["name"], i["ppid"]))
        return out

    deadline = time.time() + 10
    while ours() and time.time() < deadline:
        time.sleep(0.1)
    assert not ours(), f"processes left behind: {ours()}"  # zygotes and kernels
