"""Page weight of the built book: each page's HTML plus the figures it shows (its own bytes), on a
desktop and on a phone.

    .venv/bin/python benchmarks/page_weight.py [_build/html]
"""
import re
import sys
from pathlib import Path


def page_weights(site: Path, phone: bool = False) -> dict[str, int]:
    """Bytes of each page's HTML and the figures it shows: a desktop's, or (``phone``) a narrow
    screen's, which loads a figure's narrow layout where it has one (the <picture>'s source)."""
    out = {}
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.parts:
            continue
        html = page.read_text(errors="ignore")
        own = len(html.encode())
        wide = set(re.findall(r'<img [^>]*src="([^"]+)"', html))
        narrow = dict(re.findall(r'<source [^>]*srcset="([^"]+)"[^>]*/><img [^>]*src="([^"]+)"', html))
        shown = ({n for n in narrow} | (wide - set(narrow.values()))) if phone else wide
        for src in shown:
            f = (page.parent / src.split("?")[0])
            if f.exists():
                own += f.stat().st_size
        out[str(page.relative_to(site))] = own
    return out


def main(argv):
    site = Path(argv[1] if len(argv) > 1 else "_build/html")
    for phone in (False, True):
        w = page_weights(site, phone)
        print("a phone (narrow layouts):" if phone else "a desktop:")
        for name, b in sorted(w.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {b / 1e6:6.2f} MB  {name}")
        heaviest = max(w, key=w.get)
        print(f"  heaviest page: {heaviest}, {w[heaviest] / 1e6:.2f} MB of HTML and figures; "
              f"{len(w)} pages, {sum(w.values()) / 1e6:.1f} MB in all")
    print("(the theme's scripts, styles and fonts come on top, loaded once and cached; "
          "tests/test_browser.py prints a first visit's total)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
