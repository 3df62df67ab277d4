"""The book's build, on make and papermill.

    chapters/NAME.md --jupytext--> notebook --papermill(profile params)--> <out>/executed/NAME.ipynb
    executed notebooks + current prose --staged copy--> jupyter-book build (execution off) --> <out>/html

make decides what is stale (``book.mk``, with the rules ``rules`` writes: each chapter depends
on its code cells, its parameters and the package modules it imports, never on its prose) and
runs the chapters two at a time; this module writes those rules, runs one chapter and drives
make (``actlab.staging`` stages and renders the book). The driver (``book``/``execute``) holds
the checkout's lock and reports in one line.

Commands (``python -m actlab.pipeline ...``; the Makefile wraps them):

    book    [--profile full|quick] [--jobs N]   execute what changed, then build the HTML
    execute [--profile P] [--jobs N]             execute only (and write metrics.json)
    chapter NAME [--profile P] [-p KEY VALUE ...]  run one chapter with these parameters
    rules PROFILE | run PROFILE NAME | gather PROFILE | html PROFILE   (make's steps)
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from actlab import evidence
from actlab.contents import (
    PROFILE_NAMES,
    PipelineError,
    chapters,
    declared_parameters,
    exercises,
    header,
    keyed_on_environment,
    profile_params,
    reads_metrics,
    runs_alone,
    toc_files,
)
from actlab.evidence import write_atomic
from actlab.paths import BUILD, CHAPTERS, LOCK, ROOT, out_dir
from actlab.record import load_metrics, metrics_json
from actlab.staging import BOOK_FILES, build_html, site_is_intact

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
PACKAGE = Path(__file__).resolve().parent  # make regenerates the rules when a module here changes
ENGINE = Path(__file__).resolve().parents[2] / "book.mk"
PEAK_BUDGET_MB = 1536  # a chapter's kernel above this is reported in the build log


def environment_key() -> str:
    import platform

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    return "\n".join([git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no"),
                      platform.platform(), platform.processor(), str(os.cpu_count())])


# ---------------------------------------------------------------- what a chapter depends on

def module_files(source: str) -> list[Path]:
    """The package files that code importing these modules runs: its imports' transitive closure."""
    return sorted({evidence.source_file(m) for top in evidence.imports_of(source) for m in evidence.code_modules(top)})


def code_cells(nb) -> list[dict]:
    """What executing a chapter depends on in its source: its code cells, not its prose."""
    return [{"source": c.source, "tags": c.metadata.get("tags", [])} for c in nb.cells if c.cell_type == "code"]


