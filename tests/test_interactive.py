"""The interactive figures (actlab.interactive): their data equal what the chapters measured and
the registry computes, and in a real browser every control changes the plotted data to the rows
of the figure's data file, offline, without console errors or accessibility violations."""
import json
import math

import pytest
import torch

# the browser harness of the built-site tests: the server, Chromium, one recorded page load, axe
from test_browser import BLOCKING, CONTRAST, Visit, _set_mode, browser, site_url  # noqa: F401  (fixtures)

from actlab import functions, properties
from actlab.interactive import DATA_DIR


def data(site, chapter: str, name: str) -> list[dict]:
    return json.loads((site / DATA_DIR / chapter / f"{name}.json").read_text())


def close(a, b, rel: float = 5e-6) -> bool:
    """Equal to the SIG = 6 significant digits a data file keeps."""
    if a is None or b is None:
        return a is None and (b is None or (isinstance(b, float) and math.isnan(b)))
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


# ---------------------------------------------------------------- the registry's parametrised forms

@pytest.mark.parametrize("name", sorted(functions.PARAMETER_CHOICES))
def test_parametrised_forms_match_torch_functional_and_autograd(name):
    key, _ = functions.parameter_of(name)
    x = properties.grid(20.0, 4001)  # holds 0 exactly
    for v in (*functions.PARAMETER_CHOICES[name], 0.7, 3.0):
        act = functions.parametrised(name, **{key: v})
        assert torch.allclose(act(x), act.torch_ref(x), rtol=1e-12, atol=1e-15), (name, v)
        xg = x.clone().requires_grad_(True)
        auto = torch.autograd.grad(act.torch_ref(xg).sum(), xg)[0]
        # rtol 1e-6: beyond beta x = 20 torch's softplus is x itself (slope 1; the derivative: sigmoid(beta x)),
        # and torch's CELU backward rounds 1/alpha to float32 (alpha = 0.7: 1.7e-8 relative at 0, 5e-7 at x = -20)
        assert torch.allclose(act.derivative(x), auto, rtol=1e-6, atol=1e-12), (name, v)
        assert list(act.kinks) == properties.kinks(act, x_max=5.0), (name, v)
        assert act.color == functions.get(name).color
    default = functions.get(name).params.get(key, 1.0)  # softplus lists no beta: torch's default, 1
    same = functions.parametrised(name, **{key: default})
    assert torch.equal(same(x), functions.get(name)(x)) and torch.equal(same.derivative(x), functions.get(name).derivative(x))


def test_parametrised_refuses_what_it_cannot_vary():
    with pytest.raises(ValueError, match="alpha"):
        functions.parametrised("elu", slope=0.1)
    with pytest.raises(ValueError, match="none"):
        functions.parametrised("tanh", alpha=2.0)
    with pytest.raises(ValueError, match="positive"):
        functions.parametrised("softplus", beta=0.0)
    assert functions.parametrised("tanh") is functions.get("tanh")


# ---------------------------------------------------------------- exported data = measured data

@pytest.mark.site
def test_functions_explorer_values_are_the_registrys(quick_site):
    rows = data(quick_site, "gallery", "functions")
    assert {r["name"] for r in rows} == set(functions.names(elementwise_only=True))
    for r in rows:
        act = functions.parametrised(r["name"], **({r["param"]: r["value"]} if r["param"] else {}))
        x = torch.tensor(r["x"], dtype=torch.float64)
        assert len(x) >= 101
        for got, want in ((r["f"], act(x)), (r["d"], act.derivative(x))):
            assert all(close(g, w) or abs(g - w) < 1e-12 for g, w in zip(got, want.tolist(), strict=True)), r["id"]
        left, right = properties.saturation(act)
        assert r["saturation"] == f"saturation: {left} on the left, {right} on the right"


@pytest.mark.site
def test_exported_data_equal_the_recorded_metrics(quick_site, quick_metrics):
    m = quick_metrics
    # gradients through depth: layer 1 of the deepest network = first_A_I_deepest
    grads = data(quick_site, "vanishing-gradients", "gradient-layers")
    deepest = m["vanishing-gradients.deepest"]
    checked = 0
    for r in grads:
        if r["depth"] == deepest and not r["bn"]:
            assert close(r["median"][0], m[f"vanishing-gradients.first_{r['activation']}_{r['init']}_deepest"]), r
            checked += 1
    assert checked >= 3
    # ratio and reach by depth = ratio_A_I_dD, reach_A_I_dD
    for r in data(quick_site, "vanishing-gradients", "vanishing-depth"):
        assert close(r["median"], m[f"vanishing-gradients.{r['measure']}_{r['activation']}_{r['init']}_d{r['depth']}"]), r
    # dead units: diverged counts and the largest median dead share, per activation
    dead = data(quick_site, "relu-variants", "dead-units")
    for act in {r["activation"] for r in dead}:
        every = [r for r in dead if r["activation"] == act and r["layer"] == "all"]
        assert sum(r["diverged"] for r in every) == m[f"relu-variants.diverged_{act}"]
        shares = [r["dead"] for r in every if r["dead"] is not None]
        assert close(max(shares) if shares else None, m[f"relu-variants.dead_max_{act}"]), act
        for r in every:
            assert 0 <= r["diverged"] <= r["seeds"] == m["relu-variants.dead_seeds"]


