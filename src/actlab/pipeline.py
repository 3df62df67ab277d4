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
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from actlab.paths import BUILD, CHAPTERS, LOCK, PROFILES, ROOT, SRC

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
                try:
                    assert isinstance(node, ast.Assign) and len(node.targets) == 1
                    assert isinstance(node.targets[0], ast.Name)
                    out[node.targets[0].id] = ast.literal_eval(node.value)
                except (AssertionError, ValueError):
                    raise PipelineError("a parameters cell holds only literal assignments "
                                        f"`name = value`; line {node.lineno} is not one.") from None
            return out
    return {}


def out_dir(profile: str) -> Path:
    return BUILD if profile == "full" else BUILD / profile


# ---------------------------------------------------------------- change detection

def _hash_tree(h, root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())


def chapter_key(name: str, params: dict, extra: bytes = b"") -> str:
    h = hashlib.sha256()
    h.update((CHAPTERS / f"{name}.md").read_bytes())
    _hash_tree(h, SRC)
    h.update(LOCK.read_bytes() if LOCK.exists() else b"")
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(extra)
    return h.hexdigest()


# ---------------------------------------------------------------- execution

@dataclass
class Job:
    name: str
    params: dict
    executed: Path  # folder for NAME.ipynb, NAME.key, NAME.metrics.json
    key: str


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


