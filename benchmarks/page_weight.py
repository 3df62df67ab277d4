"""Page weight of the built book: each page's HTML plus the figures it shows (its own bytes).

    .venv/bin/python benchmarks/page_weight.py [_build/html]
"""
import re
import sys
from pathlib import Path


def page_weights(site: Path) -> dict[str, int]:
    out = {}
    for page in sorted(site.rglob("*.html")):
        if "_static" in page.parts:
            continue
        html = page.read_text(errors="ignore")
        own = len(html.encode())
        for src in set(re.findall(r'<img [^>]*src="([^"]+)"', html)):
            f = (page.parent / src.split("?")[0])
            if f.exists():
                own += f.stat().st_size
        out[str(page.relative_to(site))] = own
    return out


def main(argv):
    site = Path(argv[1] if len(argv) > 1 else "_build/html")
    w = page_weights(site)
    for name, b in sorted(w.items(), key=lambda kv: -kv[1])[:8]:
        print(f"{b / 1e6:6.2f} MB  {name}")
    heaviest = max(w, key=w.get)
    print(f"heaviest page: {heaviest}, {w[heaviest] / 1e6:.2f} MB of HTML and figures; "
          f"{len(w)} pages, {sum(w.values()) / 1e6:.1f} MB in all (the theme's scripts, styles and "
          f"fonts come on top, loaded once and cached; tests/test_browser.py prints a first visit's total)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