def _write_if_changed(path: Path, text: str):
    """make compares times: a file rewritten with the same bytes would re-run what depends on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        write_atomic(path, text)


def params_for(profile: str, name: str, overrides: dict | None = None) -> dict:
    params = {**profile_params(profile, name), **(overrides or {})}
    if reads_metrics(name):
        params.setdefault("metrics_file", str((out_dir(profile) / "others.metrics.json").relative_to(ROOT)))
    return params


def write_rules(profile: str) -> Path:
    """make's rules for one profile (``<out>/rules.mk``), with the stamps they depend on: each
    chapter's code cells and parameters, written only when they change."""
    import jupytext

    out = out_dir(profile)
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    lock = [rel(LOCK)] if LOCK.exists() else []
    rules, notebooks, shared = [], [], []
    names = chapters()
    for name in names:
        nb = jupytext.read(CHAPTERS / f"{name}.md")
        code = BUILD / ".code" / f"{name}.json"
        _write_if_changed(code, json.dumps(code_cells(nb), indent=0))
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        deps = [rel(code), *map(str, module_files(source)), *lock]
        deps += [rel(evidence.store_path(c)) for c in evidence.CELLS if f'"{c}"' in source]  # the data it loads
        target = out / "executed" / f"{name}.ipynb"
        params = out / "params" / f"{name}.json"
        # what the run reads besides its code: its parameters, and its exercises' (from the header)
        inputs = {"parameters": params_for(profile, name), "exercises": exercises(name)}
        _write_if_changed(params, json.dumps(inputs, sort_keys=True))
        extra = ""
        if keyed_on_environment(name):
            deps.append(rel(out / "environment.txt"))
        if reads_metrics(name):
            deps.append(rel(out / "others.metrics.json"))
        elif runs_alone(name) and profile != "quick":
            extra = " | $(SHARED)"  # after the others: it times things (quick timings are direction-only)
        rules.append(f"{rel(target)}: {rel(params)} {' '.join(deps)}{extra}\n\t@$(RUN) run {profile} {name}\n")
        notebooks.append(rel(target))
        if not reads_metrics(name) and not runs_alone(name):
            shared.append(rel(target))
    others = [n for n, name in zip(notebooks, names, strict=True) if not reads_metrics(name)]
    # make starts prerequisites in the order listed: the longest declared runs first
    order = {rel(out / "executed" / f"{n}.ipynb"): -float(header(n).get("full_seconds", 0)) for n in names}
    notebooks.sort(key=lambda t: order[t])
    pages = [rel(ROOT / f"{f}.md") for f in toc_files()] + [f for f in BOOK_FILES if (ROOT / f).exists()]
    site = [rel(p) for d in (ROOT / "_static", PACKAGE / "static") if d.is_dir() for p in sorted(d.iterdir())]
    site += [rel(PACKAGE / f"{m}.py") for m in ("sphinxext", "staging", "contents")]  # how a page is rendered
    site += [rel(CHAPTERS / "references.bib")] if (CHAPTERS / "references.bib").exists() else []
    text = (f"# written by `python -m actlab.pipeline rules {profile}`: do not edit\n"
            f"NOTEBOOKS := {' '.join(notebooks)}\nSHARED := {' '.join(shared)}\n\n" + "\n".join(rules)
            + f"\n{rel(out / 'others.metrics.json')}: {' '.join(others)}\n\t@$(RUN) gather {profile} --others\n"
            + f"\n{rel(out / 'metrics.json')}: $(NOTEBOOKS)\n\t@$(RUN) gather {profile}\n"
            + f"\n{rel(out / 'html.stamp')}: {rel(out / 'metrics.json')} {' '.join(pages + site)}\n"
            + f"\t@$(RUN) html {profile}\n")
    path = out / "rules.mk"
    _write_if_changed(path, text)
    path.touch()  # newer than what it was made from, or make would remake it on every run
    return path


# ---------------------------------------------------------------- running one chapter

def _first_line(src: str) -> str:
    lines = [line for line in src.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return (lines[0][:70] + ("…" if len(lines[0]) > 70 else "")) if lines else ""


def _failing_cell(nb, err) -> tuple[int, str]:
    """(1-based position among the chapter's own code cells, source) of the cell that raised.
    Papermill's cell_index counts its injected cells and error banners, which the author
    never wrote, so we look for the error output instead."""
    k = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        k += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return k, cell.source
    return 0, err.source


# A kernel that dies before it answers its first request ran no cell, so another can be started.
KERNEL_NEVER_STARTED = "Kernel died before replying to kernel_info"
KERNEL_START_TRIES = 3


@functools.cache  # one class for every chapter this process runs
def _kernel_manager_class():
    """papermill's kernel manager, with the kernel's sockets as files in the temp folder instead of
    TCP ports. Over TCP jupyter_client picks free ports and the kernel binds them later, so a kernel
    started beside another (two workers, two builds) could lose one ("Address already in use")."""
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class SocketFileKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self):
            return "ipc"

        @default("ip")
        def _ip_default(self):  # an absolute, unique prefix: the kernel runs in the chapter's folder
            return os.path.join(tempfile.gettempdir(), f"actlab-kernel-{uuid.uuid4().hex[:16]}")

    return SocketFileKernelManager


