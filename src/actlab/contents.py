"""The book's contents as the build and the chapters see them: the table of contents, each
chapter's header (``actlab:`` settings, exercises, the rerun box's example) and its parameters.

A chapter's exercise ("predict, then run") is declared in its header as parameter overrides,
``actlab: {exercises: {ID: {param: value}}}``. The chapter computes the answer itself, by
calling the same experiment with ``exercise(CHAPTER, ID)`` and recording the result with
``actlab.record.record_exercise``; the solution quotes it with ``{run}`ID:metric``` and prints
the command that reproduces it with ``{run-command}`ID```. The overrides must fix every input
of the experiment they rerun, so that the command's run records the same numbers.
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from actlab.paths import CHAPTERS, PROFILES, ROOT
from actlab.record import EXERCISE_SEP

PROFILE_NAMES = ("full", "quick")
EXERCISE_PROFILE = "quick"  # the printed command: quick, since the overrides fix the experiment


class PipelineError(RuntimeError):
    """A failure the user must see: the message names the chapter and what went wrong."""


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


def header(name: str) -> dict:
    """A chapter's ``actlab:`` settings."""
    return front_matter(CHAPTERS / f"{name}.md").get("actlab", {}) or {}


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
    return bool(header(name).get("runs_alone"))


def reads_metrics(name: str) -> bool:
    """Chapters that read the others' recorded metrics (``actlab: {reads_metrics: true}``) run last."""
    return bool(header(name).get("reads_metrics"))


def keyed_on_environment(name: str) -> bool:
    """Chapters that describe the build (``actlab: {keyed_on_environment: true}``) re-run when
    the git commit, the working tree or the machine changes."""
    return bool(header(name).get("keyed_on_environment"))


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


# ---------------------------------------------------------------- exercises and printed commands

def exercises(name: str) -> dict[str, dict]:
    """A chapter's "predict, then run" exercises: {id: parameter overrides}."""
    runs = header(name).get("exercises", {}) or {}
    return {k: dict(v or {}) for k, v in runs.items()}


def exercise(name: str, ex_id: str) -> dict:
    """The overrides of one exercise, for the chapter that computes its answer."""
    runs = exercises(name)
    if ex_id not in runs:
        raise PipelineError(f"chapter '{name}' declares no exercise '{ex_id}'; it declares: "
                            f"{', '.join(runs) or 'none'}.")
    return runs[ex_id]


def exercise_command(name: str, ex_id: str) -> str:
    """The command an exercise asks the reader to run, quoted for the shell."""
    args = exercise(name, ex_id)
    return (f"make chapter NAME={name} PROFILE={EXERCISE_PROFILE}"
            + (f' ARGS="{example_args(args)}"' if args else ""))


def exercise_metrics(name: str, metrics: dict) -> dict:
    """{exercise: {metric: value}} from a chapter's recorded metrics (``ID__metric``)."""
    out = {ex: {} for ex in exercises(name)}
    for key, value in metrics.items():
        ex, sep, metric = key.partition(EXERCISE_SEP)
        if sep and ex in out:
            out[ex][metric] = value
    return out


def rerun_example(name: str) -> dict:
    """The parameters a chapter's box suggests (``actlab: {example: {...}}`` in its header)."""
    return dict(header(name).get("example", {}) or {})


def rerun_command(name: str) -> str:
    """The command the chapter's box prints: its suggested parameters, quoted for the shell."""
    example = rerun_example(name)
    return f"make chapter NAME={name}" + (f' ARGS="{example_args(example)}"' if example else "")


def shell_value(v) -> str:
    """A value as one shell word inside ``ARGS="..."`` that the pipeline's parser reads back as ``v``."""
    if isinstance(v, (list, tuple)):
        return "'[" + ",".join(shell_value(x).strip("'") for x in v) + "]'"
    if isinstance(v, str):
        return v if v.replace("_", "").replace("-", "").isalnum() else "'" + v.replace("'", "") + "'"
    return repr(v)


def example_args(overrides: dict) -> str:
    return " ".join(f"-p {k} {shell_value(v)}" for k, v in overrides.items())
