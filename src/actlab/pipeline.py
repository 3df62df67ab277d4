"""The book's one execution pipeline.

    chapters/NAME.md --jupytext--> notebook --papermill(profile params)--> <out>/executed/NAME.ipynb
    executed notebooks + pages --staged copy--> jupyter-book build (execution off) --> <out>/html

A chapter is re-executed only when its key changes: the hash of its text, of every file
under ``src/``, of ``requirements.lock`` and of its parameters (and, for a chapter that
reads the others' metrics, of those metrics). jupyter-cache would key on code cells only.

Commands (``python -m actlab.pipeline ...``; the Makefile wraps them):

    book    [--profile full|quick] [--jobs N]   execute what changed, then build the HTML
    execute [--profile P] [CHAPTER ...]          execute only
    chapter NAME [-p KEY VALUE ...]             run one chapter with these parameters
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from actlab import kernels
from actlab.interactive import DATA_DIR, VEGA_DIR
from actlab.interactive import MIME as DATA_MIME
from actlab.paths import BUILD, CHAPTERS, LOCK, PROFILES, ROOT, SRC
from actlab.record import load_metrics, metrics_json

PROFILE_NAMES = ("full", "quick")
BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class PipelineError(RuntimeError):
    """A failure the user must see: the message names the chapter and what went wrong."""


# ---------------------------------------------------------------- chapters and profiles

def toc_files() -> list[str]:
    """Every file the table of contents names, without suffix, relative to the root."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                if "file" in child:
                    files.append(child["file"])
                walk(child)

    walk(toc)
    return [str(Path(f).with_suffix("")) for f in files]


def front_matter(md: Path) -> dict:
    """The YAML header of a MyST file (jupytext keeps its notebook metadata there)."""
    import yaml

    text = md.read_text()
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4:text.index("\n---", 3)]) or {}


def is_notebook(md: Path) -> bool:
    """A chapter is a notebook when its jupytext header declares a kernelspec."""
    return "kernelspec" in front_matter(md)


def chapters() -> list[str]:
    """Notebook chapters, in reading order."""
    out = []
    for f in toc_files():
        md = ROOT / f"{f}.md"
        if f.startswith("chapters/") and md.exists() and is_notebook(md):
            out.append(Path(f).name)
    return out


def runs_alone(name: str) -> bool:
    """Chapters that time things (``actlab: {runs_alone: true}``) get the machine to themselves."""
    return bool(front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("runs_alone"))


def reads_metrics(name: str) -> bool:
    """Chapters that read the others' recorded metrics (``actlab: {reads_metrics: true}``) run last."""
    return bool(front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("reads_metrics"))


def keyed_on_environment(name: str) -> bool:
    """Chapters that describe the build (``actlab: {keyed_on_environment: true}``) re-run when
    the git commit, the working tree or the machine changes."""
    return bool(front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("keyed_on_environment"))


def environment_key() -> bytes:
    import platform

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return b""
    return b"|".join([git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no"),
                      platform.platform().encode(), platform.processor().encode(), str(os.cpu_count()).encode()])


def profile_params(profile: str, name: str) -> dict:
    """The parameter overrides a profile sets for one chapter (``full`` = defaults + these)."""
    if profile not in PROFILE_NAMES:
        raise PipelineError(f"profile must be one of {', '.join(PROFILE_NAMES)}; got {profile!r}.")
    table = tomllib.loads(PROFILES.read_text()) if PROFILES.exists() else {}
    return dict(table.get(profile, {}).get(name, {}))