# ---------------------------------------------------------------- in the browser

# every item a chart's marks draw (not axes or legends), with its mark type and datum
PLOTTED = """async (id) => {
  const view = window.actlabCharts[id];
  await view.runAsync();
  const out = [];
  const visit = (mark) => {
    if (mark.marktype === "group") {
      for (const g of mark.items) for (const m of (g.items || [])) visit(m);
    } else if (mark.role === "mark") {
      for (const it of mark.items) if (it.datum) out.push({type: mark.marktype, datum: it.datum, text: it.text});
    }
  };
  visit(view.scenegraph().root);
  return out;
}"""


# the value each named control holds, as the chart's parameter (Vega's signal) has it
STATE = "([id, names]) => Object.fromEntries(names.map(n => [n, window.actlabCharts[id].signal(n)]))"

# each option of one control chosen in turn, as a choice does it (select it, fire input and change):
# [state of every control, what the marks draw] per option
EVERY_OPTION = """async ([id, name, names]) => {
  const plotted = PLOTTED;
  const select = document.querySelector(`#${id} select[name='${name}']`);
  const out = [];
  for (let k = 0; k < select.options.length; k++) {
    select.selectedIndex = k;
    for (const type of ["input", "change"]) select.dispatchEvent(new Event(type, {bubbles: true}));
    const items = await plotted(id);
    const state = (STATE)([id, names]);
    // the value the chart holds is the option chosen, not merely some other one
    out.push([state, items, String(state[name]) === select.options[k].value]);
  }
  return out;
}""".replace("PLOTTED", PLOTTED).replace("STATE", STATE)


def _functions_expected(rows, state):
    """Both forms' curves (the chosen and the compared one), the chosen one's properties."""
    r = next(r for r in rows if r["label"] == state["form"])
    drawn = [q for q in rows if q["label"] in (state["form"], state["compare"])]
    return {"line": {(q["label"], x, f, d) for q in drawn for x, f, d in zip(q["x"], q["f"], q["d"], strict=True)},
            "text": {r["saturation"], r["kinks"], r["range"]}}


def _functions_plotted(items):
    return {"line": {(i["datum"]["label"], i["datum"]["x"], i["datum"]["f"], i["datum"]["d"])
                     for i in items if i["type"] == "line"},
            "text": {i["text"] for i in items if i["type"] == "text"}}


def _gradients_expected(rows, state):
    """Every activation's line at once, for the chosen initialisation, depth and batch norm."""
    match = [r for r in rows if r["init"] == state["init"] and r["depth"] == state["depth"]
             and r["bn"] == state.get("bn", False)]
    assert len({r["activation"] for r in match}) == len(match) > 1
    return {(r["activation"], layer, med, lo, hi) for r in match
            for layer, med, lo, hi in zip(r["layer"], r["median"], r["lo"], r["hi"], strict=True)}


def _gradients_plotted(items):
    return {(i["datum"]["activation"], i["datum"]["layer"], i["datum"]["median"], i["datum"]["lo"], i["datum"]["hi"])
            for i in items if i["type"] in ("line", "symbol")}


def _depth_expected(rows, state):
    return {(r["activation"], r["depth"], r["median"], r["lo"], r["hi"]) for r in rows
            if r["init"] == state["init"] and r["measure"] == state["measure"]}


def _depth_plotted(items):
    return {(i["datum"]["activation"], i["datum"]["depth"], i["datum"]["median"], i["datum"]["lo"], i["datum"]["hi"])
            for i in items if i["type"] in ("line", "symbol")}


def _dead_expected(rows, state):
    sel = [r for r in rows if r["activation"] == state["act"] and r["lr"] == state["lr"]]
    bars = {(r["layer"], m, r[m]) for r in sel for m in ("inactive", "dead") if r[m] is not None}
    every = next(r for r in sel if r["layer"] == "all")
    return {"bars": bars, "diverged": f"{every['diverged']} of {every['seeds']} seeds diverged"}


