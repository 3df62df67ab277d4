"""A small Sphinx extension for the book.

- ``{run}`EXERCISE:METRIC``` and ``{run-command}`EXERCISE``` : a "predict, then run"
  exercise's number, as its chapter recorded it, and the command that reproduces it
  (``exercise_runs.json``, which ``actlab.staging`` writes into the staged book), never typed.
- Figures open full size when tapped (phones), and scroll sideways in a narrow column instead
  of shrinking their text (``static/actlab.css``).
- Interactive figures (``actlab.interactive``): their pages, and only theirs, load the Vega
  bundle the pipeline staged in ``_static`` and ``static/actlab-interactive.js``.
- sphinxcontrib-bibtex's citation list is ``role="list"`` with children that are not list
  items (axe-core: aria-required-children, critical): each entry becomes ``role="listitem"``.
- A folded code cell's toggle keeps its visible words as its name (myst-nb labels every one
  "Toggle hidden content").
"""
from __future__ import annotations

import json
import math
import re
from html import unescape
from pathlib import Path

from docutils import nodes

STATIC = Path(__file__).parent / "static"
_CITATION = re.compile(r'(<div class="citation" [^>]*?)role="doc-biblioentry"')
# a figure image (the book's PNGs): wrapped in a link to itself, tapped it opens at full size
_LINKED_IMG = re.compile(r'<a class="reference internal image-reference" href="[^"]*">\s*'
                         r'<img ([^>]*?)src="((?:\.\./)?_images/[^"]+\.png)"([^>]*?)/?>\s*</a>')
_BARE_IMG = re.compile(r'<img (?![^>]*data-actlab)([^>]*?)src="((?:\.\./)?_images/[^"]+\.png)"([^>]*?)/?>')
_TABLE = re.compile(r'<table class="table')


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header."""
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _link_image(m, page: Path) -> str:
    """A figure image as a link to itself ("open at full size"; it replaces the link Sphinx puts
    on a sized image, never nests in it), its display size left to the stylesheet: natural
    width (the PNG is drawn at 2x, actlab.plotting.finish) on a desktop, at least 80% of it on
    a phone. A figure with a narrow layout shows it on narrow screens (a ``<picture>``)."""
    attrs = re.sub(r'\s*style="[^"]*"', "", m.group(1) + m.group(3)).strip()
    src = m.group(2)
    w, _ = png_size(page.parent / src)
    narrow = narrow_png(page.parent / src)
    style = f"--natural-width: {w // 2}px"
    img = f'<img data-actlab src="{src}" {attrs} style="{style}" />'
    if narrow is not None:
        n_src = src[: -len(".png")] + NARROW_SUFFIX
        img = (f'<picture><source media="screen and (max-width: {NARROW_SCREEN_PX}px)" srcset="{n_src}" />'
               f'<img data-actlab src="{src}" {attrs} style="{style}; --narrow-width: {png_size(narrow)[0] // 2}px" />'
               "</picture>")
    return f'<a class="actlab-full-size" href="{src}" title="open the figure at full size">{img}</a>'


# A figure's narrow layout travels in a private chunk of its PNG (actlab.plotting.NARROW_CHUNK; a
# test keeps the two equal) and is served beside it to screens up to NARROW_SCREEN_PX wide, the
# stylesheet's phone width.
NARROW_CHUNK, NARROW_SUFFIX, NARROW_SCREEN_PX = b"alNr", ".narrow.png", 700


def narrow_png(path: Path) -> Path | None:
    """The narrow layout of the figure at ``path``: taken out of its PNG into a file beside it the
    first time (the wide PNG loses the chunk, so a desktop does not download both), then reused."""
    out = path.with_name(path.name[: -len(".png")] + NARROW_SUFFIX)
    data = path.read_bytes()
    pos, kept, narrow = 8, [data[:8]], None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, end = data[pos + 4:pos + 8], pos + 12 + n
        if kind == NARROW_CHUNK:
            narrow = data[pos + 8:pos + 8 + n]
        else:
            kept.append(data[pos:end])
        pos = end
    if narrow is not None:
        out.write_bytes(narrow)
        path.write_bytes(b"".join(kept))
    return out if out.exists() else None


_FONTAWESOME_JS = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?')


def _fix_html(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = _CITATION.sub(r'\1role="listitem"', text)
        fixed = _LINKED_IMG.sub(lambda m, page=page: _link_image(m, page), fixed)
        fixed = _BARE_IMG.sub(lambda m, page=page: _link_image(m, page), fixed)
        fixed = _TABLE.sub('<table tabindex="0" class="table', fixed)  # a table that scrolls is reachable by keyboard
        # a folded cell's toggle is named by what it shows ("Show code cell source"), not a generic
        # label that hides the visible words from speech input (WCAG 2.5.3, label in name)
        fixed = fixed.replace('<summary aria-label="Toggle hidden content">', "<summary>")
        # the theme's icons come from its stylesheet's icon font (about 150 kB, fetched once); the
        # Font Awesome script that redraws them as SVG weighs 1.5 MB and changes nothing we use
        fixed = _FONTAWESOME_JS.sub("", fixed)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
    _search_text(app)


_ARTICLE = re.compile(r'<article class="bd-article"[^>]*>(.*?)</article>', re.S)
_NOT_PROSE = re.compile(r'<(script|style)\b.*?</\1>|<details class="[^"]*above-input[^"]*">.*?</details>'
                        r'|<a class="headerlink"[^>]*>.*?</a>', re.S)


def page_text(html: str) -> str:
    """A page's article as plain text, code and scripts left out: what a search snippet quotes."""
    m = _ARTICLE.search(html)
    body = _NOT_PROSE.sub(" ", m.group(1) if m else "")
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _search_text(app):
    """The text of every page, for the search page's snippets where it cannot fetch the pages
    (a book opened from disk: file:// forbids it, and Sphinx then lists bare titles)."""
    out = Path(app.outdir)
    texts = {str(p.relative_to(out).with_suffix("")): page_text(p.read_text(encoding="utf-8"))
             for p in sorted(out.rglob("*.html")) if p.name not in ("search.html", "genindex.html")}
    (out / "_static" / "actlab-search-text.js").write_text(
        "window.ACTLAB_PAGE_TEXT = " + json.dumps(texts, ensure_ascii=False) + ";\n", encoding="utf-8")