def declared_parameters(nb) -> dict:
    """Names and literal defaults of the ``parameters``-tagged cell."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            # papermill injects its values in a cell *after* this one, so anything derived
            # here would keep its default: only literal assignments are allowed.
            out = {}
            for node in ast.parse(cell.source).body:
                simple = (isinstance(node, ast.Assign) and len(node.targets) == 1
                          and isinstance(node.targets[0], ast.Name))
                try:
                    value = ast.literal_eval(node.value) if simple else None
                except ValueError:
                    simple = False
                if not simple:
                    raise PipelineError("a parameters cell holds only literal assignments "
                                        f"`name = value`; line {node.lineno} is not one.")
                out[node.targets[0].id] = value
            return out
    return {}


def out_dir(profile: str) -> Path:
    return BUILD if profile == "full" else BUILD / profile


# ---------------------------------------------------------------- change detection

SOURCE_SUFFIXES = (".py", ".css", ".js")  # the package, its Sphinx extension, stylesheet and script


# what only the HTML depends on (site_key hashes it); a chapter's execution does not
HTML_ONLY = ("sphinxext.py", "static")


def _hash_tree(h, root: Path, exclude: tuple[str, ...] = ()):
    """The package's source files only: an editor's swap file or a cache must not re-execute the book."""
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in rel.parts
                and not any(part.startswith(".") for part in rel.parts)
                and not (rel.parts[0] == "actlab" and len(rel.parts) > 1 and rel.parts[1] in exclude)):
            h.update(str(rel).encode())
            h.update(p.read_bytes())


def chapter_key(name: str, params: dict, extra: bytes = b"") -> str:
    h = hashlib.sha256()
    h.update((CHAPTERS / f"{name}.md").read_bytes())
    _hash_tree(h, SRC, exclude=HTML_ONLY)
    h.update(LOCK.read_bytes() if LOCK.exists() else b"")
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(extra)
    return h.hexdigest()


# ---------------------------------------------------------------- execution

@dataclass
class Job:
    """Everything a worker needs, passed explicitly (workers are spawned, not forked)."""
    name: str
    params: dict
    executed: Path  # folder for NAME.ipynb, NAME.key, NAME.metrics.json
    key: str
    source: Path = None  # chapters/NAME.md
    keep_previous: bool = False  # `make chapter`: a failed run leaves the last good one in place
    exercise: str = ""  # the exercise whose run this is, if any

    @property
    def title(self) -> str:
        return f"{self.name} (exercise run '{self.exercise}')" if self.exercise else self.name

    def __post_init__(self):
        if self.source is None:
            self.source = CHAPTERS / f"{self.name}.md"


def _first_line(src: str) -> str:
    lines = [l for l in src.splitlines() if l.strip() and not l.lstrip().startswith("#")]
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
# jupyter_client picks free ports and the new kernel then binds them: another process can take one
# in between ("Address already in use"), a known race of two builds or test workers starting kernels.
KERNEL_NEVER_STARTED = "Kernel died before replying to kernel_info"
KERNEL_START_TRIES = 3


def run_job(job: Job) -> tuple[str, float, dict]:
    """Execute one chapter; on success, atomically publish notebook, key and metrics."""
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from actlab.record import metrics_from_notebook

    start = time.perf_counter()
    nb = jupytext.read(job.source)
    nb.metadata["kernelspec"] = KERNELSPEC
    declared = declared_parameters(nb)
    unknown = sorted(set(job.params) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise PipelineError(f"chapter '{job.name}': unknown parameter '{unknown[0]}'; "
                            f"allowed: {allowed}.")
    job.executed.mkdir(parents=True, exist_ok=True)
    final = job.executed / f"{job.name}.ipynb"
    if not job.keep_previous:  # a stale result must never survive a failed re-run
        for suffix in (".ipynb", ".key", ".metrics.json"):
            (job.executed / f"{job.name}{suffix}").unlink(missing_ok=True)
    tag = f"{os.getpid()}"  # unique per run: two runs never share a temporary file
    src = job.executed / f".{job.name}.{tag}.input.ipynb"
    running = job.executed / f".{job.name}.{tag}.running.ipynb"
    failed = job.executed.parent / "failed" / f"{job.name}.ipynb"
    nbformat.write(nb, src)
    # the kernel's own start-up warnings are noise in the build log
    kernel_args = ["--IPKernelApp.log_level=CRITICAL"]
    try:
        for attempt in range(KERNEL_START_TRIES):
            zygote, forked = kernels.zygote(), None
            try:
                if zygote is not None:  # a fresh kernel, forked with the imports done (actlab.kernels)
                    try:
                        forked = kernels.forked_kernel_manager(zygote, str(job.source.parent), kernel_args)
                    except kernels.ZygoteGone:  # papermill starts this kernel, and this worker's next ones
                        kernels.forget_zygote()
                papermill.execute_notebook(
                    str(src), str(running), parameters=job.params, kernel_name="python3",
                    cwd=str(job.source.parent), progress_bar=False, log_output=False,
                    # papermill rewrites the whole notebook (images included) before and after every
                    # cell by default: 2 to 3.5 s of a 54 s chapter. It still writes it once at the
                    # end, and the failing one on an error.
                    request_save_on_cell_execute=False,
                    extra_arguments=kernel_args, **({"km": forked[0]} if forked else {}),
                )
                break
            except PapermillExecutionError as e:
                failed.parent.mkdir(exist_ok=True)
                os.replace(running, failed)
                k, src_text = _failing_cell(nbformat.read(failed, as_version=4), e)
                raise PipelineError(
                    f"chapter '{job.title}' failed in code cell {k} of chapters/{job.name}.md "
                    f"(`{_first_line(src_text)}`): {e.ename}: {e.evalue}\n"
                    f"  the failed notebook: {failed}") from None
            except Exception as e:  # the kernel died (killed for memory?) or could not start
                running.unlink(missing_ok=True)
                if KERNEL_NEVER_STARTED in str(e) and attempt + 1 < KERNEL_START_TRIES:
                    print(f"[{job.title}] its kernel died before it started ({str(e)[:120]}); starting another",
                          file=sys.stderr, flush=True)
                    continue
                raise PipelineError(
                    f"chapter '{job.title}' stopped without finishing ({type(e).__name__}: {str(e)[:200]}); if its "
                    f"kernel was killed, memory may be the cause. Parameters: {json.dumps(job.params)}") from None
            finally:
                peak_mb = kernels.release(*forked) if forked else None
    finally:
        src.unlink(missing_ok=True)
    try:
        executed_nb = nbformat.read(running, as_version=4)
        metrics = metrics_from_notebook(executed_nb)
        write_atomic(job.executed / f"{job.name}.metrics.json", metrics_json(metrics))
        normalise(executed_nb, job.name)
        write_atomic(final, nbformat.writes(executed_nb))
        write_atomic(job.executed / f"{job.name}.key", job.key)
    finally:
        running.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)  # the chapter passes now: its failed notebook is history
    seconds = time.perf_counter() - start
    if peak_mb is None:  # a kernel started by papermill: the largest of the worker's children (one
        # job per worker where there is no zygote; after a zygote died, an upper bound)
        import resource

        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    write_atomic(job.executed / f"{job.name}.stats.json", json.dumps({"seconds": round(seconds, 1),
                                                                       "peak_mb": round(peak_mb)}))
    return job.name, seconds, peak_mb


def write_atomic(path: Path, text: str):
    """Write a temporary file beside ``path``, then replace: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