def run_job(job: Job) -> tuple[str, float, dict]:
    """Execute one chapter; on success, atomically publish notebook, key and metrics."""
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from actlab.record import metrics_from_notebook

    start = time.perf_counter()
    nb = jupytext.read(CHAPTERS / f"{job.name}.md")
    nb.metadata["kernelspec"] = KERNELSPEC
    declared = declared_parameters(nb)
    unknown = sorted(set(job.params) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise PipelineError(f"chapter '{job.name}': unknown parameter '{unknown[0]}'; "
                            f"allowed: {allowed}.")
    job.executed.mkdir(parents=True, exist_ok=True)
    final = job.executed / f"{job.name}.ipynb"
    # A stale result must never survive a failed re-run.
    for suffix in (".ipynb", ".key", ".metrics.json"):
        (job.executed / f"{job.name}{suffix}").unlink(missing_ok=True)
    src = job.executed / f".{job.name}.input.ipynb"
    running = job.executed / f".{job.name}.running.ipynb"
    nbformat.write(nb, src)
    try:
        papermill.execute_notebook(
            str(src), str(running), parameters=job.params, kernel_name="python3",
            cwd=str(CHAPTERS), progress_bar=False, log_output=False,
            # the kernel's own start-up warnings are noise in the build log
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as e:
        failed = job.executed.parent / "failed"
        failed.mkdir(exist_ok=True)
        shutil.move(running, failed / f"{job.name}.ipynb")
        k, src_text = _failing_cell(nbformat.read(failed / f"{job.name}.ipynb", as_version=4), e)
        raise PipelineError(
            f"chapter '{job.name}' failed in code cell {k} of chapters/{job.name}.md "
            f"(`{_first_line(src_text)}`): {e.ename}: {e.evalue}\n"
            f"  the failed notebook: {failed / (job.name + '.ipynb')}") from None
    finally:
        src.unlink(missing_ok=True)
    executed_nb = nbformat.read(running, as_version=4)
    metrics = metrics_from_notebook(executed_nb)
    (job.executed / f"{job.name}.metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    os.replace(running, final)
    (job.executed / f"{job.name}.key").write_text(job.key)
    (job.executed / f"{job.name}.seconds").write_text(f"{time.perf_counter() - start:.1f}")
    return job.name, time.perf_counter() - start, metrics


def _last_seconds(job: Job) -> float:
    f = job.executed / f"{job.name}.seconds"
    return float(f.read_text()) if f.exists() else 0.0


def _is_fresh(job: Job) -> bool:
    key = job.executed / f"{job.name}.key"
    return (job.executed / f"{job.name}.ipynb").exists() and key.exists() and key.read_text() == job.key


def collect_metrics(profile: str) -> dict:
    """All chapters' metrics keyed ``chapter.metric``; written to <out>/metrics.json."""
    executed = out_dir(profile) / "executed"
    out = {}
    for name in chapters():
        f = executed / f"{name}.metrics.json"
        if f.exists():
            for k, v in json.loads(f.read_text()).items():
                out[f"{name}.{k}"] = v
    return out


def execute(profile: str = "full", names: list[str] | None = None, jobs: int = 2,
            overrides: dict | None = None, executed: Path | None = None) -> dict:
    """Execute the chapters whose key changed. Raises PipelineError naming every failure."""
    names = names or chapters()
    unknown = sorted(set(names) - set(chapters()))
    if unknown:
        raise PipelineError(f"unknown chapter '{unknown[0]}'; chapters: {', '.join(chapters())}.")
    executed = executed or out_dir(profile) / "executed"
    metrics_path = out_dir(profile) / "metrics.json"
    # three waves: chapters side by side; chapters that time things, one at a time; the chapter
    # that reads everyone's metrics, last
    shared = [n for n in names if not reads_metrics(n) and not runs_alone(n)]
    waves = [(shared, jobs), ([n for n in names if runs_alone(n) and not reads_metrics(n)], 1),
             ([n for n in names if reads_metrics(n)], jobs)]
    failures, timings = [], {}
    for wave, width in waves:
        extra = b""
        todo = []
        for name in wave:
            params = {**profile_params(profile, name), **(overrides or {})}
            if reads_metrics(name):
                params.setdefault("metrics_file", str(metrics_path.relative_to(ROOT)))
                extra = metrics_path.read_bytes() if metrics_path.exists() else b""
            job = Job(name, params, executed, chapter_key(name, params, extra))
            if not _is_fresh(job):
                todo.append(job)
        if todo:
            print(f"[{profile}] executing {len(todo)} chapter(s): {', '.join(j.name for j in todo)}", flush=True)
        # longest first (by the last run's time), so two workers finish close together
        todo.sort(key=lambda j: -_last_seconds(j))
        with ProcessPoolExecutor(max_workers=max(1, min(width, len(todo) or 1))) as pool:
            for job, fut in [(j, pool.submit(run_job, j)) for j in todo]:
                try:
                    name, secs, _ = fut.result()
                    timings[name] = secs
                    print(f"[{profile}] {name}: executed in {secs:.1f} s", flush=True)
                except PipelineError as e:
                    failures.append(str(e))
                except Exception as e:  # a dead kernel, an unreadable chapter: still name it
                    failures.append(f"chapter '{job.name}' could not be executed: {type(e).__name__}: {e}")
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps(collect_metrics(profile), indent=1, sort_keys=True))
    if failures:
        raise PipelineError("\n".join(failures))
    if not timings:
        print(f"[{profile}] every chapter is up to date; nothing executed", flush=True)
    return timings


# ---------------------------------------------------------------- staging and HTML

def _sync(src: Path, dst: Path):
    """Copy only when the content differs (the stage is rebuilt on every book build)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def rerun_markdown(name: str, declared: dict) -> str:
    """The box at the end of every chapter page: downloads and how to rerun it."""
    example = next(iter(declared.items()), None)
    args = f' ARGS="-p {example[0]} {example[1]!r}"' if example else ""
    listing = ", ".join(f"`{k}` (default `{v!r}`)" for k, v in declared.items()) or "none"
    return (f":::{{admonition}} Run this chapter yourself\n:class: tip\n\n"
            f"Download its source, {{download}}`{name}.md <../_static/sources/{name}.md>`, or the executed "
            f"notebook this page was rendered from, {{download}}`{name}.ipynb <{name}.ipynb>`. From a checkout of "
            f"the book, rerun it with other parameters:\n\n```bash\nmake chapter NAME={name}{args}\n```\n\n"
            f"Its parameters: {listing}.\n:::")


def _write_with_rerun_box(src: Path, dst: Path, name: str):
    import nbformat

    nb = nbformat.read(src, as_version=4)
    declared = declared_parameters(nb)
    nb.cells.append(nbformat.v4.new_markdown_cell(rerun_markdown(name, declared)))
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)


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
        else:
            src, dst = ROOT / f"{f}.md", st / f"{f}.md"
            if not src.exists():
                raise PipelineError(f"'{f}' is in _toc.yml but {src} does not exist.")
            _sync(src, dst)
        keep.add(dst)
    for extra in [CHAPTERS / "references.bib", *sorted((ROOT / "_static").glob("*"))]:
        if extra.is_file():
            dst = st / extra.relative_to(ROOT)
            _sync(extra, dst)
            keep.add(dst)
    for p in st.rglob("*"):  # a chapter removed from the book leaves nothing behind
        if p.is_file() and p not in keep and "_build" not in p.parts:
            p.unlink()
    return st


def build_html(profile: str) -> Path:
    """Render the staged book (no execution) and publish it only if the build succeeded."""
    base = out_dir(profile)
    st = stage(profile)
    html = base / "html"
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
    tmp = base / ".html.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(built, tmp)
    shutil.rmtree(html, ignore_errors=True)
    os.replace(tmp, html)
    print(f"[{profile}] HTML built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}", flush=True)
    return html


# ---------------------------------------------------------------- command line

def _value(text: str):
    """A ``-p`` value: a Python literal if it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
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
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.cmd == "chapter":
            overrides = {k: _value(v) for k, v in args.parameter}
            execute(args.profile, [args.name], jobs=1, overrides=overrides,
                    executed=BUILD / "chapter")
            nb = BUILD / "chapter" / f"{args.name}.ipynb"
            metrics = json.loads((BUILD / "chapter" / f"{args.name}.metrics.json").read_text())
            print(f"executed notebook: {nb}")
            shown = ", ".join(f"{k}={v!r}" for k, v in list(metrics.items())[:8])
            more = f", … ({len(metrics)} in all: {BUILD / 'chapter' / (args.name + '.metrics.json')})" \
                if len(metrics) > 8 else ""
            print(f"recorded metrics: {shown}{more}")
        elif args.cmd == "execute":
            execute(args.profile, args.names or None, jobs=args.jobs)
        else:
            try:
                execute(args.profile, jobs=args.jobs)
            except PipelineError:
                shutil.rmtree(out_dir(args.profile) / "html", ignore_errors=True)
                raise
            build_html(args.profile)
    except PipelineError as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
