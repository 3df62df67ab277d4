"""The pipeline on a tiny throw-away book: change detection, parameters, failures."""
import json
import textwrap

import pytest

from actlab import pipeline

HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
"""


def chapter(body: str, params: str = "n = 3") -> str:
    return HEADER + textwrap.dedent(f"""
    # Demo

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
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("X = 1\n")
    (tmp_path / "requirements.lock").write_text("numpy==2\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                      "  - file: chapters/demo\n  - file: chapters/broken\n")
    (tmp_path / "chapters" / "demo.md").write_text(chapter(OK_BODY))
    (tmp_path / "chapters" / "broken.md").write_text(chapter("1 / 0"))
    (tmp_path / "chapters" / "profiles.toml").write_text("[quick.demo]\nn = 5\n")
    for name, value in {"ROOT": tmp_path, "CHAPTERS": tmp_path / "chapters",
                        "BUILD": tmp_path / "_build", "SRC": tmp_path / "src",
                        "LOCK": tmp_path / "requirements.lock",
                        "PROFILES": tmp_path / "chapters" / "profiles.toml"}.items():
        monkeypatch.setattr(pipeline, name, value)
    return tmp_path


def test_exercise_runs_are_performed_by_the_build_and_shared_with_make_chapter(book, capsys):
    """A "predict, then run" exercise: the book build runs it (quick profile + its parameters),
    in the folder `make chapter ... PROFILE=quick` uses, so the reader's command finds the same run."""
    md = book / "chapters" / "demo.md"
    md.write_text(md.read_text().replace("kernelspec:", "actlab:\n  exercises:\n    bigger: {n: 7}\nkernelspec:", 1))
    ran = pipeline.execute("full", ["demo"], jobs=1)
    assert set(ran) == {"demo", "demo (exercise run 'bigger')"}
    runs = pipeline.exercise_results(["demo"])
    assert runs["demo"]["bigger"]["metrics"] == {"twice": 14}
    assert runs["demo"]["bigger"]["command"] == 'make chapter NAME=demo PROFILE=quick ARGS="-p n 7"'
    assert set(pipeline.execute("quick", ["demo"], jobs=1)) == {"demo"}  # the exercise's run is shared
    capsys.readouterr()
    assert pipeline.main(["chapter", "demo", "--profile", "quick", "-p", "n", "7"]) == 0
    assert "nothing executed" in capsys.readouterr().out  # the reader's command: the build's run
    (book / "chapters" / "demo.md").write_text(md.read_text().replace("bigger: {n: 7}", "bigger: {nope: 7}"))
    with pytest.raises(pipeline.PipelineError, match="unknown parameter 'nope'"):
        pipeline.execute("full", ["demo"], jobs=1)


def test_reexecutes_only_on_change(book):
    assert pipeline.chapters() == ["demo", "broken"]
    ran = pipeline.execute("quick", ["demo"], jobs=1)
    assert list(ran) == ["demo"]
    metrics = json.loads((book / "_build" / "quick" / "metrics.json").read_text())
    assert metrics == {"demo.twice": 10}  # the quick profile's n = 5 reached the notebook
    assert pipeline.execute("quick", ["demo"], jobs=1) == {}  # no-op: nothing runs
    (book / "src" / "helper.py").write_text("X = 2\n")  # any change under src/
    assert list(pipeline.execute("quick", ["demo"], jobs=1)) == ["demo"]
    (book / "requirements.lock").write_text("numpy==3\n")
    assert list(pipeline.execute("quick", ["demo"], jobs=1)) == ["demo"]
    # parameters are part of the key: the full profile (n = 3) is a separate result
    assert list(pipeline.execute("full", ["demo"], jobs=1)) == ["demo"]
    assert json.loads((book / "_build" / "metrics.json").read_text()) == {"demo.twice": 6}


def test_bad_value_stops_with_one_sentence(book):
    with pytest.raises(pipeline.PipelineError) as e:
        pipeline.execute("quick", ["demo"], jobs=1, overrides={"n": 0})
    msg = str(e.value)
    assert "chapter 'demo' failed in code cell 2 of chapters/demo.md (`import actlab`)" in msg
    assert "ParameterError: parameter 'n' must be an integer from 1; got 0." in msg
    assert not (book / "_build" / "quick" / "executed" / "demo.ipynb").exists()


def test_unknown_name_is_refused_before_running(book):
    with pytest.raises(pipeline.PipelineError, match=r"chapter 'demo': unknown parameter 'm'; allowed: n\."):
        pipeline.execute("quick", ["demo"], jobs=1, overrides={"m": 1})


def test_failing_cell_fails_loudly_and_leaves_nothing_stale(book, capsys):
    html = book / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("stale")
    assert pipeline.main(["book", "--profile", "full", "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "chapter 'broken' failed in code cell 2 of chapters/broken.md" in err and "ZeroDivisionError" in err
    assert "(`1 / 0`)" in err
    assert not html.exists(), "a failed build must not leave the previous book in place"
    assert (book / "_build" / "failed" / "broken.ipynb").exists()
    assert (book / "_build" / "executed" / "demo.ipynb").exists()  # the good chapter still ran


def test_unknown_chapter_and_profile(book):
    with pytest.raises(pipeline.PipelineError, match="unknown chapter 'nope'"):
        pipeline.execute("quick", ["nope"])
    with pytest.raises(pipeline.PipelineError, match="profile must be one of full, quick"):
        pipeline.profile_params("slow", "demo")


def test_parameters_cell_must_be_literal(book):
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY, params="n = 3\n    m = n + 1"))
    with pytest.raises(pipeline.PipelineError, match="only literal assignments"):
        pipeline.execute("quick", ["demo"], jobs=1)


def test_cli_values_parse_as_literals():
    assert pipeline._value("10") == 10 and pipeline._value("0.5") == 0.5
    assert pipeline._value("['relu', 'tanh']") == ["relu", "tanh"] and pipeline._value("relu") == "relu"


def test_a_dead_kernel_is_reported_with_the_chapter_name(book):
    (book / "chapters" / "broken.md").write_text(chapter("import os\n    os._exit(3)"))
    with pytest.raises(pipeline.PipelineError, match="chapter 'broken'"):
        pipeline.execute("quick", ["broken"], jobs=1)
    assert not (book / "_build" / "quick" / "executed" / "broken.ipynb").exists()


# ---------------------------------------------------------------- hardening (each reproduced first)

def test_a_kernel_that_dies_before_it_starts_is_replaced(book, monkeypatch, capsys):
    """jupyter_client's port race ("Address already in use": seen once in CI) kills a kernel before
    it answers kernel_info; no cell ran, so the chapter starts another instead of failing. Twice
    in a row is also retried; a death on every try is reported as before."""
    import papermill

    real, calls = papermill.execute_notebook, []

    def flaky(*a, **kw):
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError(pipeline.KERNEL_NEVER_STARTED)
        return real(*a, **kw)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    job = pipeline._job("quick", "demo", {}, book / "plain")
    pipeline.run_job(job)  # in this process: papermill starts the kernel
    assert len(calls) == 3 and "twice" in json.loads((book / "plain" / "demo.metrics.json").read_text())
    assert capsys.readouterr().err.count("died before it started") == 2

    def dead(*a, **kw):
        calls.append(1)
        raise RuntimeError(pipeline.KERNEL_NEVER_STARTED)

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", dead)
    with pytest.raises(pipeline.PipelineError, match="chapter 'demo' stopped without finishing"):
        pipeline.run_job(pipeline._job("quick", "demo", {}, book / "plain2"))
    assert len(calls) == pipeline.KERNEL_START_TRIES


def test_editor_swap_file_under_src_does_not_reexecute(book):
    pipeline.execute("quick", ["demo"], jobs=1)
    (book / "src" / ".helper.py.swp").write_text("junk")
    (book / "src" / "notes.txt~").write_text("junk")
    assert pipeline.execute("quick", ["demo"], jobs=1) == {}


def test_metrics_file_is_strict_json_with_explicit_non_finite_values(book):
    (book / "chapters" / "demo.md").write_text(chapter("import actlab\n    actlab.record('never', float('inf'))"))
    pipeline.execute("quick", ["demo"], jobs=1)
    text = (book / "_build" / "quick" / "metrics.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert pipeline.load_metrics(text) == {"demo.never": float("inf")}


def test_reader_chapter_is_keyed_on_the_others_metrics_only(book):
    (book / "chapters" / "broken.md").write_text(
        HEADER.replace("---\n", "---\nactlab: {reads_metrics: true}\n", 1).replace("---\nactlab", "---\nactlab", 1)
        + "\n# Ledger\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nmetrics_file = ''\n```\n\n"
        "```{code-cell} ipython3\nimport actlab\nactlab.record('seen', 1)\n```\n")
    assert pipeline.reads_metrics("broken")
    assert sorted(pipeline.execute("quick", jobs=1)) == ["broken", "demo"]
    assert pipeline.execute("quick", jobs=1) == {}  # its own metrics changed nothing


def test_chapter_runs_are_kept_apart_and_never_touch_the_book(book, capsys):
    assert pipeline.main(["chapter", "demo", "-p", "n", "4"]) == 0
    assert pipeline.main(["chapter", "demo", "-p", "n", "7"]) == 0
    out = capsys.readouterr().out
    runs = sorted((book / "_build" / "chapter").glob("demo-*/demo.metrics.json"))
    assert len(runs) == 2 and {json.loads(p.read_text())["twice"] for p in runs} == {8, 14}
    assert str(runs[0].parent) in out or str(runs[1].parent) in out
    assert not (book / "_build" / "metrics.json").exists()
    # a failing rerun with the same parameters keeps the last good run
    good = pipeline.chapter_dir("demo", {"n": 4}) / "demo.ipynb"
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY + "\n    1 / 0"))
    assert pipeline.main(["chapter", "demo", "-p", "n", "4"]) == 1
    assert good.exists()


