"""The built book (quick profile) in a real browser: Debian's Chromium driven by Playwright,
the site served over http://127.0.0.1 by the test, nothing allowed to leave the machine."""
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from actlab import contents
from actlab.paths import BUILD

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--disable-default-apps", "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # no host name resolves
SHOTS = BUILD / "screenshots"


def _need_chromium():
    if not os.path.exists(CHROMIUM):
        msg = f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium package"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(quick_site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(quick_site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def pages() -> list[str]:
    return ["index.html"] + [f"{f}.html" for f in contents.toc_files()]


class Visit:
    """One page load with every request, failure and console error recorded.

    Requests are watched, not intercepted (interception sends every request through Python and
    back, a second of CPU per page): any request for something not on 127.0.0.1 is recorded as
    an attempt to leave the machine, and fails the test; the browser resolves no host name
    (``--host-resolver-rules`` in ARGS), so a request by name cannot complete either (one to a
    literal IP address is only recorded)."""

    def __init__(self, browser, url: str | None = None, width: int = 1280, height: int = 900):
        self.outside, self.failed, self.errors = [], [], []
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.on("request", self._request)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        if url:
            self.goto(url)

    def goto(self, url: str, wait_until: str = "networkidle"):
        self.page.goto(url, wait_until=wait_until)

    def _request(self, request):
        url = request.url
        if not url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            self.outside.append(url)

    def close(self):
        self.context.close()


# The page's prose as a reader sees it: every text node under main except code, scripts and
# what MathJax typeset (a .math span MathJax failed on keeps its TeX, and is caught). Any TeX left there (a lone $, a \frac or \left that MyST did not turn
# into math, in a glued table cell or a caption) is shown to the reader raw.
PROSE_TEXT = """() => {
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "MJX-CONTAINER", "MJX-ASSISTIVE-MML", "MATH"]);
  const out = [];
  const walk = (node) => {
    for (const c of node.childNodes) {
      if (c.nodeType === Node.TEXT_NODE) out.push(c.textContent);
      else if (c.nodeType === Node.ELEMENT_NODE && !skip.has(c.tagName.toUpperCase())) walk(c);
    }
  };
  walk(document.querySelector("main") || document.body);
  return out.join(" ");
}"""
RAW_TEX = re.compile(r".{0,25}(?:\$|\\(?:frac|tfrac|dfrac|left|right|mathbb|mathrm|operatorname|sqrt|sigma|tanh|max|min|ln|exp|text|cdot|le|ge|big|Big|alpha|lambda|Phi|vert|begin|end)\b).{0,25}")


def test_raw_tex_pattern_catches_what_it_should():
    assert RAW_TEX.search("costs $x$ here") and RAW_TEX.search(r"f(x) = \frac{1}{2}") and RAW_TEX.search(r"\left(x")
    assert not RAW_TEX.search("a plain sentence with 3 × 10⁻⁴ and σ(x) = 1/(1 + e^−x)")


BLOCKING = ("critical", "serious")
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"]}
CONTRAST = {"runOnly": {"type": "rule", "values": ["color-contrast"]}, "resultTypes": ["violations"]}


STILL = "*, *::before, *::after { transition: none !important; animation: none !important; }"


def _set_mode(page, mode: str):
    # no fade: the theme animates colours (and folded cells fade in when opened), and an audit
    # mid-transition measures neither state
    page.add_style_tag(content=STILL)
    page.evaluate(f"() => {{ document.documentElement.dataset.theme = '{mode}';"
                  f" document.documentElement.dataset.mode = '{mode}'; }}")


# Dark mode changes colours only, and the same stylesheet on every page: its contrast audit runs
# on pages that together hold every kind of component (question, claim and exercise boxes,
# folded solutions and code, figures, tables, an interactive figure, the glossary, the home page).
DARK_AUDIT = {"intro.html", "chapters/sigmoid.html", "chapters/properties.html", "chapters/gallery.html",
              "chapters/claims.html", "chapters/glossary.html"}


