"""The build on a tiny throw-away book, through the same commands `make book` runs: what
re-executes, failures, interruptions, damaged files and the lock."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from actlab import contents, paths, pipeline, staging

HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
"""


def chapter(body: str, params: str = "n = 3") -> str:
    return HEADER + textwrap.dedent(f"""
    # Demo

    Some prose.

    ```{{code-cell}} ipython3
    :tags: [parameters]

    {params}
    ```

    ```{{code-cell}} ipython3
    {body}
    ```
    """)


OK_BODY = ("import actlab\\nfrom actlab.params import check, integer\\n"
           "P = check(n=(n, integer(lo=1)))\\nactlab.record('twice', 2 * n)").replace("\\n", "\n    ")


@pytest.fixture
def book(tmp_path, monkeypatch):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "requirements.lock").write_text("numpy==2\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                      "  - file: chapters/demo\n  - file: chapters/broken\n")
    (tmp_path / "chapters" / "demo.md").write_text(chapter(OK_BODY))
    (tmp_path / "chapters" / "broken.md").write_text(chapter("1 / 0"))
    (tmp_path / "chapters" / "profiles.toml").write_text("[quick.demo]\nn = 5\n")
    for name, value in {"ROOT": tmp_path, "CHAPTERS": tmp_path / "chapters",
                        "BUILD": tmp_path / "_build", "LOCK": tmp_path / "requirements.lock",
                        "PROFILES": tmp_path / "chapters" / "profiles.toml"}.items():
        for module in (paths, contents, staging, pipeline):  # each holds its own copy of the name
            if hasattr(module, name):
                monkeypatch.setattr(module, name, value)
    monkeypatch.setenv("ACTLAB_ROOT", str(tmp_path))
    return tmp_path


def run(*args, **kw) -> subprocess.CompletedProcess:
    """`python -m actlab.pipeline ARGS` on the throw-away book (ACTLAB_ROOT), as make runs it."""
    return subprocess.run([sys.executable, "-m", "actlab.pipeline", *args], capture_output=True, text=True,
                          timeout=300, **kw)


def _own_tracebacks(err: str) -> int:
    """Tracebacks in ``err`` other than pyzmq's: rarely, under load, a kernel's socket is closed while
    papermill's event loop still holds a callback for it, and zmq logs "Socket operation on
    non-socket" at teardown (seen once in a parallel test run; the chapter's result is unaffected)."""
    return err.count("Traceback") - err.count("zmq.error.ZMQError: Socket operation on non-socket")


def executed(proc) -> list[str]:
    return sorted(line.split("] ")[1].split(":")[0] for line in proc.stdout.splitlines() if "executed in" in line)


def test_reexecutes_only_what_changed(book):
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    first = run("execute", "--profile", "quick")
    assert executed(first) == ["demo"], first.stderr
    assert json.loads((book / "_build" / "quick" / "metrics.json").read_text()) == {"demo.twice": 10}
    again = run("execute", "--profile", "quick")
    assert executed(again) == [] and "nothing executed" in again.stdout
    md = book / "chapters" / "demo.md"
    md.write_text(md.read_text().replace("Some prose.", "Other prose."))  # prose: rendering only
    assert executed(run("execute", "--profile", "quick")) == []
    (book / "requirements.lock").write_text("numpy==3\n")
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    md.write_text(md.read_text().replace("2 * n", "n + n"))  # code: re-executed
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    (book / "chapters" / "profiles.toml").write_text("[quick.demo]\nn = 6\n")
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    assert json.loads((book / "_build" / "quick" / "metrics.json").read_text()) == {"demo.twice": 12}
    assert executed(run("execute", "--profile", "full")) == ["demo"]  # the full profile is its own result
    assert json.loads((book / "_build" / "metrics.json").read_text()) == {"demo.twice": 6}


def test_a_chapter_answers_its_exercise_itself_and_prints_its_command(book):
    """An exercise is the chapter's experiment with the exercise's parameters, computed in the
    chapter's own run (no second run), recorded as ID__metric; its command reproduces it."""
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    md = book / "chapters" / "demo.md"
    answer = ("\nfrom actlab.contents import exercise\nfrom actlab.record import record_all\n"
              "record_all({'twice': 2 * exercise('demo', 'bigger')['n']}, exercise='bigger')")
    md.write_text(chapter(OK_BODY + answer.replace("\n", "\n    ")).replace(
        "kernelspec:", "actlab:\n  exercises:\n    bigger: {n: 7}\nkernelspec:", 1))
    assert executed(run("execute", "--profile", "full")) == ["demo"]
    assert json.loads((book / "_build" / "metrics.json").read_text()) == {"demo.twice": 6, "demo.bigger__twice": 14}
    runs = staging.exercise_results(book / "_build" / "executed", ["demo"])
    assert runs == {"demo": {"bigger": {"command": 'make chapter NAME=demo PROFILE=quick ARGS="-p n 7"',
                                        "metrics": {"twice": 14}}}}
    md.write_text(md.read_text().replace("bigger: {n: 7}", "other: {n: 7}"))
    proc = run("execute", "--profile", "full")
    assert proc.returncode == 1 and "declares no exercise 'bigger'" in proc.stderr


def test_bad_value_or_name_stops_with_one_sentence(book):
    proc = run("chapter", "demo", "--profile", "quick", "-p", "n", "0")
    assert proc.returncode == 1
    assert "chapter 'demo' failed in code cell 2 of chapters/demo.md (`import actlab`)" in proc.stderr
    assert "ParameterError: parameter 'n' must be an integer from 1; got 0." in proc.stderr
    proc = run("chapter", "demo", "-p", "m", "1")
    assert proc.returncode == 1 and "chapter 'demo': unknown parameter 'm'; allowed: n." in proc.stderr
    proc = run("chapter", "nope")
    assert proc.returncode == 1 and "unknown chapter 'nope'" in proc.stderr


def test_failing_cell_fails_loudly_and_leaves_nothing_stale(book):
    html = book / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("stale")
    (book / "_build" / "metrics.json").write_text("{}")
    proc = run("book", "--profile", "full")
    assert proc.returncode == 1
    assert "chapter 'broken' failed in code cell 2 of chapters/broken.md (`1 / 0`)" in proc.stderr
    assert "ZeroDivisionError" in proc.stderr and "***" not in proc.stderr  # not make's echo of it
    assert not html.exists() and not (book / "_build" / "metrics.json").exists()
    assert (book / "_build" / "failed" / "broken.ipynb").exists()
    assert (book / "_build" / "executed" / "demo.ipynb").exists()  # the good chapter still ran
    (book / "chapters" / "broken.md").write_text(chapter(OK_BODY))
    assert executed(run("execute", "--profile", "full")) == ["broken"]
    assert not (book / "_build" / "failed" / "broken.ipynb").exists()  # history once it passes
    assert not list((book / "_build" / "executed").glob(".*"))  # no temporary files left


def test_parameters_cell_must_be_literal(book):
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY, params="n = 3\n    m = n + 1"))
    proc = run("chapter", "demo")
    assert proc.returncode == 1 and "only literal assignments" in proc.stderr