def _dead_plotted(items):
    texts = [i["text"] for i in items if i["type"] == "text"]
    assert len(texts) == 1
    return {"bars": {(i["datum"]["layer"], i["datum"]["measure"], i["datum"]["share"]) for i in items
                     if i["type"] == "rect"},
            "diverged": texts[0].split(":")[0].split(" (")[0]}


# page, figure, data file, its controls (signal name -> row field whose values it offers), expected, plotted
FIGURES = [
    ("gallery", "functions", {"form": "label", "compare": "label"}, _functions_expected, _functions_plotted),
    ("vanishing-gradients", "gradient-layers", {"init": "init", "depth": "depth", "bn": "bn"},
     _gradients_expected, _gradients_plotted),
    ("vanishing-gradients", "vanishing-depth", {"init": "init", "measure": "measure"}, _depth_expected, _depth_plotted),
    ("relu-variants", "dead-units", {"act": "activation", "lr": "lr"}, _dead_expected, _dead_plotted),
]


EXTRA_OPTION = {"compare"}  # controls with one option beyond the data's values ("none")


def _state(page, block: str, controls) -> dict:
    """The value each control holds now, as the chart's parameter (Vega's signal) has it."""
    return page.evaluate(STATE, [block, list(controls)])


def _accessibility_of_figures(axe, page, path) -> list[str]:
    """test_browser's contrast audit in dark mode (critical or serious) on the interactive blocks,
    after their controls were used; test_browser audits every page, these blocks included, in
    light mode (WCAG 2.1 A/AA), and in dark mode only on a sample of pages."""
    found = []
    for mode, options in (("dark", CONTRAST),):
        _set_mode(page, mode)
        result = axe.run(page, context={"include": [["div.actlab-interactive"]]}, options=options)
        for violation in result.response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [n["target"] for n in violation["nodes"]][:3]
                found.append(f"{path} ({mode}): {violation['impact']} {violation['id']}: "
                             f"{violation['help']} at {targets}")
    return found


@pytest.mark.browser
def test_every_control_of_every_interactive_figure_plots_the_exported_rows(browser, site_url, quick_site):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    weights, violations = {}, []
    for page_name in dict.fromkeys(f[0] for f in FIGURES):
        path = f"chapters/{page_name}.html"
        v = Visit(browser)  # a fresh browser context: a first visit, nothing cached
        sizes = {}  # bytes of each response, from its Content-Length (the test server sends one per file)
        v.page.on("response", lambda r, sizes=sizes: sizes.__setitem__(r.url, int(r.headers.get("content-length") or 0)))
        v.goto(f"{site_url}/{path}")
        p = v.page
        p.wait_for_function("() => document.querySelectorAll('div.actlab-interactive').length === "
                            "document.querySelectorAll('div.actlab-interactive.actlab-ready').length", timeout=20000)
        for chapter, name, controls, expected, plotted in (f for f in FIGURES if f[0] == page_name):
            rows = data(quick_site, chapter, name)
            block = f"interactive-{name}"
            assert p.evaluate(f"() => !!window.actlabCharts['{block}']"), f"{path}: {block} not drawn"
            check = lambda p=p, block=block, rows=rows, controls=controls, expected=expected, plotted=plotted: (
                plotted(p.evaluate(PLOTTED, block)) == expected(rows, _state(p, block, controls)))
            assert check(), f"{path} {block}: the initial plot is not the data file's rows"
            drawn = {i["datum"].get("label", i["datum"].get("activation")) for i in p.evaluate(PLOTTED, block)
                     if i["type"] == "line"}
            assert name == "vanishing-depth" or name == "dead-units" or len(drawn) >= 2, \
                f"{block}: draws {drawn}, not two activations at once"
            for signal, field in controls.items():
                select = p.locator(f"#{block} select[name='{signal}']")
                label = p.locator(f"#{block} label:has(select[name='{signal}']) .vega-bind-name").inner_text()
                assert label.strip(), f"{block}: control {signal} has no visible label"
                n = select.locator("option").count()
                offered = len({json.dumps(r[field]) for r in rows}) + (signal in EXTRA_OPTION)
                assert n == offered, f"{block}: {signal} does not offer every value"
                select.select_option(index=n - 1)  # the mouse's route, through Playwright
                assert check(), f"{path} {block}: {signal} = its last option plots other data than the file's rows"
                # every value, by the same events a choice fires (input, change), in one call to the page
                seen = p.evaluate(EVERY_OPTION, [block, signal, list(controls)])
                assert len({json.dumps(state[signal]) for state, _, _ in seen}) == n, f"{block}: {signal} did not follow its options"
                for k, (state, items, chosen) in enumerate(seen):
                    assert chosen, f"{path} {block}: {signal} holds {state[signal]!r}, not option {k}'s value"
                    assert plotted(items) == expected(rows, state), \
                        f"{path} {block}: {signal} = option {k} plots other data than the file's rows"
                # and by the keyboard: focus it, move up one option
                select.focus()
                before = _state(p, block, controls)[signal]
                p.keyboard.press("ArrowUp")
                after = _state(p, block, controls)[signal]
                assert n == 1 or after != before, f"{block}: {signal} does not answer the keyboard"
                assert check(), f"{path} {block}: after the keyboard, {signal} plots other data than the file's rows"
                select.select_option(index=0)
        assert not v.outside, f"{path} tried to reach outside 127.0.0.1: {v.outside}"
        assert not v.failed, f"{path}: failed requests {v.failed}"
        assert not v.errors, f"{path}: console errors {v.errors}"
        interactive = sum(b for u, b in sizes.items() if "/_static/vega-bundle" in u or "/_static/data/" in u
                          or "actlab-interactive.js" in u)
        weights[path] = (sum(sizes.values()), interactive)
        violations += _accessibility_of_figures(axe, p, path)
        v.close()
    assert not violations, "\n".join(violations)
    print("\nfirst-visit weight of each page with an interactive figure (every byte transferred):")
    for path, (b, extra) in weights.items():
        print(f"  {path}: {b / 1e6:.2f} MB, of which {extra / 1e6:.2f} MB for its interactive figures "
              f"(the Vega bundle, cached for the next page, and the data)")