def run_chapter(name: str, params: dict, executed: Path, *, title: str = "", keep_previous: bool = False,
                source: Path | None = None) -> tuple[float, float]:
    """Execute one chapter with papermill; on success publish its notebook and metrics atomically
    (the notebook last: it is what make checks). Returns (seconds, the kernel's peak memory in MB)."""
    import resource

    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from actlab.record import metrics_from_notebook

    title = title or name
    start = time.perf_counter()
    source = source or CHAPTERS / f"{name}.md"
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = KERNELSPEC
    declared = declared_parameters(nb)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise PipelineError(f"chapter '{name}': unknown parameter '{unknown[0]}'; allowed: {allowed}.")
    executed.mkdir(parents=True, exist_ok=True)
    final = executed / f"{name}.ipynb"
    if not keep_previous:  # a stale result must never survive a failed or killed re-run
        for suffix in (".ipynb", ".metrics.json"):
            (executed / f"{name}{suffix}").unlink(missing_ok=True)
    src = executed / f".{name}.{os.getpid()}.input.ipynb"
    running = executed / f".{name}.{os.getpid()}.running.ipynb"
    failed = BUILD / "failed" / f"{name}.ipynb"
    nbformat.write(nb, src)
    try:
        for attempt in range(KERNEL_START_TRIES):
            try:
                papermill.execute_notebook(
                    str(src), str(running), parameters=params, kernel_name="python3",
                    cwd=str(source.parent), progress_bar=False, log_output=False,
                    # papermill rewrites the whole notebook before and after every cell by default
                    request_save_on_cell_execute=False, kernel_manager_class=_kernel_manager_class(),
                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
                break
            except PapermillExecutionError as e:
                failed.parent.mkdir(parents=True, exist_ok=True)
                os.replace(running, failed)
                k, src_text = _failing_cell(nbformat.read(failed, as_version=4), e)
                raise PipelineError(
                    f"chapter '{title}' failed in code cell {k} of chapters/{name}.md "
                    f"(`{_first_line(src_text)}`): {e.ename}: {e.evalue}\n  the failed notebook: {failed}") from None
            except Exception as e:  # the kernel died (killed for memory?) or could not start
                running.unlink(missing_ok=True)
                if KERNEL_NEVER_STARTED in str(e) and attempt + 1 < KERNEL_START_TRIES:
                    print(f"[{title}] its kernel died before it started; starting another", file=sys.stderr)
                    continue
                raise PipelineError(f"chapter '{title}' stopped without finishing: its kernel died "
                                    f"({type(e).__name__}: {str(e)[:200]}). Parameters: {json.dumps(params)}") from None
    finally:
        src.unlink(missing_ok=True)
    try:
        executed_nb = nbformat.read(running, as_version=4)
        write_atomic(executed / f"{name}.metrics.json", metrics_json(metrics_from_notebook(executed_nb)))
        normalise(executed_nb, name)
        write_atomic(final, nbformat.writes(executed_nb))
    finally:
        running.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)  # the chapter passes now: its failed notebook is history
    seconds = time.perf_counter() - start
    # this process runs one kernel and has reaped it: the largest child's peak is the kernel's
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    write_atomic(executed / f"{name}.stats.json", json.dumps({"seconds": round(seconds, 1), "peak_mb": round(peak_mb)}))
    return seconds, peak_mb


def _read_json(path: Path, raw: bool = False) -> dict:
    """A build file that does not read back is stale, not a traceback: removed, and named.
    ``raw``: as stored (non-finite values as ``{"float": "inf"}``), else decoded."""
    try:
        return json.loads(path.read_text()) if raw else load_metrics(path.read_text())
    except (ValueError, UnicodeDecodeError):
        path.unlink(missing_ok=True)
        raise PipelineError(f"{path} did not read back (a damaged file?); it was removed, so the next "
                            "build recomputes it.") from None