def _last_seconds(job: Job) -> float:
    """How long this run took last time; on a machine where it never ran, the full profile's time
    the chapter declares (``actlab: {full_seconds: ...}``), so the longest chapters still start first."""
    f = job.executed / f"{job.name}.stats.json"
    if f.exists():
        return float(json.loads(f.read_text())["seconds"])
    return 0.0 if job.exercise else float(front_matter(job.source).get("actlab", {}).get("full_seconds", 0))


def _is_fresh(job: Job) -> bool:
    key = job.executed / f"{job.name}.key"
    return (job.executed / f"{job.name}.ipynb").exists() and key.exists() and key.read_text() == job.key


def collect_metrics(profile: str, readers: bool = True) -> dict:
    """All chapters' metrics keyed ``chapter.metric``; without the chapters that read them
    when ``readers`` is false (the ledger's key must not hash its own previous output)."""
    executed = out_dir(profile) / "executed"
    out = {}
    for name in chapters():
        f = executed / f"{name}.metrics.json"
        if f.exists() and (readers or not reads_metrics(name)):
            for k, v in load_metrics(f.read_text()).items():
                out[f"{name}.{k}"] = v
    return out


class Interrupted(PipelineError):
    """Ctrl-C: queued chapters cancelled, running kernels stopped."""


