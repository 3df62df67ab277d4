"""The axe-core accessibility audit (bundled by axe-playwright-python) on every page of the
quick-profile book, in light and in dark mode: no critical or serious violation."""
import pytest
from test_browser import Visit, browser, pages, site_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

BLOCKING = ("critical", "serious")


def _set_mode(page, mode: str):
    page.evaluate(f"() => {{ document.documentElement.dataset.theme = '{mode}';"
                  f" document.documentElement.dataset.mode = '{mode}'; }}")
    page.wait_for_timeout(800)  # the theme fades colours in: audit the settled page, not the transition


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_no_serious_accessibility_violation(browser, site_url, mode):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = []
    for path in pages():
        v = Visit(browser, f"{site_url}/{path}")
        _set_mode(v.page, mode)
        results = axe.run(v.page)
        for violation in results.response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [n["target"] for n in violation["nodes"]][:3]
                found.append(f"{path} ({mode}): {violation['impact']} {violation['id']}: {violation['help']} at {targets}")
        v.close()
    assert not found, "\n".join(found)