def test_metrics_file_is_strict_json_with_explicit_non_finite_values(book):
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    (book / "chapters" / "demo.md").write_text(chapter("import actlab\n    actlab.record('never', float('inf'))"))
    run("execute", "--profile", "quick")
    text = (book / "_build" / "quick" / "metrics.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert pipeline.load_metrics(text) == {"demo.never": float("inf")}


def test_reader_chapter_reads_the_others_metrics_and_only_they_rerun_it(book):
    (book / "chapters" / "broken.md").write_text(
        HEADER.replace("---\n", "---\nactlab: {reads_metrics: true}\n", 1)
        + "\n# Ledger\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nmetrics_file = ''\n```\n\n"
        "```{code-cell} ipython3\nimport json, actlab\nfrom actlab import paths\n"
        "actlab.record('seen', json.loads((paths.ROOT / metrics_file).read_text())['demo.twice'])\n```\n")
    assert executed(run("execute", "--profile", "quick")) == ["broken", "demo"]
    assert json.loads((book / "_build" / "quick" / "metrics.json").read_text())["broken.seen"] == 10
    assert executed(run("execute", "--profile", "quick")) == []  # its own metrics changed nothing
    md = book / "chapters" / "demo.md"
    md.write_text(md.read_text().replace("2 * n", "n * 3"))  # another chapter's metrics: the ledger re-runs
    assert executed(run("execute", "--profile", "quick")) == ["broken", "demo"]
    assert json.loads((book / "_build" / "quick" / "metrics.json").read_text())["broken.seen"] == 15


def test_chapter_runs_are_kept_apart_and_never_touch_the_book(book):
    assert run("chapter", "demo").returncode == 0  # no parameters: still a folder of its own
    assert not (book / "_build" / "executed").exists()
    assert run("chapter", "demo", "-p", "n", "4").returncode == 0
    out = run("chapter", "demo", "-p", "n", "7").stdout
    runs = sorted((book / "_build" / "chapter").glob("demo-*/demo.metrics.json"))
    assert len(runs) == 3 and {json.loads(p.read_text())["twice"] for p in runs} == {6, 8, 14}
    assert str(pipeline.chapter_dir("demo", {"n": 7})) in out and "recorded metrics: twice=14" in out
    assert not (book / "_build" / "metrics.json").exists()
    good = pipeline.chapter_dir("demo", {"n": 4}) / "demo.ipynb"  # a failing rerun keeps the last good run
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY + "\n    1 / 0"))
    assert run("chapter", "demo", "-p", "n", "4").returncode == 1
    assert good.exists()