def test_failed_notebook_disappears_once_the_chapter_passes(book):
    with pytest.raises(pipeline.PipelineError):
        pipeline.execute("quick", ["broken"], jobs=1)
    failed = book / "_build" / "quick" / "failed" / "broken.ipynb"
    assert failed.exists()
    (book / "chapters" / "broken.md").write_text(chapter(OK_BODY))
    pipeline.execute("quick", ["broken"], jobs=1)
    assert not failed.exists()
    assert not list((book / "_build" / "quick" / "executed").glob(".*"))  # no temporary files left


def test_leftovers_of_a_killed_run_are_removed(book):
    ex = book / "_build" / "quick" / "executed"
    ex.mkdir(parents=True)
    (ex / ".demo.123.running.ipynb").write_text("{}")
    (ex / ".demo.123.input.ipynb").write_text("{}")
    pipeline.execute("quick", ["demo"], jobs=1)
    assert not list(ex.glob(".*"))


def test_stage_removes_a_chapter_dropped_from_the_book(book):
    pipeline.execute("quick", ["demo"], jobs=1)
    st = book / "_build" / "quick" / "stage"
    (st / "chapters").mkdir(parents=True)
    (st / "chapters" / "gone.ipynb").write_text("{}")
    (st / "_static" / "sources").mkdir(parents=True)
    (st / "_static" / "sources" / "gone.md").write_text("old")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n")
    (book / "intro.md").write_text("# Intro\n")
    for f in pipeline.BOOK_FILES:
        if not (book / f).exists():
            (book / f).write_text("title: t\n")
    pipeline.stage("quick")
    assert not (st / "chapters" / "gone.ipynb").exists() and not (st / "_static" / "sources" / "gone.md").exists()
    assert (st / "chapters" / "demo.ipynb").exists()


