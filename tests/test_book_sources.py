"""Checks on the book's sources that need no execution."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actlab import contents
from actlab.paths import CHAPTERS, ROOT


def chapter_sources():
    return [CHAPTERS / f"{n}.md" for n in contents.chapters()]


@pytest.mark.parametrize("md", chapter_sources(), ids=lambda p: p.stem)
def test_every_figure_is_named_captioned_alt_texted_and_referenced(md):
    text = md.read_text()
    for block in re.findall(r"```\{code-cell\}[^\n]*\n---\n(.*?)\n---", text, re.S):
        if "figure:" not in block:
            continue
        name = re.search(r"name:\s*(\S+)", block).group(1)
        assert "caption:" in block, f"{md.name}: {name} has no caption"
        assert re.search(r"alt:\s*\S", block), f"{md.name}: {name} has no alt text"
        assert f"{{numref}}`{name}`" in text, f"{md.name}: {name} is never referenced with {{numref}}"


@pytest.mark.parametrize("md", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_opens_with_prose_and_has_a_parameters_cell(md):
    nb_text = md.read_text()
    body = nb_text.split("\n---\n", 1)[1]
    first_cell = body.index("```{code-cell}")
    assert len(re.sub(r"\s+", " ", body[:first_cell])) > 200, f"{md.name}: no opening prose before the first cell"
    assert ":tags: [parameters]" in nb_text


def test_every_paper_is_in_the_bibliography():
    bib = (CHAPTERS / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{(\w+),", bib))
    wanted = {"cybenko1989", "hornik1991", "leshno1993", "lecun1998", "glorot2010", "he2015", "krizhevsky2012",
              "maas2013", "clevert2015", "klambauer2017", "hendrycks2016", "ramachandran2017", "misra2019",
              "goodfellow2013", "gulcehre2016", "lu2020", "hinton2006", "ioffe2015", "elfwing2018",
              "fukushima1969", "hahnloser2000", "jarrett2009", "bengio2007"}
    assert wanted <= keys
    cited = set()
    for md in list(CHAPTERS.glob("*.md")) + [ROOT / "intro.md"]:
        cited |= set(re.findall(r"\{cite:[pt]\}`([^`]+)`", md.read_text()))
    cited = {k.strip() for c in cited for k in c.split(",")}
    assert cited <= keys, f"cited but missing from references.bib: {cited - keys}"


BROKEN = {
    "cross-reference": "# Broken\n\nSee {numref}`fig-that-does-not-exist`.\n",
    "citation": "# Broken\n\nAs shown by {cite:p}`nobody2099`.\n",
    "nothing (control)": "# Fine\n\nAs shown by {cite:p}`cybenko1989`.\n\n```{bibliography}\n```\n",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_reference_fails_the_build(tmp_path, kind):
    """The real _config.yml with -W -n: one bad reference must fail the build, naming it."""
    for f in ("_config.yml",):
        shutil.copy(ROOT / f, tmp_path / f)
    (tmp_path / "chapters").mkdir()
    shutil.copy(CHAPTERS / "references.bib", tmp_path / "chapters" / "references.bib")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (tmp_path / "intro.md").write_text("# Intro\n\nText.\n")
    (tmp_path / "page.md").write_text(BROKEN[kind])
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(tmp_path), "--builder", "html", "--warningiserror",
                           "--nitpick", "--keep-going", "--quiet"], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if kind == "nothing (control)":  # the same set-up without a bad reference builds
        assert proc.returncode == 0, out[-2000:]
        return
    assert proc.returncode != 0, f"a broken {kind} built without error"
    assert ("fig-that-does-not-exist" if kind == "cross-reference" else "nobody2099") in out


def test_bibliography_parses_with_unique_keys():
    from pybtex.database import parse_file

    from actlab.paths import CHAPTERS

    bib = parse_file(str(CHAPTERS / "references.bib"))  # raises on a missing brace
    text = (CHAPTERS / "references.bib").read_text()
    assert len(bib.entries) == text.count("\n@") + text.startswith("@")


@pytest.mark.parametrize("md", chapter_sources(), ids=lambda p: p.stem)
def test_every_size_parameter_has_an_upper_bound(md):
    """`make chapter ... -p seeds 10000000` must stop with one sentence, not run for hours."""
    import re

    unbounded = [m.group(0) for m in re.finditer(r"integer\([^)]*\)", md.read_text()) if "hi=" not in m.group(0)]
    assert not unbounded, f"{md.name}: integer parameters without an upper bound: {unbounded}"


# ---------------------------------------------------------------- a chapter's anatomy
# Every chapter that teaches opens with its question and what the reader will be able to do,
# ends with takeaways and two to four exercises with folded solutions, at least one of which
# is "predict, then run" (its command and its answer come from a run the build performs).
# The appendix that describes the build is not a lesson; the ledger runs nothing of its own.
NOT_LESSONS = {"reproducing"}
NO_OWN_RUN = {"claims"}


def lessons():
    return [CHAPTERS / f"{n}.md" for n in contents.chapters() if n not in NOT_LESSONS]


def body_of(md: Path) -> str:
    return md.read_text().split("\n---\n", 1)[1]


def section(text: str, title: str) -> str:
    m = re.search(rf"^## {title}\s*$(.*?)(?=^## |\Z)", text, re.S | re.M)
    return m.group(1) if m else ""


@pytest.mark.parametrize("md", lessons(), ids=lambda p: p.stem)
def test_lesson_opens_with_its_question_and_what_the_reader_will_be_able_to_do(md):
    body = body_of(md)
    after_title = body.split("\n# ", 1)[1].split("\n", 1)[1].lstrip()
    assert after_title.startswith(":::{admonition}"), f"{md.name}: the question box must follow the title"
    box = after_title.split("\n:::", 1)[0]
    assert ":class: question" in box, f"{md.name}: the opening box is not the question box"
    assert "?" in box, f"{md.name}: the question box asks no question"
    assert re.search(r"^- ", box, re.M), f"{md.name}: the question box lists no outcomes"


@pytest.mark.parametrize("md", lessons(), ids=lambda p: p.stem)
def test_lesson_speaks_in_its_own_voice(md):
    """The source's claims go in the claim box; the prose does not narrate the source."""
    prose = re.sub(r"```.*?```", "", body_of(md), flags=re.S)
    starts = [p.strip() for p in re.split(r"\n\s*\n", prose)]
    bad = [p[:60] for p in starts if re.match(r"(- )?The source\b", p)]
    assert not bad, f"{md.name}: paragraphs that narrate the source: {bad}"


