"""Checks on the book's sources that need no execution."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actlab import pipeline
from actlab.paths import CHAPTERS, ROOT


def chapter_sources():
    return [CHAPTERS / f"{n}.md" for n in pipeline.chapters()]


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
              "goodfellow2013", "gulcehre2016", "lu2020", "hinton2006", "ioffe2015"}
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
