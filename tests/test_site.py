"""The built HTML (quick profile): every page there, every image there, nothing external."""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from actlab import contents

pytestmark = pytest.mark.site


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.styles, self.images, self.sources = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon"}:
            self.styles.append(a["href"])
        if tag == "img":
            self.images.append((a.get("src"), a.get("alt")))
        if tag == "source" and a.get("srcset"):  # a figure's narrow layout (actlab.sphinxext)
            self.sources.append(a["srcset"])


def pages(site: Path):
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def test_every_toc_file_has_a_page(quick_site):
    for f in contents.toc_files():
        assert (quick_site / f"{f}.html").exists(), f"{f} has no page"


def test_images_exist_and_have_alt_text(quick_site):
    n = 0
    for page in pages(quick_site):
        r = Refs()
        r.feed(page.read_text())
        for src, alt in r.images:
            if src.startswith("data:"):
                continue
            assert (page.parent / src.split("?")[0]).exists(), f"{page.name}: missing image {src}"
            assert alt and alt.strip(), f"{page.name}: image {src} has no alt text"
            n += 1
        for src in r.sources:
            assert (page.parent / src).exists(), f"{page.name}: missing narrow layout {src}"
    assert n >= 2  # the gallery and the sigmoid figure at least


def test_no_external_script_stylesheet_or_font(quick_site):
    for page in pages(quick_site):
        r = Refs()
        r.feed(page.read_text())
        for ref in r.scripts + r.styles:
            assert not re.match(r"^(https?:)?//", ref), f"{page.name} loads {ref}"
    for css in quick_site.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(errors="ignore")):
            assert not re.match(r"^(https?:)?//", url), f"{css.name} fetches {url}"
    assert (quick_site / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_a_first_visit_loads_no_icon_script_and_its_scripts_stay_light(quick_site):
    """The theme's icons come from its stylesheet's icon font; its 1.5 MB Font Awesome script is
    dropped (actlab.sphinxext). What a page's scripts weigh, MathJax, the Vega bundle of an
    interactive figure and the search page's page texts aside, stays under 0.4 MB (0.29 MB with the
    search index, Dec 2026)."""
    assert (quick_site / "_static" / "vendor" / "fontawesome" / "webfonts" / "fa-solid-900.woff2").exists()
    for page in pages(quick_site):
        r = Refs()
        r.feed(page.read_text())
        assert not any("fontawesome" in s for s in r.scripts), page.name
        local = [(page.parent / s.split("?")[0]).resolve() for s in r.scripts if not re.match(r"^(https?:)?//", s)]
        # aside: MathJax, the Vega bundle, and the search page's page texts (its snippets from disk)
        weight = sum(f.stat().st_size for f in local
                     if "mathjax" not in f.parts and "vega" not in f.name and f.name != "actlab-search-text.js")
        assert weight < 400_000, f"{page.name}: {weight} bytes of scripts"


def test_numbers_are_glued_not_missing(quick_site):
    html = (quick_site / "chapters" / "sigmoid.html").read_text()
    assert "0.2500" in html  # the derivative's peak, glued from the run
    assert "{glue" not in html and "glue:text" not in html  # every role resolved


def test_a_no_op_build_executes_and_renders_nothing(quick_site):
    import subprocess
    import sys

    index = quick_site / "index.html"
    before = index.stat().st_mtime_ns
    proc = subprocess.run([sys.executable, "-m", "actlab.pipeline", "book", "--profile", "quick"],
                          capture_output=True, text=True)
    assert "nothing executed or rendered" in proc.stdout, proc.stdout + proc.stderr  # the ledger included
    assert index.stat().st_mtime_ns == before


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def test_every_internal_link_and_anchor_resolves(quick_site):
    parsed = {}

    def parse(page: Path) -> Links:
        if page not in parsed:
            parsed[page] = Links()
            parsed[page].feed(page.read_text(errors="ignore"))
        return parsed[page]

    broken, n = [], 0
    for page in pages(quick_site):
        for href in parse(page).hrefs:
            if re.match(r"^([a-z]+:|//)", href):  # external (or mailto:, javascript:)
                continue
            path, _, anchor = href.partition("#")
            target = (page.parent / path).resolve() if path else page
            if target.is_dir():
                target = target / "index.html"
            n += 1
            if not target.exists():
                broken.append(f"{page.relative_to(quick_site)} -> {href} (no file)")
            elif anchor and target.suffix == ".html" and anchor not in parse(target).ids:
                broken.append(f"{page.relative_to(quick_site)} -> {href} (no anchor)")
    assert n > 100 and not broken, "\n".join(broken[:20])


def test_no_raw_parameter_cell_and_a_parameters_box_on_chapter_pages(quick_site):
    """Executed chapters list the values they were built with, except those with nothing to
    rerun (front matter ``rerun: false``); pages that are not notebooks have no box."""
    for page in (quick_site / "chapters").glob("*.html"):
        html = page.read_text()
        assert "# Parameters" not in html, f"{page.name} shows papermill's injected cell"
        rerun = page.stem in contents.chapters() and contents.front_matter(
            contents.CHAPTERS / f"{page.stem}.md").get("actlab", {}).get("rerun", True)
        if not rerun:
            assert "Parameters of this page" not in html, page.name
        else:
            assert "Parameters of this page" in html and "This page was built with" in html, page.name


def test_exercise_solutions_quote_the_answers_their_chapters_recorded(quick_site, quick_metrics):
    """Every {run} number on a page is the answer its chapter recorded for the exercise
    (formatted by the book's one formatter), and the page prints the command that reproduces it."""
    import html as htmllib

    from actlab.numbers import fmt
    from actlab.paths import CHAPTERS

    checked = 0
    for name in contents.chapters():
        runs = contents.exercises(name)
        if not runs:
            continue
        page = htmllib.unescape((quick_site / "chapters" / f"{name}.html").read_text())
        shown = re.findall(r'<span class="actlab-run">([^<]*)</span>', page)
        expected = []
        for ref in re.findall(r"\{run\}`([^`]+)`", (CHAPTERS / f"{name}.md").read_text()):
            ex, metric, *sig = ref.split(":")
            value = quick_metrics[f"{name}.{ex}__{metric}"]
            expected.append(value if isinstance(value, str) else fmt(value, sig=int(sig[0]) if sig else 3))
        assert shown == expected, f"{name}: the page shows {shown}, the runs recorded {expected}"
        commands = [re.sub(r"<[^>]+>", "", c) for c in
                    re.findall(r'<code class="[^"]*actlab-run-command[^"]*">(.*?)</code>', page, re.S)]
        for ex in runs:
            assert contents.exercise_command(name, ex) in commands, f"{name}: exercise '{ex}' command not shown"
        checked += 1
    assert checked >= 1


# A caption leads with what its figure shows (issue 25): the first sentence holds a glued
# measurement. Figures without a measurement state what they show in words instead.
EXACT_FIGURES = {
    "fig-gallery", "fig-gallery-layers",  # the registry's formulas: a property of the functions
    "fig-xor-regions",  # one seed's decision regions: the geometry (the rates are in fig-xor-rate)
    "fig-mnist1d-signals",  # a picture of the data set, not a result
}
CAPTION = re.compile(r'<figure[^>]*\bid="([^"]+)"[^>]*>.*?<span class="caption-text">(.*?)</span><a class="headerlink"', re.S)


def test_every_caption_leads_with_a_finding(quick_site):
    seen, bad = 0, []
    for page in pages(quick_site):
        for fig_id, caption in CAPTION.findall(page.read_text()):
            seen += 1
            first = re.split(r"\.\s+(?=[A-Z])", caption, maxsplit=1)[0]
            if 'class="pasted-text"' not in first and fig_id not in EXACT_FIGURES:
                bad.append(f"{page.stem}#{fig_id}: {re.sub('<[^>]+>', '', first)[:90]}")
    assert seen >= 30, seen
    assert not bad, "captions whose first sentence reports no finding:\n" + "\n".join(bad)