@pytest.mark.parametrize("md", lessons(), ids=lambda p: p.stem)
def test_lesson_ends_with_takeaways_in_sentences_with_glued_numbers(md):
    take = section(body_of(md), "Takeaways")
    items = re.findall(r"^- (.*?)(?=^- |\Z)", take, re.S | re.M)
    assert items, f"{md.name}: no '## Takeaways' list"
    for item in items:
        assert item.strip().endswith("."), f"{md.name}: a takeaway is not a sentence: {item[:60]!r}"
    if md.stem not in {"claims"}:
        assert "{glue" in take, f"{md.name}: no key number glued into the takeaways"


EXERCISE = re.compile(r"^```\{exercise\}.*?\n:label: (\S+)\n(.*?)^```\s*$", re.S | re.M)
SOLUTION = re.compile(r"^```\{solution\} (\S+)\n(.*?)^```\s*$", re.S | re.M)


@pytest.mark.parametrize("md", lessons(), ids=lambda p: p.stem)
def test_lesson_has_two_to_four_exercises_each_with_a_folded_solution(md):
    ex = section(body_of(md), "Exercises")
    labels = [m.group(1) for m in EXERCISE.finditer(ex)]
    solutions = {m.group(1): m.group(2) for m in SOLUTION.finditer(ex)}
    assert 2 <= len(labels) <= 4, f"{md.name}: {len(labels)} exercises (two to four)"
    for label in labels:
        assert label in solutions, f"{md.name}: exercise {label} has no solution"
        assert ":class: dropdown" in solutions[label], f"{md.name}: the solution of {label} is not folded"


@pytest.mark.parametrize("md", [p for p in lessons() if p.stem not in NO_OWN_RUN], ids=lambda p: p.stem)
def test_lesson_has_a_predict_then_run_exercise_answered_by_a_real_run(md):
    ex = section(body_of(md), "Exercises")
    declared = set(contents.exercises(md.stem))
    commands = set(re.findall(r"\{run-command\}`([^`]+)`", ex))
    answers = {a.split(":")[0] for a in re.findall(r"\{run\}`([^`]+)`", ex)}
    assert declared, f"{md.name}: no exercise run declared (actlab: exercises: in the header)"
    assert commands == declared, f"{md.name}: exercise runs declared {sorted(declared)}, asked {sorted(commands)}"
    assert answers == declared, f"{md.name}: exercise runs declared {sorted(declared)}, answered {sorted(answers)}"
    solutions = "".join(m.group(2) for m in SOLUTION.finditer(ex))
    assert "{run}`" in solutions, f"{md.name}: the measured answer must sit in a (folded) solution"


FIGURE_CELL = re.compile(r"```\{code-cell\}[^\n]*\n---\n(.*?)\n---\n(.*?)```", re.S)


@pytest.mark.parametrize("md", chapter_sources(), ids=lambda p: p.stem)
def test_code_behind_every_result_is_folded_not_removed(md):
    """A reader can open the cell behind every figure and number; only cells that render
    generated Markdown (claim boxes, tables) may drop their input."""
    text = md.read_text()
    for m in re.finditer(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S):
        cell = m.group(1)
        head = cell.split("\n---\n")[0] if cell.startswith("---") else cell.split("\n")[0]
        if ":tags: [parameters]" in cell:
            continue
        first_code = cell.split("\n---\n", 1)[-1] if cell.startswith("---") else cell
        assert "remove-cell" not in head, f"{md.name}: a removed cell: {first_code.strip()[:70]!r}"
        if "remove-input" in head:
            assert "Markdown(" in cell, f"{md.name}: input removed from a cell that renders no Markdown: {first_code.strip()[:70]!r}"
        if "figure:" in head:
            assert "hide-input" in head, f"{md.name}: a figure whose code is not folded on the page"