def test_unwritable_build_folder_is_one_sentence(book, capsys):
    # a file where a folder must go: fails for root too (a chmod would not)
    (book / "_build").mkdir()
    (book / "_build" / "quick").write_text("not a folder")
    assert pipeline.main(["execute", "--profile", "quick", "demo"]) == 1
    err = capsys.readouterr().err
    assert "FAILED: cannot write" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


CTRL_C = """
import sys, pathlib
from actlab import pipeline
root = pathlib.Path(sys.argv[1])
for name, value in {"ROOT": root, "CHAPTERS": root / "chapters", "BUILD": root / "_build",
                    "SRC": root / "src", "LOCK": root / "requirements.lock",
                    "PROFILES": root / "chapters" / "profiles.toml"}.items():
    setattr(pipeline, name, value)
sys.exit(pipeline.main(["book", "--profile", "quick", "--jobs", "1"]))
"""


def test_ctrl_c_reaches_the_main_thread_even_when_another_thread_takes_the_signal():
    """A process-wide SIGINT may be delivered to any thread (the pool's own threads included); a
    main thread blocked in one long wait then never raises until the chapter ends. Waiting in
    slices, it raises at the next slice. Here the future would only finish after 3 s."""
    import signal
    import threading
    import time
    from concurrent.futures import Future

    fut = Future()

    def poke():
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # to this thread, not the main one
        time.sleep(3)
        fut.set_result("the chapter finished")

    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a build's main() sets it
    try:
        threading.Thread(target=poke, daemon=True).start()
        t0 = time.time()
        with pytest.raises(KeyboardInterrupt):
            pipeline._result(fut)
        assert time.time() - t0 < 2
    finally:
        signal.signal(signal.SIGINT, old)