def _accessibility(axe, page, path) -> list[str]:
    """axe-core (bundled by axe-playwright-python): the WCAG 2.1 A/AA audit in light mode, then
    in dark mode the rule the mode changes (colour contrast) on DARK_AUDIT; critical or serious only."""
    found = []
    modes = (("light", WCAG), ("dark", CONTRAST)) if path in DARK_AUDIT else (("light", WCAG),)
    for mode, options in modes:
        _set_mode(page, mode)
        for violation in axe.run(page, options=options).response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [n["target"] for n in violation["nodes"]][:3]
                found.append(f"{path} ({mode}): {violation['impact']} {violation['id']}: "
                             f"{violation['help']} at {targets}")
    return found


# One test per page: pytest-xdist spreads the pages over both workers. A chapter is loaded as a
# phone reader loads it, 390 px wide, and checked there (_page_checks at the phone floor); then
# the same page is widened to a 1280 px desktop for the desktop checks (_desktop_checks) and the
# audit. Widening relays out the page (the theme and the figures are sized by CSS, not by script
# at load), and saves a second load of every chapter, a second of CPU each.
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


@pytest.mark.parametrize("path", pages())
def test_every_page_loads_clean_offline_with_images_math_and_no_accessibility_violation(browser, site_url, quick_site, path):
    from axe_playwright_python.sync_playwright import Axe

    chapter = path.startswith("chapters/")
    v = Visit(browser, **(PHONE if chapter else DESKTOP))
    # "load", then what loads later: MathJax and its fonts and, on a page with an interactive
    # figure, its data and bundle (network idle). Requests are judged after both.
    # index.html is a redirect (a meta refresh): it is over when the network is idle
    v.goto(f"{site_url}/{path}", wait_until="networkidle" if path == "index.html" else "load")
    p = v.page
    if path == "index.html":  # the page it lands on is checked and audited under its own name
        landed = p.url
        v.close()
        assert landed.endswith("/intro.html"), f"index.html led to {landed}"
        # the redirect leaves at once, cutting short the stub's own request for the book's icon
        failed = [f for f in v.failed if not f.endswith("favicon.svg (net::ERR_ABORTED)")]
        assert not v.outside and not failed and not v.errors, (v.outside, failed, v.errors)
        return
    if p.query_selector(".actlab-interactive") is not None:
        p.wait_for_load_state("networkidle")
    math = p.query_selector("main .math") is not None
    if math:
        p.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15000)
        p.evaluate("() => MathJax.startup.promise")
    assert not v.outside, f"{path} tried to reach outside 127.0.0.1: {v.outside}"
    assert not v.failed, f"{path}: failed requests {v.failed}"
    assert not v.errors, f"{path}: console errors {v.errors}"
    images = p.eval_on_selector_all("main img", "els => els.map(e => [e.src, e.naturalWidth, e.alt])")
    for src, width, alt in images:
        assert width > 0, f"{path}: image {src} did not decode"
        assert alt and alt.strip(), f"{path}: image {src} has no alt text"
    if math:
        assert p.query_selector("mjx-container") is not None, f"{path}: math not typeset"
        text = p.inner_text("main")
        for raw in ("\\(", "\\)", "\\[", "$$"):
            assert raw not in text, f"{path}: raw TeX delimiter {raw!r} left in the page"
    leftover = RAW_TEX.findall(p.evaluate(PROSE_TEXT))
    assert not leftover, f"{path}: raw TeX outside MathJax output: {leftover[:5]}"
    p.add_style_tag(content=STILL)  # a cell the desktop checks open is audited opened, not mid-fade
    bad = []
    if chapter:
        bad += _page_checks(p, path, quick_site, "phone", PHONE_FLOOR_PT)
        p.set_viewport_size(DESKTOP)
        bad += _desktop_checks(p, path, quick_site)
    # nothing went wrong during the checks either (the widening, the clicks); taken before the
    # audit, whose CSS preload asks for an @import'ed sheet at the wrong path (GET /basic.css: 404)
    during = (list(v.outside), list(v.failed), list(v.errors))
    # after the desktop checks, which open a folded solution and a code cell: axe audits those too
    violations = _accessibility(Axe(), p, path)
    v.close()
    assert during == ([], [], []), (path, during)
    assert not bad, "\n".join(bad)
    assert not violations, "\n".join(violations)


