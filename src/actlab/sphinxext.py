"""A small Sphinx extension for the book: accessibility fixes the themes do not make.

- sphinxcontrib-bibtex's citation list is ``role="list"`` with children that are not list
  items (axe-core: aria-required-children, critical): each entry becomes ``role="listitem"``.
- A stylesheet (``static/actlab.css``) for contrast fixes and the claim boxes.
"""
from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"
_CITATION = re.compile(r'(<div class="citation" [^>]*?)role="doc-biblioentry"')


def _fix_html(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = _CITATION.sub(r'\1role="listitem"', text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _static(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _static)
    app.add_css_file("actlab.css")
    app.connect("build-finished", _fix_html)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