def test_ctrl_c_stops_within_seconds_with_one_line(book):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    slow = chapter("import time\n    for _ in range(600):\n        time.sleep(0.1)")
    for name in ("demo", "broken"):
        (book / "chapters" / f"{name}.md").write_text(slow)
    html = book / "_build" / "quick" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("the previous book")
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C, str(book)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    def is_kernel(p):  # one forked by the pipeline (actlab.kernels) is named so; one papermill started, by its command
        try:
            return "ipykernel" in p.name() + " ".join(p.cmdline())
        except psutil.NoSuchProcess:  # short-lived helpers come and go
            return False

    deadline, started = time.time() + 60, False
    while time.time() < deadline and not started:  # wait until a kernel runs the slow cell
        started = any(is_kernel(k) for k in psutil.Process(proc.pid).children(recursive=True))
        time.sleep(0.2)
    time.sleep(1.0)
    kids = psutil.Process(proc.pid).children(recursive=True)
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # say what it was doing, then clean up
        tree = []
        for p in psutil.Process(proc.pid).children(recursive=True) + kids:
            try:
                tree.append((p.pid, p.name(), p.status()))
                p.kill()
            except psutil.NoSuchProcess:
                pass
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"no exit 30 s after Ctrl-C (a kernel had started: {started}); "
                             f"processes {tree}; stdout {out!r}; stderr {err!r}") from None
    stopped = time.time() - t0
    assert proc.returncode == 130 and stopped < 10, (stopped, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    time.sleep(0.5)
    assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids), "a kernel survived"
    assert not html.exists(), "the previous book must not look current after an interrupt"
    assert not list((book / "_build" / "quick" / "executed").glob(".*"))


def test_second_build_waits_for_the_lock(book, capsys):
    import threading

    lock = pipeline.build_lock(book / "_build" / ".lock")
    with lock:
        t = threading.Thread(target=pipeline.main, args=(["execute", "--profile", "quick", "demo"],))
        t.start()
        t.join(timeout=1.5)
        assert t.is_alive(), "the second build must wait while the first holds the lock"
    t.join(timeout=120)
    assert not t.is_alive()
    assert "another build is running" in capsys.readouterr().err


def test_metrics_file_that_is_not_json_is_one_sentence(tmp_path):
    from actlab import claims

    bad = tmp_path / "metrics.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        claims.load(bad)
    assert claims.load(tmp_path / "missing.json") == {}