def test_a_request_off_the_machine_is_recorded_and_goes_nowhere(browser):
    """The watch every page visit relies on: an off-machine request is recorded, and fails."""
    v = Visit(browser)
    v.page.set_content('<img src="https://example.org/a.png" alt="x"><script src="http://cdn.example.net/x.js"></script>')
    v.page.wait_for_load_state("load")
    outside, failed = list(v.outside), list(v.failed)
    v.close()
    assert sorted(outside) == ["http://cdn.example.net/x.js", "https://example.org/a.png"]
    assert len(failed) == 2 and all("NAME_NOT_RESOLVED" in f for f in failed), failed


@pytest.mark.parametrize("query,expected", [("saturation", "chapters/saturation.html"),
                                            ("XOR", "chapters/linear-collapse.html"),
                                            ("bias shift", "chapters/relu.html")])
def test_search_finds_the_chapter(browser, site_url, query, expected):
    v = Visit(browser, f"{site_url}/search.html?q={query.replace(' ', '+')}")
    v.page.wait_for_selector("#search-results li a", timeout=15000)
    hrefs = v.page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    v.close()
    assert any(expected in h for h in hrefs), f"search for {query!r} gave {hrefs[:5]}"


def test_search_from_disk_quotes_each_page_it_finds(browser, quick_site):
    """Opened from disk, the search page cannot fetch the pages it found; it quotes them from the
    text the build wrote (actlab.sphinxext), and asks for nothing off the machine."""
    context = browser.new_context()
    page = context.new_page()
    asked, errors = [], []
    page.on("request", lambda r: asked.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto((quick_site / "search.html").as_uri() + "?q=saturation")
    page.wait_for_selector("#search-results li a", timeout=15000)
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0 && "
                           "Array.from(document.querySelectorAll('#search-results li')).every(li => li.querySelector('p.context'))",
                           timeout=15000)
    quotes = page.eval_on_selector_all("#search-results li p.context", "els => els.map(e => e.textContent)")
    context.close()
    assert quotes and all("aturat" in q for q in quotes), quotes[:3]  # each quote shows the word it was found by
    assert not errors and all(u.startswith("file://") for u in asked), (errors, [u for u in asked if "file" not in u])


