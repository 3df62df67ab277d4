"""The axe-core accessibility audit (bundled by axe-playwright-python) on every page of the
quick-profile book, in light and in dark mode: no critical or serious violation.

One visit per page: the full WCAG 2.1 A/AA audit in light mode, then, switched to dark mode,
the rule the mode changes (colour contrast)."""
import pytest
from test_browser import Visit, browser, pages, site_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

BLOCKING = ("critical", "serious")
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"]}
CONTRAST = {"runOnly": {"type": "rule", "values": ["color-contrast"]}, "resultTypes": ["violations"]}


def _set_mode(page, mode: str):
    # no fade: the theme animates colours, and an audit mid-transition measures neither mode
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
    page.evaluate(f"() => {{ document.documentElement.dataset.theme = '{mode}';"
                  f" document.documentElement.dataset.mode = '{mode}'; }}")


def test_no_serious_accessibility_violation_in_light_or_dark_mode(browser, site_url):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = []
    for path in pages():
        v = Visit(browser, f"{site_url}/{path}")
        for mode, options in (("light", WCAG), ("dark", CONTRAST)):
            _set_mode(v.page, mode)
            for violation in axe.run(v.page, options=options).response["violations"]:
                if violation["impact"] in BLOCKING:
                    targets = [n["target"] for n in violation["nodes"]][:3]
                    found.append(f"{path} ({mode}): {violation['impact']} {violation['id']}: "
                                 f"{violation['help']} at {targets}")
        v.close()
    assert not found, "\n".join(found)