@pytest.mark.parametrize("name", ["sigmoid; touch {marker}", "sigmoid gallery", "nope", "$(touch {marker})"])
def test_make_chapter_refuses_a_name_that_is_not_a_chapter(name, tmp_path):
    import subprocess

    from actlab.paths import ROOT

    marker = tmp_path / "ran"
    proc = subprocess.run(["make", "-s", "chapter", f"NAME={name.format(marker=marker)}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and ("NAME must be" in proc.stderr or "usage" in proc.stderr)
    assert not marker.exists()


def _through_make(command: str):
    """A printed `make chapter ...` command through bash and make (dry run), as the pipeline's
    command line would parse it."""
    import shlex
    import subprocess

    from actlab.paths import ROOT

    proc = subprocess.run(["bash", "-c", command.replace("make ", "make -n ", 1)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "actlab.pipeline chapter" in l)
    words = shlex.split(line)
    return pipeline.parser().parse_args(words[words.index("actlab.pipeline") + 1:])


def _printed_commands():
    return [(n, pipeline.rerun_command(n)) for n in pipeline.chapters()
            if pipeline.front_matter(pipeline.CHAPTERS / f"{n}.md").get("actlab", {}).get("rerun", True)]


@pytest.mark.parametrize("name, command", _printed_commands(), ids=lambda v: v if "make" not in v else "")
def test_each_pages_printed_command_reaches_the_chapter_intact(name, command):
    """The box's command, through bash and make (dry run), gives exactly the suggested
    parameters, each one the chapter declares, and changes something (not a default)."""
    import jupytext

    args = _through_make(command)
    got = {k: pipeline._value(v) for k, v in args.parameter}
    assert args.name == name and got == pipeline.rerun_example(name) and got
    declared = pipeline.declared_parameters(jupytext.read(pipeline.CHAPTERS / f"{name}.md"))
    for k, v in got.items():
        assert k in declared and declared[k] != v, (k, v)


def _exercise_commands():
    return [(n, ex, pipeline.exercise_command(n, ex)) for n in pipeline.chapters() for ex in pipeline.exercise_runs(n)]


@pytest.mark.parametrize("name, ex, command", _exercise_commands(), ids=lambda v: v if "make" not in v else "")
def test_each_exercise_command_reaches_the_chapter_intact(name, ex, command):
    """An exercise's printed command, through bash and make (dry run), asks for exactly the run
    whose numbers its solution quotes."""
    args = _through_make(command)
    assert args.name == name and args.profile == pipeline.EXERCISE_PROFILE
    assert {k: pipeline._value(v) for k, v in args.parameter} == pipeline.exercise_runs(name)[ex]


def test_an_exercise_answer_is_what_a_fresh_run_of_its_command_records(tmp_path, quick_metrics):
    """The solution quotes the build's run; a fresh execution of the same command, in a folder
    of its own, gives the same metrics and the same executed notebook, figures included, byte
    for byte (the cheapest exercise of a chapter that times nothing, to keep the suite short;
    it is also the book's check that a chapter is reproducible)."""
    runs = [(pipeline._last_seconds(j), j) for n in pipeline.chapters() if not pipeline.runs_alone(n)
            for j in pipeline._exercise_jobs(n)]
    assert runs, "no chapter declares an exercise run"
    _, job = min(runs, key=lambda r: r[0])
    pipeline.run_job(pipeline.Job(job.name, job.params, tmp_path, job.key))
    for suffix in (".metrics.json", ".ipynb"):
        assert (tmp_path / f"{job.name}{suffix}").read_bytes() == (job.executed / f"{job.name}{suffix}").read_bytes(), \
            f"{job.title}: {suffix} differs between the build's run and a fresh one"


def test_a_printed_command_runs(tmp_path, quick_metrics):
    """One page's command for real, in the quick profile (all of them would take minutes). It
    takes the build lock, so it asks for the quick book: it then runs after the book's build
    instead of holding a test worker idle while it waits for the lock."""
    import subprocess

    from actlab.paths import ROOT

    command = pipeline.rerun_command("sigmoid") + " PROFILE=quick"
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


def test_importing_the_pipeline_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, actlab.pipeline; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_dead_worker_is_reported_once_not_as_every_pending_chapter(book):
    # the kernel kills the worker process that runs it (what the kernel OOM killer may do)
    (book / "chapters" / "demo.md").write_text(chapter("import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)"))
    (book / "chapters" / "broken.md").write_text(chapter(OK_BODY))
    with pytest.raises(pipeline.PipelineError) as e:
        pipeline.execute("quick", ["demo", "broken"], jobs=1)
    msg = str(e.value)
    assert msg.count("worker process died") == 1 and "demo" in msg, msg
    assert len(msg.strip().splitlines()) == 1, msg


def test_where_nothing_was_timed_yet_the_declared_longest_chapter_starts_first(book, capsys):
    def finished():  # one worker: the chapters in the order they were submitted
        pipeline.execute("quick", ["demo", "broken"], jobs=1)
        return [line.split(":")[0].split("] ")[1] for line in capsys.readouterr().out.splitlines()
                if "executed in" in line]

    md = book / "chapters" / "broken.md"
    md.write_text(chapter(OK_BODY).replace("kernelspec:", "actlab:\n  full_seconds: 30\nkernelspec:", 1))
    assert finished() == ["broken", "demo"]
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY + "\n    import time\n    time.sleep(0.5)"))
    md.write_text(md.read_text() + "\n")  # both run again: now each one's own last time decides
    (book / "_build" / "quick" / "executed" / "broken.stats.json").write_text('{"seconds": 0.1, "peak_mb": 1}')
    assert finished() == ["demo", "broken"]