def test_damaged_or_missing_outputs_are_rebuilt_not_reported_current(book):
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    ex = book / "_build" / "quick" / "executed"
    (ex / "demo.metrics.json").write_text('{"x')  # a corrupt cache entry whose inputs did not change
    proc = run("execute", "--profile", "quick")
    assert proc.returncode == 0 and executed(proc) == ["demo"], proc.stderr
    assert "did not read back" in proc.stderr and _own_tracebacks(proc.stderr) == 0, proc.stderr
    nb = ex / "demo.ipynb"
    nb.write_text(nb.read_text()[:100])  # a truncated notebook
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    (ex / ".demo.123.running.ipynb").write_text("{}")  # a killed run's leftovers
    nb.unlink()
    assert executed(run("execute", "--profile", "quick")) == ["demo"]
    assert not list(ex.glob(".*"))


def test_stage_removes_a_chapter_dropped_from_the_book(book):
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    run("execute", "--profile", "quick")
    st = book / "_build" / "quick" / "stage"
    (st / "chapters").mkdir(parents=True)
    (st / "chapters" / "gone.ipynb").write_text("{}")
    (st / "_static" / "sources").mkdir(parents=True)
    (st / "_static" / "sources" / "gone.md").write_text("old")
    (book / "intro.md").write_text("# Intro\n")
    for f in staging.BOOK_FILES:
        if not (book / f).exists():
            (book / f).write_text("title: t\n")
    staging.stage("quick")
    assert not (st / "chapters" / "gone.ipynb").exists() and not (st / "_static" / "sources" / "gone.md").exists()
    staged = (st / "chapters" / "demo.ipynb").read_text()
    assert "Some prose." in staged
    md = book / "chapters" / "demo.md"
    md.write_text(md.read_text().replace("Some prose.", "Edited prose.").replace(
        "```{code-cell} ipython3\nimport actlab", "```{code-cell} ipython3\n---\nmystnb:\n  figure:\n"
        "    caption: An edited caption.\n---\nimport actlab"))
    staging.stage("quick")  # the page takes the prose as it is now, captions too, with the outputs it had
    staged = (st / "chapters" / "demo.ipynb").read_text()
    assert "Edited prose." in staged and "An edited caption." in staged and '"twice"' in staged


def test_unwritable_build_folder_is_one_sentence(book):
    (book / "_build").mkdir()  # a file where a folder must go: fails for root too (a chmod would not)
    (book / "_build" / "quick").write_text("not a folder")
    proc = run("execute", "--profile", "quick")
    assert proc.returncode == 1 and "FAILED: cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


SLOW = chapter("import time\n    for _ in range(600):\n        time.sleep(0.1)")