def normalise(nb, name: str):
    """Stable executed notebooks: papermill's timestamps, durations and temporary paths
    dropped, cell ids by position, so two runs of a chapter give the same bytes."""
    pm = nb.metadata.get("papermill", {})
    for k in ("start_time", "end_time", "duration", "exception"):
        pm.pop(k, None)
    if "input_path" in pm:
        pm["input_path"] = pm["output_path"] = f"{name}.ipynb"
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "id" in cell:
            cell["id"] = f"cell-{i}"


def collect_metrics(profile: str, readers: bool = True) -> dict:
    """All chapters' metrics keyed ``chapter.metric``; without the chapters that read them
    when ``readers`` is false (the ledger must not read its own previous output)."""
    executed = out_dir(profile) / "executed"
    out = {}
    for name in chapters():
        f = executed / f"{name}.metrics.json"
        if f.exists() and (readers or not reads_metrics(name)):
            for k, v in _read_json(f).items():
                out[f"{name}.{k}"] = v
    return out


# ---------------------------------------------------------------- staging and HTML

def _value(text: str):
    """A ``-p`` value: a Python literal if it parses as one, a list written ``[relu,tanh]``
    (bare words, so no quotes inside quotes on a command line), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        t = text.strip()
        if t.startswith("[") and t.endswith("]"):
            return [_value(item.strip()) for item in t[1:-1].split(",") if item.strip()]
        return text


def chapter_dir(name: str, overrides: dict, profile: str = "full") -> Path:
    """Where ``make chapter`` puts one run: apart from the book, one folder per parameter set
    (and profile, other than the full one)."""
    what = json.dumps(overrides, sort_keys=True) + ("" if profile == "full" else f" profile={profile}")
    tag = hashlib.sha256(what.encode()).hexdigest()[:8]
    return BUILD / "chapter" / f"{name}-{tag}"




# ---------------------------------------------------------------- the driver: lock, make, report

class Interrupted(PipelineError):
    """Ctrl-C or SIGTERM: make and the chapters it runs are stopped."""


def build_lock():
    """One build at a time per checkout: a lock held on the checkout's own directory, which no
    ``rm`` of a build file can take away (it goes when this process does). A second build waits."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def held():
        fd = os.open(ROOT, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"another build is running in this checkout (it holds the lock on {ROOT}); "
                      "waiting for it to finish", file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    return held()


def mark_stale(profile: str):
    """Before a build that has work to do, and after a failure or an interrupt, nothing may look
    current: the book and its metrics go."""
    base = out_dir(profile)
    shutil.rmtree(base / "html", ignore_errors=True)
    for f in ("html.stamp", "metrics.json"):
        (base / f).unlink(missing_ok=True)


def _remove_leftovers():
    """Temporary files of a run that was killed (we hold the build lock: no run is live)."""
    if BUILD.exists():
        for p in BUILD.rglob(".*"):
            if p.is_file() and p.name.endswith((".running.ipynb", ".input.ipynb", ".tmp")):
                p.unlink(missing_ok=True)


def _drop_damaged(folders):
    """A cached result that does not read back (a truncated or overwritten file) is removed with its
    notebook, so make runs the chapter again, instead of failing every later build."""
    for folder in folders:
        for f in sorted(folder.glob("*.metrics.json")) + sorted(folder.glob("*.ipynb")):
            if not f.exists():  # its pair was damaged and is gone already
                continue
            try:
                json.loads(f.read_text())
            except (ValueError, UnicodeDecodeError):
                name = f.name.split(".")[0]
                print(f"{f} did not read back (a damaged file?); chapter '{name}' runs again", file=sys.stderr)
                for suffix in (".ipynb", ".metrics.json"):
                    (folder / f"{name}{suffix}").unlink(missing_ok=True)


NOISE = ("***", "not remade because of errors", "Nothing to be done")  # make's echo of failures we report


def run_make(profile: str, goal: str, jobs: int = 2) -> bool:
    """Bring ``goal`` (``html`` or ``executed``) up to date with make; False if it already was.
    Raises PipelineError naming every chapter that failed, Interrupted on Ctrl-C or SIGTERM."""
    out = out_dir(profile)
    _write_if_changed(out / "environment.txt", environment_key())
    _remove_leftovers()
    _drop_damaged([out / "executed", *(BUILD / "chapter").glob("*")])
    if not site_is_intact(profile):
        (out / "html.stamp").unlink(missing_ok=True)
    make = ["make", "-f", str(ENGINE), "-C", str(ROOT), "--no-print-directory", f"PROFILE={profile}",
            f"PY={sys.executable}", f"PACKAGE={PACKAGE}", goal]
    env = {**os.environ, "ACTLAB_ROOT": str(ROOT)}
    if subprocess.run([*make, "-q"], env=env, capture_output=True).returncode == 0:
        return False
    mark_stale(profile)
    # its own session, so a terminal's Ctrl-C reaches make through us (one line, below); setpriv:
    # a killed driver takes make with it, and each chapter's runner goes with make (book.mk)
    proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", *make, f"-j{jobs}", "-k"], env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    failures = []
    try:
        for line in proc.stderr:
            if line.startswith("error: "):
                failures.append(line[7:].rstrip())
                if not line.startswith("error:   "):  # a failure's first line, as it happens
                    sys.stderr.write(line)
            elif not any(n in line for n in NOISE):
                sys.stderr.write(line)
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()  # make passes SIGTERM to the runners it started; a runner's kernel follows it
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()  # the runners then die with make (setpriv --pdeathsig in book.mk)
        _remove_leftovers()
        mark_stale(profile)
        raise Interrupted("interrupted: the running chapters were stopped; the previous book and metrics were "
                          "removed (rebuild with `make book`)") from None
    if proc.returncode:
        mark_stale(profile)
        raise PipelineError("\n".join(failures) or f"make stopped (exit {proc.returncode})")
    return True


def build(profile: str = "full", jobs: int = 2, html: bool = True) -> bool:
    """Execute what changed and write ``metrics.json``, then (``html``) render the book; False when
    everything was up to date."""
    ran = run_make(profile, "html" if html else "executed", jobs)
    if not ran:
        print(f"[{profile}] every chapter is up to date" + (" and the site is intact; nothing executed or rendered"
                                                            if html else "; nothing executed"), flush=True)
    return ran


# ---------------------------------------------------------------- command line

def _parse(argv: list[str]) -> tuple[str, dict, dict]:
    """``CMD [ARG ...] [--profile P] [--jobs N] [--others] [-p KEY VALUE ...]``:
    by hand, so that a value such as ``-1e999`` is a value, not an option."""
    if not argv:
        raise PipelineError(__doc__.split("\n\n")[-1].strip())
    cmd, rest, opts, params, pos = argv[0], argv[1:], {}, {}, []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in ("-p", "--parameter"):
            if len(rest) - i < 3:
                raise PipelineError("-p takes a parameter's name and its value: -p KEY VALUE.")
            params[rest[i + 1]] = _value(rest[i + 2])
            i += 3
        elif a in ("--profile", "--jobs"):
            if i + 1 >= len(rest):
                raise PipelineError(f"{a} needs a value.")
            opts[a[2:]] = rest[i + 1]
            i += 2
        elif a == "--others":
            opts["others"], i = True, i + 1
        else:
            pos.append(a)
            i += 1
    opts["args"] = pos
    profile = opts.get("profile", pos[0] if cmd in ("rules", "run", "gather", "html") and pos else "full")
    if profile not in PROFILE_NAMES:
        raise PipelineError(f"profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}.")
    opts["profile"] = profile
    jobs = opts.get("jobs", "2")
    if not jobs.isdigit() or not 1 <= int(jobs) <= (os.cpu_count() or 1) * 4:
        raise PipelineError(f"--jobs must be a whole number from 1 to {(os.cpu_count() or 1) * 4}; got {jobs!r}.")
    opts["jobs"] = int(jobs)
    return cmd, opts, params


def _chapter(name: str, profile: str, overrides: dict, book: bool = False) -> Path:
    """One run: the book's own (make's ``run`` step, ``book``), or a reader's ``make chapter``,
    which goes to a folder of its parameters and keeps its last good run if this one fails."""
    if name not in chapters():
        raise PipelineError(f"unknown chapter '{name}'; chapters: {', '.join(chapters())}.")
    where = out_dir(profile) / "executed" if book else chapter_dir(name, overrides, profile)
    title = name
    secs, peak = run_chapter(name, params_for(profile, name, overrides), where, title=title,
                             keep_previous=not book)
    over = f" (over the {PEAK_BUDGET_MB} MB budget)" if peak > PEAK_BUDGET_MB else ""
    print(f"[{profile}] {title}: executed in {secs:.1f} s, peak memory {peak:.0f} MB{over}", flush=True)
    return where


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    start = time.perf_counter()
    # Ctrl-C stops a build even where it was started with SIGINT ignored (a shell's background
    # job); SIGTERM stops it the same way
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cmd, opts, params = _parse(argv)
        profile, args = opts["profile"], opts["args"]
        if cmd == "rules":  # make's steps: run under the driver's lock
            write_rules(profile)
        elif cmd == "run":
            _chapter(args[1], profile, {}, book=True)
        elif cmd == "gather":
            missing = [n for n in chapters() if not reads_metrics(n)
                       and not (out_dir(profile) / "executed" / f"{n}.metrics.json").exists()]
            if missing:  # a ledger of half the book would look like a verdict on all of it
                raise PipelineError(f"chapter(s) {', '.join(missing)} have no metrics; run `make book` first.")
            metrics = collect_metrics(profile, readers=not opts.get("others"))
            target = out_dir(profile) / ("others.metrics.json" if opts.get("others") else "metrics.json")
            # always written (its mtime must follow its inputs for `make -q`): the ledger re-runs
            # after any chapter does, a few seconds
            write_atomic(target, metrics_json(metrics))
        elif cmd == "html":
            build_html(profile)
        elif cmd in ("book", "execute", "chapter"):
            with build_lock():
                if cmd == "chapter":
                    if not args:
                        raise PipelineError("usage: chapter NAME [-p KEY VALUE ...]")
                    where = _chapter(args[0], profile, params)
                    metrics = load_metrics((where / f"{args[0]}.metrics.json").read_text())
                    print(f"executed notebook: {where / (args[0] + '.ipynb')}")
                    shown = ", ".join(f"{k}={v!r}" for k, v in list(metrics.items())[:8])
                    more = f", … ({len(metrics)} in all: {where / args[0]}.metrics.json)" if len(metrics) > 8 else ""
                    print(f"recorded metrics: {shown}{more}")
                else:
                    build(profile, opts["jobs"], html=cmd == "book")
        else:
            raise PipelineError(f"unknown command {cmd!r}; commands: book, execute, chapter, rules, run, gather, html.")
    except KeyboardInterrupt:
        print("interrupted: stopped; nothing from this run was published", file=sys.stderr)
        return 130
    except Interrupted as e:
        print(f"\n{e}", file=sys.stderr)
        return 130
    except (PipelineError, OSError) as e:
        if isinstance(e, OSError):  # a missing file, a read-only or full disk: one sentence, no traceback
            import errno

            if e.errno == errno.ENOENT:
                e = PipelineError(f"{e.filename} is missing.")
            else:
                why = "the disk is full" if e.errno == errno.ENOSPC else e.strerror
                e = PipelineError(f"cannot write {e.filename or 'the build folder'} ({why}); free space or make "
                                  f"{BUILD} writable, or remove it with `make clean`.")
        # make's steps report on lines of their own, which the driver collects
        step = argv and argv[0] in ("run", "rules", "gather", "html")
        print("\n".join(f"error: {line}" for line in str(e).splitlines()) if step else f"\nFAILED: {e}",
              file=sys.stderr)
        return 1
    if argv[0] in ("book", "execute", "chapter"):
        print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def _interrupt(*_):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
