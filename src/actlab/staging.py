"""The executed chapters staged as a Jupyter Book source tree, and rendered to HTML.

Each notebook chapter is staged as its executed notebook with the chapter's prose as it is now
(a prose edit re-renders without re-executing), a box listing the parameters it was built with,
and the data of its interactive figures beside it. The HTML is published only when the build
passed, with a manifest of its files that makes a deleted or edited page count as stale.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from actlab.contents import (
    PipelineError,
    chapters,
    declared_parameters,
    exercise_command,
    exercise_metrics,
    exercises,
    header,
    rerun_command,
    toc_files,
)
from actlab.evidence import write_atomic
from actlab.interactive import DATA_DIR, VEGA_DIR
from actlab.interactive import MIME as DATA_MIME
from actlab.paths import BUILD, CHAPTERS, ROOT, out_dir

BOOK_FILES = ("_config.yml", "_toc.yml", "intro.md")
PACKAGE = Path(__file__).resolve().parent


def exercise_results(executed: Path, names: list[str] | None = None) -> dict:
    """{chapter: {exercise: {"command": ..., "metrics": {...}}}}: each exercise's answer, as its
    chapter recorded it (raw JSON values, read by the {run} role)."""
    out = {}
    for name in names or chapters():
        if not exercises(name):
            continue
        recorded = json.loads((executed / f"{name}.metrics.json").read_text())
        for ex_id, metrics in exercise_metrics(name, recorded).items():
            if not metrics:
                raise PipelineError(f"chapter '{name}' declares exercise '{ex_id}' but records no answer to it "
                                    f"(record_all(result, exercise={ex_id!r}) in its code).")
            out.setdefault(name, {})[ex_id] = {"command": exercise_command(name, ex_id), "metrics": metrics}
    return out


def _sync(src: Path, dst: Path):
    """Copy only when the content differs (the stage is rebuilt on every book build)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


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


def with_current_prose(executed, name: str):
    """The executed notebook with the chapter's prose as it is now, figure captions and alt text
    in code cells' metadata included: a prose edit re-renders a page without re-executing it
    (make keys execution on the code cells' source and tags only)."""
    import jupytext

    current = jupytext.read(CHAPTERS / f"{name}.md")
    runs = iter(c for c in executed.cells if c.cell_type == "code"
                and "injected-parameters" not in c.metadata.get("tags", []))
    cells = []
    for cell in current.cells:
        if cell.cell_type == "code":
            ran = next(runs, None)
            if ran is None or ran.source != cell.source:
                raise PipelineError(f"chapter '{name}': its executed notebook does not match chapters/{name}.md "
                                    "(a stale run); run `make book` again.")
            ran.metadata = cell.metadata  # its caption and alt text as they are now: prose, like the rest
            cell = ran
        cells.append(cell)
        if "parameters" in cell.metadata.get("tags", []):
            cells += [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    executed.cells = cells
    executed.metadata.update({k: v for k, v in current.metadata.items() if k not in ("kernelspec", "jupytext")})
    return executed


def _write_with_rerun_box(src: Path, dst: Path, name: str):
    import nbformat

    nb = with_current_prose(nbformat.read(src, as_version=4), name)
    declared = declared_parameters(nb)
    used = {**declared, **injected_parameters(nb)}
    for cell in nb.cells:  # raw parameter cells are not for readers: the box below lists the values
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and ("parameters" in tags or "injected-parameters" in tags):
            cell.metadata["tags"] = [*tags, "remove-cell"]
        for o in cell.get("outputs", []):  # an interactive figure's rows: written beside the page instead
            o.get("data", {}).pop(DATA_MIME, None)
    if header(name).get("rerun", True):
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
        if (ROOT / f).exists():
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
    text = json.dumps(exercise_results(base / "executed"), indent=1, sort_keys=True, allow_nan=False)
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



def _manifest(html: Path) -> dict:
    """Every built file and its hash: a deleted or overwritten page makes the site stale."""
    return {str(p.relative_to(html)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(html.rglob("*")) if p.is_file()}


def site_is_intact(profile: str) -> bool:
    stamp, html = out_dir(profile) / "html.stamp", out_dir(profile) / "html"
    try:
        return stamp.exists() and json.loads(stamp.read_text()) == _manifest(html)
    except (ValueError, OSError):
        return False


def build_html(profile: str) -> Path:
    """Render the staged book (no execution) and publish it only if the build succeeded."""
    base = out_dir(profile)
    html, stamp = base / "html", base / "html.stamp"
    stamp.unlink(missing_ok=True)
    st = stage(profile)
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
        log = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                        if "WARNING" in line or "ERROR" in line or "Error" in line) \
            or proc.stdout[-3000:] + proc.stderr[-3000:]
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
    write_atomic(stamp, json.dumps(_manifest(html)))
    print(f"[{profile}] HTML built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}", flush=True)
    return html