def test_the_leaderboard_table_sorts_by_a_task_and_keeps_its_first_column_in_view(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/guide.html", width=390)
    p = v.page
    table = "table.actlab-sortable"
    sort_keys = f"""col => Array.from(document.querySelectorAll('{table} tbody tr')).map(
        r => parseFloat(r.children[col].querySelector('[data-sort]').getAttribute('data-sort')))"""
    p.click(f"{table} thead th:nth-child(3) button")  # the first task's column
    first = p.evaluate(sort_keys, 2)
    assert first == sorted(first) and p.get_attribute(f"{table} thead th:nth-child(3)", "aria-sort") == "ascending"
    p.click(f"{table} thead th:nth-child(3) button")
    assert p.evaluate(sort_keys, 2) == sorted(first, reverse=True)
    assert p.evaluate(f"() => getComputedStyle(document.querySelector('{table} td:first-child')).position") == "sticky"
    v.close()


def test_dark_mode_toggle_keeps_figures_readable(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/sigmoid.html")
    p = v.page
    before = p.get_attribute("html", "data-theme")
    for _ in range(3):  # the theme button cycles auto -> light -> dark
        if p.get_attribute("html", "data-theme") == "dark":
            break
        p.click(".theme-switch-button")
    assert p.get_attribute("html", "data-theme") == "dark" != before or before == "dark"
    # figures are drawn on an opaque white background, so they stay legible on a dark page
    corner = p.evaluate("""() => { const img = document.querySelector('main img');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0); return Array.from(g.getImageData(2, 2, 1, 1).data); }""")
    # ... and shown as drawn: no theme filter dims the white card or mutes the colours
    shown = p.evaluate("() => getComputedStyle(document.querySelector('main .cell_output img')).filter")
    caption = p.evaluate("() => getComputedStyle(document.querySelector('main figcaption')).fontWeight")
    v.close()
    assert corner == [255, 255, 255, 255], f"figure corner pixel {corner}: not opaque white"
    assert shown == "none" and int(caption) >= 400, (shown, caption)


def test_toggles_are_named_by_their_words_and_equations_stay_out_of_the_tab_order(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/sigmoid.html")
    p = v.page
    p.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15000)
    p.evaluate("() => MathJax.startup.promise")
    toggles = p.evaluate("""() => Array.from(document.querySelectorAll('main summary')).map(s =>
        [s.getAttribute('aria-label'), s.innerText.trim()])""")
    p.wait_for_timeout(100)  # the page's own handler on the same promise runs first
    maths = p.evaluate("""() => Array.from(document.querySelectorAll('mjx-container')).map(m =>
        [m.getAttribute('tabindex') === '0', m.scrollWidth > m.clientWidth + 1])""")
    v.close()
    assert toggles and all(label is None and text for label, text in toggles), toggles[:3]  # label in name
    # a tab stop only where an equation scrolls (a keyboard must reach it to scroll it)
    assert maths and all(tab == scrolls for tab, scrolls in maths), maths


def test_a_table_wider_than_a_phone_says_it_scrolls(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/properties.html", width=390)  # its property table has 8 columns
    tables = v.page.evaluate("""() => Array.from(document.querySelectorAll('main table.table')).map(t => [
        t.scrollWidth > t.clientWidth + 1,
        !!(t.previousElementSibling && t.previousElementSibling.classList.contains('actlab-table-hint'))])""")
    v.close()
    assert any(wide for wide, _ in tables), "no table scrolls at 390 px: the check checks nothing"
    assert all(wide == hinted for wide, hinted in tables), tables


def test_the_ledger_prints_every_fold_open(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/claims.html")
    p = v.page
    closed = p.evaluate("() => document.querySelectorAll('td.actlab-folded > details:not([open])').length")
    p.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    still = p.evaluate("() => document.querySelectorAll('td.actlab-folded > details:not([open])').length")
    p.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    again = p.evaluate("() => document.querySelectorAll('td.actlab-folded > details:not([open])').length")
    v.close()
    assert closed > 0 and still == 0 and again == closed, (closed, still, again)


def test_the_ledger_reads_as_cards_on_a_phone_and_as_a_table_on_a_desktop(browser, site_url):
    def look(width):
        v = Visit(browser, f"{site_url}/chapters/claims.html", width=width)
        seen = v.page.evaluate("""() => { const t = document.querySelector('#tab-claims');
            const cells = Array.from(t.querySelectorAll('tbody td'));
            return {row: getComputedStyle(t.querySelector('tbody tr')).display, wide: t.scrollWidth > t.clientWidth + 1,
                    labelled: cells.every(td => td.getAttribute('data-label')),
                    folded: t.querySelectorAll('td.actlab-folded > details > summary').length,
                    long_open: cells.filter(td => !td.querySelector('details') && td.textContent.length > 200).length,
                    rows: t.querySelectorAll('tbody tr').length}; }""")
        v.close()
        return seen
    phone, desk = look(390), look(1280)
    assert phone["row"] == "block" and not phone["wide"] and phone["labelled"], phone
    assert phone["folded"] and phone["long_open"] == 0, phone  # every long cell folded under its heading
    assert desk["row"] == "table-row" and desk["rows"] == phone["rows"], desk
    assert desk["folded"] == phone["folded"] and desk["long_open"] == 0, desk  # folded at every width


def test_glued_numbers_read_as_prose_not_bold(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/guide.html")
    weights = v.page.evaluate("""() => Array.from(document.querySelectorAll('main p span.pasted-text'))
        .map(s => getComputedStyle(s).fontWeight)""")
    v.close()
    assert weights and set(weights) == {"400"}, sorted(set(weights))


def test_a_chapter_prints_as_the_lesson_alone_in_light_colours_within_the_page(browser, site_url):
    v = Visit(browser, f"{site_url}/chapters/guide.html", width=720)  # about an A4 page's printable width
    p = v.page
    _set_mode(p, "dark")
    p.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")  # what the browser's print does first
    p.emulate_media(media="print")
    seen = p.evaluate("""() => {
        const main = document.querySelector('main').getBoundingClientRect();
        const shown = (q) => Array.from(document.querySelectorAll(q)).filter(e => e.getClientRects().length).length;
        return {theme: document.documentElement.getAttribute('data-theme'),
                furniture: shown('.bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, .prev-next-area, '
                                 + 'details.above-input, button.copybtn, p.actlab-table-hint'),
                tables: document.querySelectorAll('main table').length,
                wider: Array.from(document.querySelectorAll('main table, main img, main figure'))
                    .filter(e => e.getBoundingClientRect().right > main.right + 1).map(e => e.tagName),
                width: main.width};
    }""")
    pdf = p.pdf(format="A4", margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
    p.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    after = p.get_attribute("html", "data-theme")
    v.close()
    assert seen["theme"] == "light" and after == "dark", (seen["theme"], after)  # back to the reader's choice
    assert seen["furniture"] == 0 and seen["width"] >= 680, seen
    assert seen["tables"] and not seen["wider"], seen  # the leaderboard's columns wrap within the page
    assert pdf[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) > 3  # a chapter, on pages


# Figure text, in points as the reader sees it: at least the figure's own floor (9 pt,
# actlab.plotting.FONT_FLOOR_PT) on a desktop, where figures are never shrunk; on a 390 px phone
# at least 7 pt, the upper end of the smallest sizes journals allow in printed figures (5-7 pt),
# read from a phone held closer than a laptop; every figure also opens at full size when tapped.
DESKTOP_FLOOR_PT, PHONE_FLOOR_PT = 9.0, 7.0
LESSONS = [n for n in contents.chapters() if n != "reproducing"]

# the image the browser chose (a figure's narrow layout on a phone), its width and its column's
FIGURES = """() => Array.from(document.querySelectorAll('main .cell_output img')).map(img => ({
    src: (img.currentSrc || img.src).split('/').pop(), shown: img.getBoundingClientRect().width,
    natural: img.naturalWidth / 2, linked: img.closest('a.actlab-full-size') !== null,
    column: img.closest('a.actlab-full-size, .output, figure').parentElement.clientWidth }))"""


def smallest_font_pt(png: Path) -> float:
    from PIL import Image

    comment = Image.open(png).info.get("Comment", "")
    m = re.search(r"min-font-pt=([0-9.]+)", comment)
    assert m, f"{png.name}: no font size in its metadata (drawn without actlab.plotting.finish?)"
    return float(m.group(1))


def _check_figures(page, path: str, site: Path, floor: float) -> list[str]:
    bad = []
    for fig in page.evaluate(FIGURES):
        if not fig["src"].endswith(".png"):
            continue
        font = smallest_font_pt(site / "_images" / fig["src"])
        shown_pt = font * fig["shown"] / fig["natural"]
        if shown_pt < floor - 0.05 or not fig["linked"]:
            bad.append(f"{path}: {fig['src'][-20:]} text {shown_pt:.1f} pt "
                       f"({fig['shown']:.0f} of {fig['natural']:.0f} px), linked={fig['linked']}")
        if fig["shown"] > fig["column"] + 1:  # it would scroll sideways: a phone gets the narrow layout
            bad.append(f"{path}: {fig['src'][-20:]} is {fig['shown']:.0f} px wide in a {fig['column']} px column")
    return bad


def _becomes_visible(element, timeout_ms: int = 2000) -> bool:
    try:
        element.wait_for_element_state("visible", timeout=timeout_ms)
        return True
    except Exception:  # Playwright's TimeoutError
        return False


def _check_anatomy(page, name: str) -> list[str]:
    bad = []
    if page.query_selector("main div.admonition.question") is None:
        bad.append(f"{name}: no question box")
    if page.query_selector("main section#takeaways") is None:
        bad.append(f"{name}: no takeaways section")
    exercises = page.query_selector_all("main section#exercises div.exercise")
    if not 2 <= len(exercises) <= 4:
        bad.append(f"{name}: {len(exercises)} exercises")
    solution = page.query_selector("main section#exercises div.solution")
    if solution is None:
        bad.append(f"{name}: no solution")
    else:  # folded until the reader asks
        body = solution.query_selector("section, .solution-content, p:not(.admonition-title)")
        if body is not None and body.is_visible():
            bad.append(f"{name}: a solution is open before it is asked for")
        solution.query_selector(".admonition-title, button.toggle-button").click()
        if body is not None and not _becomes_visible(body):
            bad.append(f"{name}: a solution does not open")
    toggle = page.query_selector("main details.hide.above-input summary")
    if toggle is None:
        bad.append(f"{name}: no folded code cell")
    else:
        code = toggle.evaluate_handle("s => s.parentElement.querySelector('pre')").as_element()
        if code is None or code.is_visible():
            bad.append(f"{name}: code not folded")
        toggle.click()
        if code is not None and not code.is_visible():
            bad.append(f"{name}: code does not open")
    for text in page.eval_on_selector_all("main pre", "els => els.map(e => e.innerText)"):
        if re.search(r"^(# Parameters|.*injected)", text, re.M):
            bad.append(f"{name}: a raw parameters cell is shown")
    return bad


def _page_checks(page, path: str, site: Path, label: str, floor: float) -> list[str]:
    """A screenshot of the top of the page (for a human), no sideways scroll of the page, figure
    text above the floor."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    bad = []
    # a resize swaps a figure's narrow layout for its wide one (or back): measure once it has loaded
    page.wait_for_function("""() => Array.from(document.querySelectorAll('main img')).every(img => img.complete
        && img.naturalWidth > 0 && (!img.closest('picture') || img.currentSrc.endsWith('.narrow.png') === (innerWidth <= 700)))""",
                           timeout=10000)
    page.evaluate("() => window.scrollTo(0, 0)")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(SHOTS / f"{Path(path).stem}-{label}.png"), full_page=False)
    if overflow > 1:
        bad.append(f"{path} scrolls sideways by {overflow}px at {page.viewport_size['width']}px wide")
    # a display equation wider than the column scrolls inside it and looks cut off: break it over lines
    for wide, shown, tex in page.evaluate("""() => Array.from(document.querySelectorAll('mjx-container[display="true"]'))
            .filter(m => m.scrollWidth > m.clientWidth + 1).map(m => [m.scrollWidth, m.clientWidth, m.textContent])"""):
        bad.append(f"{path}: an equation {wide}px wide in a {shown}px column at {label}: {tex[:50]}")
    return bad + _check_figures(page, path, site, floor)


def _desktop_checks(page, path: str, site: Path) -> list[str]:
    """At 1280 px: the page checks at the desktop floor, and each lesson's question, takeaways and
    exercises, with folded solutions and folded code that open when clicked."""
    bad = _page_checks(page, path, site, "desktop", DESKTOP_FLOOR_PT)
    if Path(path).stem in LESSONS:
        bad += _check_anatomy(page, Path(path).stem)
    return bad