@pytest.mark.browser
def test_interactive_figures_are_hidden_in_print_and_explained_without_javascript(browser, site_url):  # noqa: F811
    v = Visit(browser, f"{site_url}/chapters/gallery.html")
    p = v.page
    p.emulate_media(media="print")
    assert not p.locator("div.actlab-interactive").first.is_visible()
    assert p.locator("main img").first.is_visible()  # the static figure is the printed one
    v.close()
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    page.goto(f"{site_url}/chapters/gallery.html")
    note = page.locator("div.actlab-interactive").first.inner_text()
    assert "figure above" in note and "JavaScript" in note
    ctx.close()


@pytest.mark.browser
def test_interactive_figures_draw_from_a_book_opened_from_disk(browser, quick_site):  # noqa: F811
    """Opened as file://, the browser will not fetch the data files; each chart falls back to the
    page's copy of the same rows and plots exactly what it plots when served."""
    ctx = browser.new_context()
    page = ctx.new_page()
    errors, requests = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    for page_name in dict.fromkeys(f[0] for f in FIGURES):
        page.goto((quick_site / "chapters" / f"{page_name}.html").as_uri(), wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('div.actlab-interactive').length === "
                               "document.querySelectorAll('div.actlab-interactive.actlab-ready').length", timeout=20000)
        for chapter, name, controls, expected, plotted in (f for f in FIGURES if f[0] == page_name):
            rows = data(quick_site, chapter, name)
            block = f"interactive-{name}"
            assert plotted(page.evaluate(PLOTTED, block)) == expected(rows, _state(page, block, controls)), \
                f"{page_name} {block}: opened from disk, it plots other data than the file's rows"
    ctx.close()
    assert not [u for u in requests if not u.startswith("file:")], "a book opened from disk requested the network"
    assert not errors, errors


@pytest.mark.browser
def test_on_a_phone_the_controls_come_first_and_log_ticks_read_as_powers_of_ten(browser, site_url):  # noqa: F811
    v = Visit(browser, f"{site_url}/chapters/vanishing-gradients.html", width=390, height=844)
    p = v.page
    p.wait_for_function("() => !!window.actlabCharts['interactive-gradient-layers']", timeout=20000)
    block = "#interactive-gradient-layers"
    controls = p.locator(f"{block} .vega-bindings").bounding_box()
    chart = p.locator(f"{block} svg").first.bounding_box()
    assert controls["y"] + controls["height"] <= chart["y"] + 1, (controls, chart)
    ticks = p.evaluate(f"""() => Array.from(document.querySelectorAll('{block} svg .role-axis-label text'))
        .map(t => t.textContent).filter(t => t)""")
    powers = [t for t in ticks if t.startswith("10") and len(t) > 2]
    assert powers and not any("e" in t for t in ticks), ticks  # 10⁻⁶, never 1e-6
    assert all(set(t[2:]) <= set("⁻⁰¹²³⁴⁵⁶⁷⁸⁹") for t in powers), powers
    v.close()