def _static(app):
    from actlab.interactive import VEGA_DIR

    app.config.html_static_path.append(str(STATIC))
    # a declared icon: without one every browser asks the server for /favicon.ico, and gets a 404
    app.config.html_favicon = str(STATIC / "favicon.svg")
    vega = Path(app.srcdir) / VEGA_DIR  # the Vega bundle the pipeline staged, if a page needs it
    if vega.is_dir():
        app.config.html_static_path.append(str(vega))


def _runs(env) -> dict:
    if not hasattr(env, "_actlab_runs"):
        f = Path(env.srcdir) / "exercise_runs.json"
        env._actlab_runs = json.loads(f.read_text()) if f.exists() else {}
    return env._actlab_runs


def _chapter(inliner) -> str:
    return Path(inliner.document.settings.env.docname).name


def _run_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{run}`ex-id:metric``` or ``{run}`ex-id:metric:sig``` (significant figures, default 3)."""
    from actlab.numbers import fmt
    from actlab.record import load_metrics

    env = inliner.document.settings.env
    chapter = _chapter(inliner)
    parts = text.split(":")
    ex_id, metric = parts[0], parts[1] if len(parts) > 1 else ""
    if len(parts) > 2 and not parts[2].isdigit():
        msg = inliner.reporter.error(f"{{run}}`{text}`: the part after the metric is a number of significant "
                                     f"figures, such as 2; got {parts[2]!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    sig = int(parts[2]) if len(parts) > 2 else 3
    run = _runs(env).get(chapter, {}).get(ex_id)
    if run is None or metric not in run["metrics"]:
        known = ", ".join(sorted(_runs(env).get(chapter, {}))) or "none"
        msg = inliner.reporter.error(
            f"{{run}}`{text}`: chapter '{chapter}' has no exercise run '{ex_id}' recording '{metric}' "
            f"(its exercises: {known}; declare them under actlab: exercises: in the chapter's header)",
            line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    value = load_metrics(json.dumps({"v": run["metrics"][metric]}))["v"]  # {"float": "inf"} and the like
    text_out = value if isinstance(value, str) else fmt(value, sig=sig)
    node = nodes.inline(rawtext, text_out, classes=["actlab-run"])
    return [node], []


def _run_command_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    env = inliner.document.settings.env
    chapter = _chapter(inliner)
    run = _runs(env).get(chapter, {}).get(text)
    if run is None:
        msg = inliner.reporter.error(f"{{run-command}}`{text}`: chapter '{chapter}' has no exercise run '{text}'",
                                     line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [nodes.literal(rawtext, run["command"], classes=["actlab-run-command"])], []


def _one_number_formatter():
    """myst-nb formats ``{glue:text}`name:spec``` with Python's ``format``; the book's numbers
    go through ``actlab.numbers.spec`` instead (no "-0", "1.7e-16" or "inf" in prose)."""
    from ast import literal_eval

    import myst_nb.ext.glue.crossref as crossref
    import myst_nb.ext.glue.roles as roles

    from actlab.numbers import spec

    def format_plain_text(text: str, fmt_spec: str) -> str:
        try:
            value = literal_eval(text)
        except (SyntaxError, ValueError):
            value = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(text, text)
        return spec(value, fmt_spec)

    roles.format_plain_text = crossref.format_plain_text = format_plain_text


def _interactive_scripts(app, pagename, templatename, context, doctree):
    """The Vega bundle and the embedding script, on the pages with an interactive figure only
    (one URL for every page, so the browser fetches the bundle once)."""
    if 'class="actlab-interactive"' in context.get("body", ""):
        from actlab.interactive import bundle_name

        # the builder's list alone: Sphinx restores it before each page (app.add_js_file would also
        # register the file for every page written after this one)
        app.builder.add_js_file(bundle_name(), priority=900, defer="defer")
        app.builder.add_js_file("actlab-interactive.js", priority=901, defer="defer")


def _search_scripts(app, pagename, templatename, context, doctree):
    """The pages' text and the fetch that serves it, on the search page only."""
    if pagename == "search":
        app.builder.add_js_file("actlab-search-text.js", priority=100)
        app.builder.add_js_file("actlab-search.js", priority=101)


def setup(app):
    _one_number_formatter()
    app.connect("builder-inited", _static)
    app.add_css_file("actlab.css")
    app.add_js_file("actlab.js", loading_method="defer")
    app.add_role("run", _run_role)
    app.add_role("run-command", _run_command_role)
    app.connect("build-finished", _fix_html)
    app.connect("html-page-context", _interactive_scripts)
    app.connect("html-page-context", _search_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