def _stop_workers(pool):
    """Kill the pool's workers and everything they started (papermill's kernels)."""
    import psutil

    for proc in list(getattr(pool, "_processes", {}).values()):
        try:
            parent = psutil.Process(proc.pid)
            for child in parent.children(recursive=True):
                child.kill()
            parent.kill()
        except psutil.NoSuchProcess:
            pass


def _result(fut):
    """``fut.result()``, waiting in short slices: Ctrl-C's signal can be delivered to one of the
    pool's threads, and then a main thread blocked in one long wait never sees it; between two
    slices it does, and stops the build within half a second."""
    from concurrent.futures import wait

    while not wait([fut], timeout=0.5).done:
        pass
    return fut.result()


def _start_worker(modules: list[str], path: list[str]):
    """Workers leave Ctrl-C to the main process, which stops them and their kernels itself;
    each sets up malloc for its kernels, then forks their zygote while it has no threads
    (actlab.kernels)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernels.tune_malloc()  # before the zygote forks: its kernels inherit it
    if modules:
        kernels.start_zygote(modules, path)


def _run_wave(todo: list[Job], width: int, profile: str, timings: dict, failures: list):
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    # spawned workers (nothing inherited by fork) that fork each chapter's kernel from their
    # zygote; without one (not Linux), one job per worker, whose RUSAGE_CHILDREN peak is its kernel's
    modules = kernels.imported_modules([j.source for j in todo]) if kernels.available() else []
    pool = ProcessPoolExecutor(max_workers=max(1, min(width, len(todo))),
                               max_tasks_per_child=None if modules else 1,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(modules, kernels.clean_path() if modules else []))
    broken, interrupted = [], False
    try:
        futures = [(j, pool.submit(run_job, j)) for j in todo]
        for job, fut in futures:
            try:
                _, secs, peak = _result(fut)
                timings[job.title] = (secs, peak)
                print(f"[{profile}] {job.title}: executed in {secs:.1f} s, peak memory {peak:.0f} MB", flush=True)
            except PipelineError as e:
                failures.append(str(e))
            except BrokenProcessPool:
                broken.append(job.title)
            except Exception as e:  # an unreadable chapter: still name it
                failures.append(f"chapter '{job.name}' could not be executed: {type(e).__name__}: {e}")
    except KeyboardInterrupt:
        interrupted = True
        _stop_workers(pool)
        # in a thread of its own, so that whatever the executor does about its killed workers
        # cannot delay the report (a precaution: no such delay was ever observed)
        threading.Thread(target=pool.shutdown, kwargs={"wait": False, "cancel_futures": True}, daemon=True).start()
        for job in todo:  # what the killed kernels were writing
            for p in job.executed.glob(f".{job.name}.*"):
                p.unlink(missing_ok=True)
        raise Interrupted("interrupted: queued chapters cancelled, running kernels stopped; "
                          "the previous book and metrics were removed (rebuild with `make book`)") from None
    finally:
        if not interrupted:
            pool.shutdown(wait=True, cancel_futures=True)
    if broken:  # once, not as a failure of every pending chapter
        failures.append(f"a worker process died (killed for memory?) while running {broken[0]}; "
                        f"not run: {', '.join(broken[1:]) or 'nothing else'}")


# ---------------------------------------------------------------- "predict, then run" exercises

EXERCISE_PROFILE = "quick"  # an exercise's run is small, and the same run in the book and the tests


def exercise_runs(name: str) -> dict[str, dict]:
    """A chapter's "predict, then run" exercises (``actlab: {exercises: {id: {param: value}}}``):
    each is a ``make chapter`` run the build performs, so its solution quotes a real run."""
    runs = front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("exercises", {}) or {}
    if runs and reads_metrics(name):
        raise PipelineError(f"chapter '{name}' reads the other chapters' metrics; it cannot declare exercise runs.")
    return {k: dict(v or {}) for k, v in runs.items()}


def exercise_command(name: str, ex_id: str) -> str:
    """The command an exercise asks the reader to run, quoted for the shell."""
    args = exercise_runs(name)[ex_id]
    return (f"make chapter NAME={name} PROFILE={EXERCISE_PROFILE}"
            + (f' ARGS="{example_args(args)}"' if args else ""))


def _job(profile: str, name: str, overrides: dict, executed: Path, keep_previous: bool = False,
         exercise: str = "") -> Job:
    """One run of a chapter: the profile's parameters, then the overrides, and the key that says
    whether it must run again. The book, `make chapter` and the exercises' runs all build theirs
    here, so the same run gets the same key (and an exercise's run is the reader's command's)."""
    params = {**profile_params(profile, name), **overrides}
    extra = environment_key() if keyed_on_environment(name) else b""
    if reads_metrics(name):
        metrics_path = out_dir(profile) / "metrics.json"
        params.setdefault("metrics_file", str(metrics_path.relative_to(ROOT)))
        extra += metrics_json(collect_metrics(profile, readers=False)).encode()
    return Job(name, params, executed, chapter_key(name, params, extra), keep_previous=keep_previous,
               exercise=exercise)


def _exercise_jobs(name: str) -> list:
    return [_job(EXERCISE_PROFILE, name, args, chapter_dir(name, args, EXERCISE_PROFILE), keep_previous=True,
                 exercise=ex_id) for ex_id, args in exercise_runs(name).items()]


def exercise_results(names: list[str] | None = None) -> dict:
    """{chapter: {exercise: {"command": ..., "metrics": {...}}}} from the runs the build performed."""
    out = {}
    for name in names or chapters():
        for ex_id, args in exercise_runs(name).items():
            f = chapter_dir(name, args, EXERCISE_PROFILE) / f"{name}.metrics.json"
            if not f.exists():
                raise PipelineError(f"chapter '{name}': exercise '{ex_id}' has not been run ({f} is missing).")
            out.setdefault(name, {})[ex_id] = {"command": exercise_command(name, ex_id),
                                               "metrics": json.loads(f.read_text())}  # strict JSON as stored
    return out


def execute(profile: str = "full", names: list[str] | None = None, jobs: int = 2,
            overrides: dict | None = None, executed: Path | None = None, keep_previous: bool = False) -> dict:
    """Execute the chapters whose key changed. Raises PipelineError naming every failure.

    The book's ``metrics.json`` is written only for the book's own folder (not for a
    ``make chapter`` run, which goes elsewhere)."""
    names = names or chapters()
    unknown = sorted(set(names) - set(chapters()))
    if unknown:
        raise PipelineError(f"unknown chapter '{unknown[0]}'; chapters: {', '.join(chapters())}.")
    book_run = executed is None
    executed = executed or out_dir(profile) / "executed"
    metrics_path = out_dir(profile) / "metrics.json"
    _remove_leftovers(executed)
    # three waves: chapters side by side; chapters that time things, one at a time; the chapter
    # that reads everyone's metrics, last. Only the book's timings get the machine to themselves:
    # the quick profile's are checked for their direction only, and share it with pytest anyway.
    alone = (lambda n: runs_alone(n) and not reads_metrics(n)) if profile != "quick" else (lambda n: False)
    shared = [n for n in names if not reads_metrics(n) and not alone(n)]
    waves = [(shared, jobs), ([n for n in names if alone(n)], 1),
             ([n for n in names if reads_metrics(n)], jobs)]
    failures, timings = [], {}
    for k, (wave, width) in enumerate(waves):
        todo = []
        for name in wave:
            job = _job(profile, name, overrides or {}, executed, keep_previous=keep_previous)
            if not _is_fresh(job):
                todo.append(job)
        if book_run and k == 0:  # the exercises' runs, cached across profiles: they always run the
            # quick profile, whose timings are not the book's, so they share the first wave
            todo += [j for name in names if not reads_metrics(name)
                     for j in _exercise_jobs(name) if not _is_fresh(j)]
        if todo:
            print(f"[{profile}] executing {len(todo)} chapter(s): {', '.join(j.title for j in todo)}", flush=True)
            # longest first (by the last run's time), so two workers finish close together
            todo.sort(key=lambda j: -_last_seconds(j))
            _run_wave(todo, width, profile, timings, failures)
        if book_run:
            metrics_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(metrics_path, metrics_json(collect_metrics(profile)))
    if failures:
        raise PipelineError("\n".join(failures))
    if not timings:
        print(f"[{profile}] every chapter is up to date; nothing executed", flush=True)
    return {k: v[0] for k, v in timings.items()}


def _remove_leftovers(executed: Path):
    """Temporary files of a run that was killed (we hold the build lock: no run is live)."""
    if executed.exists():
        for p in executed.glob(".*"):
            if p.is_file() and (p.name.endswith((".running.ipynb", ".input.ipynb", ".tmp"))):
                p.unlink(missing_ok=True)


# ---------------------------------------------------------------- staging and HTML

def _sync(src: Path, dst: Path):
    """Copy only when the content differs (the stage is rebuilt on every book build)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def rerun_example(name: str) -> dict:
    """The parameters a chapter's box suggests (``actlab: {example: {...}}`` in its header)."""
    return dict(front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("example", {}) or {})


def rerun_command(name: str) -> str:
    """The command the chapter's box prints: its suggested parameters, quoted for the shell."""
    example = rerun_example(name)
    return f"make chapter NAME={name}" + (f' ARGS="{example_args(example)}"' if example else "")


def injected_parameters(nb) -> dict:
    """The values papermill injected (the profile's), from its ``injected-parameters`` cell."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "injected-parameters" in cell.metadata.get("tags", []):
            out = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
            return out
    return {}


def rerun_markdown(name: str, declared: dict, used: dict | None = None) -> str:
    """The box at the end of a chapter page: the parameters it was built with, downloads, how to rerun it."""
    used = declared if used is None else used
    listing = ", ".join(f"`{k} = {used[k]!r}`" + (f" (default `{v!r}`)" if used[k] != v else "")
                        for k, v in declared.items()) or "none"
    return (f":::{{admonition}} Parameters of this page, and how to run it yourself\n:class: tip\n\n"
            f"Download its source, {{download}}`{name}.md <../_static/sources/{name}.md>`, or the executed "
            f"notebook this page was rendered from, {{download}}`{name}.ipynb <{name}.ipynb>`. From a checkout of "
            f"the book, rerun it with other parameters, for example:\n\n```bash\n{rerun_command(name)}\n```\n\n"
            f"This page was built with: {listing}.\n:::")


def _write_with_rerun_box(src: Path, dst: Path, name: str):
    import nbformat

    nb = nbformat.read(src, as_version=4)
    declared = declared_parameters(nb)
    used = {**declared, **injected_parameters(nb)}
    for cell in nb.cells:  # raw parameter cells are not for readers: the box below lists the values
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and ("parameters" in tags or "injected-parameters" in tags):
            cell.metadata["tags"] = [*tags, "remove-cell"]
        for o in cell.get("outputs", []):  # an interactive figure's rows: written beside the page instead
            o.get("data", {}).pop(DATA_MIME, None)
    if front_matter(CHAPTERS / f"{name}.md").get("actlab", {}).get("rerun", True):
        box = nbformat.v4.new_markdown_cell(rerun_markdown(name, declared, used))
        box["id"] = "rerun-box"
        nb.cells.append(box)
    text = nbformat.writes(nb)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.read_text() != text:  # unchanged pages keep their bytes
        write_atomic(dst, text)


def _write_interactive_data(executed: Path, st: Path) -> set[Path]:
    """The data of each interactive figure of an executed chapter, one strict-JSON file per figure
    in the staged book (``_static/data/CHAPTER/NAME.json``), read by the figure's chart by URL."""
    import nbformat

    from actlab.interactive import data_files

    written = set()
    for rel, text in data_files(nbformat.read(executed, as_version=4)).items():
        dst = st / DATA_DIR / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists() or dst.read_text() != text:
            write_atomic(dst, text)
        written.add(dst)
    return written


def stage(profile: str) -> Path:
    """A book source tree where every notebook chapter is its executed .ipynb."""
    base = out_dir(profile)
    st = base / "stage"
    keep = set()
    for f in BOOK_FILES:
        _sync(ROOT / f, st / f)
        keep.add(st / f)
    nb_chapters = set(chapters())
    for f in toc_files():
        name = Path(f).name
        if f.startswith("chapters/") and name in nb_chapters:
            src, dst = base / "executed" / f"{name}.ipynb", st / f"{f}.ipynb"
            if not src.exists():
                raise PipelineError(f"chapter '{name}' has no executed notebook at {src}.")
            # readers download the chapter's source from its page
            _sync(CHAPTERS / f"{name}.md", st / "_static" / "sources" / f"{name}.md")
            keep.add(st / "_static" / "sources" / f"{name}.md")
            _write_with_rerun_box(src, dst, name)
            keep.update(_write_interactive_data(src, st))
        else:
            src, dst = ROOT / f"{f}.md", st / f"{f}.md"
            if not src.exists():
                raise PipelineError(f"'{f}' is in _toc.yml but {src} does not exist.")
            _sync(src, dst)
        keep.add(dst)
    runs = st / "exercise_runs.json"  # read by the book's {run} role (actlab.sphinxext)
    text = json.dumps(exercise_results(), indent=1, sort_keys=True, allow_nan=False)
    if not runs.exists() or runs.read_text() != text:
        write_atomic(runs, text)
    keep.add(runs)
    if any(p.parent.parent == st / DATA_DIR for p in keep):  # a page holds an interactive figure
        from actlab.interactive import bundle

        # generated once per vl-convert version, offline; staged outside _static, whose scripts
        # Jupyter Book would load on every page (the extension serves this folder as static files)
        js = Path(bundle(BUILD / "vega"))
        _sync(js, st / VEGA_DIR / js.name)
        keep.add(st / VEGA_DIR / js.name)
    for extra in [CHAPTERS / "references.bib", *sorted((ROOT / "_static").glob("*"))]:
        if extra.is_file():
            dst = st / extra.relative_to(ROOT)
            _sync(extra, dst)
            keep.add(dst)
    for p in st.rglob("*"):  # a chapter removed from the book leaves nothing behind
        if p.is_file() and p not in keep and "_build" not in p.relative_to(st).parts:
            p.unlink()
    return st


def site_key(st: Path) -> str:
    """Hash of every staged file: the HTML depends on nothing else (execution is off)."""
    h = hashlib.sha256()
    for p in sorted(st.rglob("*")):
        rel = p.relative_to(st)
        if p.is_file() and rel.parts[0] != "_build":
            h.update(str(rel).encode())
            h.update(p.read_bytes())
    _hash_tree(h, SRC)  # the book's Sphinx extension and stylesheet live in the package
    h.update(sys.version.encode())
    return h.hexdigest()


def build_html(profile: str, force: bool = False) -> Path:
    """Render the staged book (no execution) and publish it only if the build succeeded.
    A book whose staged sources are unchanged since the last successful build is not re-rendered."""
    base = out_dir(profile)
    st = stage(profile)
    html = base / "html"
    key_file = base / "html.key"
    key = site_key(st)
    if not force and (html / "index.html").exists() and key_file.exists() and key_file.read_text() == key:
        print(f"[{profile}] the site is up to date; nothing rendered: {html / 'index.html'}", flush=True)
        return html
    key_file.unlink(missing_ok=True)
    # Always a clean Sphinx build: an incremental one does not re-read unchanged pages, so a
    # warning that failed the last build would not be raised again and the build would pass.
    shutil.rmtree(st / "_build", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(st), "--builder", "html", "--warningiserror", "--nitpick",
           "--keep-going", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    built = st / "_build" / "html"
    if proc.returncode != 0 or not (built / "index.html").exists():
        shutil.rmtree(html, ignore_errors=True)  # never leave a stale book behind
        log = "\n".join(l for l in (proc.stdout + proc.stderr).splitlines()
                        if "WARNING" in l or "ERROR" in l or "Error" in l) or proc.stdout[-3000:] + proc.stderr[-3000:]
        raise PipelineError(f"[{profile}] the HTML build failed (exit {proc.returncode}):\n{log}")
    index = built / "index.html"  # Jupyter Book's redirect to the first page: it declares the book's icon
    stub = index.read_text()  # too, or the browser asks for /favicon.ico (a 404)
    if 'rel="icon"' not in stub:
        index.write_text(stub.rstrip() + '\n<link rel="icon" href="_static/favicon.svg" />\n')
    tmp = base / ".html.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(built, tmp)
    shutil.rmtree(html, ignore_errors=True)
    os.replace(tmp, html)
    write_atomic(key_file, key)
    print(f"[{profile}] HTML built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}", flush=True)
    return html


# ---------------------------------------------------------------- command line

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


def shell_value(v) -> str:
    """A value as one shell word inside ``ARGS="..."`` that ``_value`` reads back as ``v``."""
    if isinstance(v, (list, tuple)):
        return "'[" + ",".join(shell_value(x).strip("'") for x in v) + "]'"
    if isinstance(v, str):
        return v if v.replace("_", "").replace("-", "").isalnum() else "'" + v.replace("'", "") + "'"
    return repr(v)


def example_args(overrides: dict) -> str:
    return " ".join(f"-p {k} {shell_value(v)}" for k, v in overrides.items())


def chapter_dir(name: str, overrides: dict, profile: str = "full") -> Path:
    """Where ``make chapter`` puts one run: apart from the book, one folder per parameter set
    (and profile, other than the full one)."""
    what = json.dumps(overrides, sort_keys=True) + ("" if profile == "full" else f" profile={profile}")
    tag = hashlib.sha256(what.encode()).hexdigest()[:8]
    return BUILD / "chapter" / f"{name}-{tag}"


def mark_stale(profile: str):
    """After a failure or an interrupt nothing may look current: the book and its metrics go."""
    base = out_dir(profile)
    shutil.rmtree(base / "html", ignore_errors=True)
    for f in ("html.key", "metrics.json"):
        (base / f).unlink(missing_ok=True)


_LOCKS: dict = {}


def build_lock(path: Path):
    """One build at a time per checkout: a second waits, saying so."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _LOCKS.setdefault(path, FileLock(str(path)))

    class _Held:
        def __enter__(self):
            try:
                lock.acquire(timeout=0)
            except Timeout:
                print(f"another build is running in this checkout ({path} is held); waiting for it to finish",
                      file=sys.stderr, flush=True)
                lock.acquire()
            return lock

        def __exit__(self, *exc):
            lock.release()
    return _Held()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m actlab.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("book", "execute"):
        p = sub.add_parser(cmd)
        p.add_argument("--profile", default="full", choices=PROFILE_NAMES)
        p.add_argument("--jobs", type=int, default=2)
        if cmd == "execute":
            p.add_argument("names", nargs="*")
    p = sub.add_parser("chapter")
    p.add_argument("name")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    p.add_argument("--profile", default="full", choices=PROFILE_NAMES)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start = time.perf_counter()
    # Ctrl-C stops a build even where it was started with SIGINT ignored (a shell's background
    # job, some CI runners): Python keeps an inherited SIG_IGN, and the build would run on
    if threading.current_thread() is threading.main_thread():  # only the main thread may set it
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with build_lock(BUILD / ".lock"):
            if args.cmd == "chapter":
                overrides = {k: _value(v) for k, v in args.parameter}
                where = chapter_dir(args.name, overrides, args.profile)
                execute(args.profile, [args.name], jobs=1, overrides=overrides, executed=where,
                        keep_previous=True)
                metrics_file = where / f"{args.name}.metrics.json"
                metrics = load_metrics(metrics_file.read_text())
                print(f"executed notebook: {where / (args.name + '.ipynb')}")
                shown = ", ".join(f"{k}={v!r}" for k, v in list(metrics.items())[:8])
                more = f", … ({len(metrics)} in all: {metrics_file})" if len(metrics) > 8 else ""
                print(f"recorded metrics: {shown}{more}")
            elif args.cmd == "execute":
                execute(args.profile, args.names or None, jobs=args.jobs)
            else:
                try:
                    execute(args.profile, jobs=args.jobs)
                    build_html(args.profile)
                except (PipelineError, KeyboardInterrupt):
                    mark_stale(args.profile)
                    raise
    except KeyboardInterrupt:
        print("\ninterrupted: stopped; nothing from this run was published", file=sys.stderr)
        return 130
    except Interrupted as e:
        print(f"\n{e}", file=sys.stderr)
        return 130
    except PipelineError as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a read-only or full _build: one sentence, no traceback
        print(f"\nFAILED: cannot write {e.filename or 'the build folder'} ({e.strerror}); "
              f"make {BUILD} writable, or remove it with `make clean`.", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