def _start_slow_build(book) -> tuple[subprocess.Popen, list]:
    for name in ("demo", "broken"):
        (book / "chapters" / f"{name}.md").write_text(SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "actlab.pipeline", "book", "--profile", "quick", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:  # until both kernels run the slow cell
        kernels = [k for k in psutil.Process(proc.pid).children(recursive=True) if _is_kernel(k)]
        if len(kernels) == 2:
            time.sleep(1.0)
            return proc, psutil.Process(proc.pid).children(recursive=True)
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no kernels started: {proc.communicate()}")


def _is_kernel(p) -> bool:
    try:
        return "ipykernel" in " ".join(p.cmdline())
    except psutil.NoSuchProcess:
        return False


def _none_alive(procs, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        if not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_build_stops_within_seconds_with_one_line(book, how):
    html = book / "_build" / "quick" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("the previous book")
    proc, kids = _start_slow_build(book)
    t0 = time.time()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    else:
        proc.terminate()
    out, err = proc.communicate(timeout=30)
    stopped = time.time() - t0
    assert proc.returncode == 130 and stopped < 3, (stopped, err)
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert _none_alive(kids, within=2.0), "a runner or kernel outlived the build"
    assert not html.exists(), "the previous book must not look current after an interrupt"
    assert not list((book / "_build" / "quick" / "executed").glob(".*"))


def test_a_killed_build_takes_everything_it_started_with_it(book):
    html = book / "_build" / "quick" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("the previous book")
    proc, kids = _start_slow_build(book)
    proc.kill()  # kill -9: no handler runs
    proc.wait()
    assert _none_alive(kids, within=3.0), "make, a runner or a kernel outlived a killed build"
    assert not html.exists()  # removed when the build started: it had work to do
    assert not (book / "_build" / "quick" / "executed" / "demo.ipynb").exists()


def test_second_build_waits_for_the_lock_which_rm_cannot_take(book):
    import threading

    with pipeline.build_lock():
        import shutil

        shutil.rmtree(book / "_build", ignore_errors=True)  # the lock is on the checkout itself
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("p", run("execute", "--profile", "quick")))
        t.start()
        t.join(timeout=3)
        assert t.is_alive(), "the second build must wait while the first holds the lock"
    t.join(timeout=120)
    assert "another build is running" in out["p"].stderr and out["p"].returncode == 1  # then runs (broken fails)


def test_a_no_op_book_notices_a_deleted_or_changed_page(book):
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapters/demo\nchapters:\n  - file: chapters/broken\n")
    (book / "chapters" / "broken.md").write_text(chapter(OK_BODY))
    (book / "_config.yml").write_text("title: t\nexecute: {execute_notebooks: 'off'}\n"
                                      "sphinx: {config: {nb_execution_mode: 'off'}}\n")
    first = run("book", "--profile", "quick")
    assert first.returncode == 0, first.stderr
    assert "nothing executed or rendered" in run("book", "--profile", "quick").stdout
    page = book / "_build" / "quick" / "html" / "chapters" / "broken.html"
    page.write_text("overwritten")
    again = run("book", "--profile", "quick")
    assert "HTML built" in again.stdout and executed(again) == [] and "overwritten" not in page.read_text()
    page.unlink()
    assert "HTML built" in run("book", "--profile", "quick").stdout and page.exists()


def test_an_exercise_answer_is_what_a_fresh_run_of_its_command_records(tmp_path, quick_metrics):
    """A solution quotes the chapter's own computation with the exercise's parameters; the
    command it prints, run afresh in a folder of its own, records the same numbers (the
    cheapest exercise of a chapter that times nothing, to keep the suite short)."""
    def seconds(name):
        return json.loads((paths.out_dir("quick") / "executed" / f"{name}.stats.json").read_text())["seconds"]

    runs = [(seconds(n), n, ex) for n in contents.chapters() if not contents.runs_alone(n)
            for ex in contents.exercises(n)]
    assert runs, "no chapter declares an exercise"
    _, name, ex = min(runs)
    args = contents.exercise(name, ex)
    pipeline.run_chapter(name, pipeline.params_for(contents.EXERCISE_PROFILE, name, args), tmp_path)
    fresh = json.loads((tmp_path / f"{name}.metrics.json").read_text())
    answer = {k.split(".", 1)[1].partition("__")[2]: v for k, v in quick_metrics.items()
              if k.startswith(f"{name}.{ex}__")}
    assert answer, f"{name}: exercise '{ex}' has no recorded answer"
    for k, v in answer.items():
        assert pipeline.load_metrics(json.dumps({k: fresh[k]})) == {k: v}, \
            f"{name}, exercise '{ex}': the book recorded {k} = {v!r}, its command {fresh[k]!r}"


def test_a_printed_command_runs(tmp_path, quick_metrics):
    """One page's command for real, in the quick profile (all of them would take minutes). It
    takes the build lock, so it asks for the quick book: it then runs after the book's build
    instead of holding a test worker idle while it waits for the lock."""
    import subprocess

    from actlab.paths import ROOT

    command = contents.rerun_command("sigmoid") + " PROFILE=quick"
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "executed notebook:" in proc.stdout


def test_a_chapter_runs_outside_the_pipeline_as_the_readme_says(tmp_path):
    """`make notebook` then papermill, as a reader would without the book's pipeline."""
    import subprocess

    from actlab.paths import ROOT

    proc = subprocess.run(["make", "-s", "notebook", "NAME=saturation"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    nb = ROOT / "_build" / "notebooks" / "saturation.ipynb"
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "papermill"), str(nb), str(out), "-p", "x_max", "20.0",
                           "--cwd", str(ROOT / "chapters")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists() and "x_max = 20.0" in out.read_text()


