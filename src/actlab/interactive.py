"""Interactive figures in the offline book: the data a chapter measured, explored in the page.

A chapter's code cell builds the data of a figure (rows, from its own sweep) and a Vega-Lite
chart (through Altair) that reads them by URL, and displays both with :func:`show`: one output
carrying the rows under :data:`MIME` (for the pipeline) and the chart as HTML (for the page).
The pipeline (``actlab.pipeline.stage``) writes the rows of every such output to
``_static/data/CHAPTER/NAME.json`` in the staged book (:func:`data_files`), and copies the
Vega + Vega-Lite + vega-embed bundle, built once per vl-convert version by :func:`bundle`, to
``_static``; the book's Sphinx extension loads it, with ``static/actlab-interactive.js``, only on
the pages that hold an interactive figure. Nothing is computed in the browser but what
Vega-Lite's transforms do to those rows (filter, flatten, fold), and nothing is fetched from
outside the book.

Each interactive figure extends a static figure placed just above it, which stays the figure
for print (the stylesheet hides the interactive block there) and for readers without JavaScript.
"""
from __future__ import annotations

import html
import json
import math
import re

import numpy as np

MIME = "application/vnd.actlab.data+json"
DATA_DIR = "_static/data"  # in the staged book: _static/data/CHAPTER/NAME.json
VEGA_DIR = "_vega"  # in the staged book: the bundle, served from _static/ by actlab.sphinxext
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SIG = 6  # significant digits of an exported number: enough for any figure, a third of repr's bytes


def bundle_name() -> str:
    """The bundle's file name in ``_static``: one URL for every page (cached), new per version."""
    import vl_convert

    return f"vega-bundle-{vl_convert.__version__}.js"


def bundle(cache_dir) -> str:
    """Path of the JavaScript bundle (Vega, Vega-Lite and vega-embed, about 0.9 MB), generated
    offline by vl-convert into ``cache_dir`` once per vl-convert version (about 1 to 3 s)."""
    from pathlib import Path

    import vl_convert

    path = Path(cache_dir) / bundle_name()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # its top-level names (`_` among them) would clash with the theme's globals: one function
        # scope, strict as the ES modules it was bundled from; it sets window.vegaEmbed and vega
        text = ('(function () {\n"use strict";\n' + vl_convert.javascript_bundle(vl_version=vega_lite_version())
                + "\n})();\n")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def vega_lite_version() -> str:
    """The Vega-Lite version Altair writes specs for, as vl-convert names it ('v6.4')."""
    import altair as alt

    return ".".join(alt.SCHEMA_VERSION.split(".")[:2])


def plain(v):
    """A JSON-safe value: numpy scalars to Python, floats to SIG significant digits, non-finite
    floats to null (a diverged run is a missing value in a chart, counted beside it)."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return float(f"{v:.{SIG - 1}e}") if math.isfinite(v) else None
    return v


def data_url(chapter: str, name: str) -> str:
    """The data file's URL relative to the chapter's page (chapters/CHAPTER.html)."""
    return f"../{DATA_DIR}/{chapter}/{name}.json"


def show(chapter: str, name: str, rows: list[dict], chart, *, note: str):
    """Display an interactive figure: ``rows`` for the pipeline to write beside the page, and
    ``chart`` (an Altair chart whose data is ``alt.UrlData(data_url(chapter, name))``) as HTML.
    ``note`` says what the reader can choose and which static figure shows the same data."""
    from IPython.display import display

    if not (_NAME.match(chapter) and _NAME.match(name)):
        raise ValueError(f"chapter and figure names are lower-case words with hyphens; got {chapter!r}, {name!r}")
    rows = plain(rows)
    json.dumps(rows, allow_nan=False)  # strict JSON, or fail in the chapter
    spec = chart.to_dict()
    fig_id = f"interactive-{name}"
    spec_json = json.dumps(spec, allow_nan=False).replace("</", "<\\/")
    # a copy of the rows for a book opened from disk (file://), where the browser refuses to
    # fetch the data file; served over http the chart reads the file itself
    rows_json = json.dumps(rows, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    body = (f'<div class="actlab-interactive" id="{fig_id}" data-url="{html.escape(data_url(chapter, name))}">'
            f'<p class="actlab-interactive-note">{html.escape(note)}</p>'
            f'<noscript><p>This interactive version needs JavaScript; the figure above shows the same '
            f'data.</p></noscript>'
            f'<div class="actlab-chart" aria-live="polite"></div>'
            f'<script type="application/json" class="actlab-spec">{spec_json}</script>'
            f'<script type="application/json" class="actlab-data">{rows_json}</script></div>')
    display({MIME: {"chapter": chapter, "name": name, "rows": rows}, "text/html": body}, raw=True)


def data_files(nb) -> dict[str, str]:
    """``{"CHAPTER/NAME.json": strict JSON text}`` for every interactive figure of an executed notebook."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            payload = o.get("data", {}).get(MIME)
            if payload is None:
                continue
            if isinstance(payload, str):
                payload = json.loads(payload)
            key = f"{payload['chapter']}/{payload['name']}.json"
            if key in out:
                raise ValueError(f"two interactive figures write {key}")
            out[key] = json.dumps(payload["rows"], separators=(",", ":"), allow_nan=False)
    return out


# ---------------------------------------------------------------- shared chart pieces

def base_config(chart):
    """The book's look: white background (readable in dark mode, like the PNGs), 9 pt+ text."""
    return (chart.configure(background="white", font="sans-serif")
            .configure_axis(labelFontSize=12, titleFontSize=12)
            .configure_legend(labelFontSize=12, titleFontSize=12)
            .configure_title(fontSize=13)
            .configure_view(stroke=None))


def select(name: str, options, label: str, value=None, labels=None):
    """A Vega-Lite parameter bound to a labelled <select> (keyboard-operable)."""
    import altair as alt

    options = list(options)
    bind = alt.binding_select(options=options, name=label + " ",
                              **({"labels": list(labels)} if labels is not None else {}))
    return alt.param(name=name, value=options[0] if value is None else value, bind=bind)


# ---------------------------------------------------------------- (1) the functions explorer

def function_curves(x_max: float = 5.0, n_points: int = 101) -> list[dict]:
    """One row per elementwise activation and parameter value: the registry's f and f' sampled on
    [-r, r] (r = x_max, widened where a kink lies outside it, as the static figure's
    ``gallery.panel_range``; the spacing of ``n_points`` on [-x_max, x_max] kept), and the
    properties measured for that form (saturation class by ``actlab.properties``, the kinks and
    jumps on the plotted range, the range from attained values and limits)."""
    from actlab import functions, gallery, properties

    step = 2 * x_max / (n_points - 1)
    rows = []
    for name in functions.names(elementwise_only=True):
        param = functions.parameter_of(name)
        values = functions.PARAMETER_CHOICES.get(name, (None,)) if param else (None,)
        r = gallery.panel_range(name, x_max)
        x = properties.grid(r, 2 * round(r / step) + 1)
        for v in values:
            act = functions.parametrised(name, **({param[0]: v} if v is not None else {}))
            left, right = properties.saturation(act)
            rows.append({
                "id": f"{name}" + (f"|{v:g}" if v is not None else ""), "name": name, "label": act.label,
                "param": param[0] if (param and v is not None) else None, "value": v,
                "color": act.color, "x": x.tolist(), "f": act(x).tolist(), "d": act.derivative(x).tolist(),
                "saturation": f"saturation: {left} on the left, {right} on the right",
                "kinks": _kinks_text(act, r),
                "range": "range: " + _range_text(act),
            })
    return rows


def _kinks_text(act, x_max: float, h: float = 1e-6) -> str:
    """Where f is not differentiable on [-x_max, x_max], as a reader says it: "kinks on the
    plotted range: at x = 0 and 6", and a jump apart (a discontinuity, not a kink: the step's)."""
    import torch

    from actlab import properties
    from actlab.numbers import fmt

    points = properties.kinks(act, x_max=x_max)
    x = torch.tensor(points, dtype=torch.float64)
    gap = (act(x + h) - act(x - h)).abs().tolist() if points else []
    jumps = [p for p, g in zip(points, gap, strict=True) if g > 1e-3]
    kinks = [p for p in points if p not in jumps]
    at = lambda ps: "at x = " + " and ".join(fmt(p, zero=1e-9) for p in ps)
    if jumps and not kinks:  # short enough for a phone's column
        return f"no kink; a jump {at(jumps)} (a discontinuity)"
    return "kinks on the plotted range: " + (at(kinks) if kinks else "none") + (
        f"; a jump {at(jumps)}" if jumps else "")


def _range_text(act, x_max: float = 10.0, n_points: int = 20001, big: float = 1e8) -> str:
    """f's range, from the values f attains on a fine grid and its limits at ±infinity: an end
    that f reaches is closed ([0, ...), the minimum of a dip is attained: GELU's), an end that is
    only a limit is open ((0, 1) for the sigmoid), an end beyond ±1e3 at x = ±1e8 is infinite;
    a function with at most three values lists them ({0, 1} for the step).

    The grid stops at |x| = 10 so that float64 rounding cannot fake an attained limit (tanh is
    exactly 1 beyond x = 19.1 in float64)."""
    import torch

    from actlab import properties
    from actlab.numbers import fmt

    x = properties.grid(x_max, n_points)
    y = act(x)
    values = torch.unique(y)
    num = lambda v: fmt(float(v), zero=1e-12)
    if len(values) <= 3:
        return "the values {" + ", ".join(num(v) for v in values.tolist()) + "}"
    lim = act(torch.tensor([-big, big], dtype=torch.float64)).tolist()
    lo_lim, hi_lim = min(lim), max(lim)
    y_lo, y_hi = float(y.min()), float(y.max())
    if lo_lim < -1e3:
        lo = "(−∞"
    elif y_lo <= lo_lim:  # attained (a flat side at the limit, or a dip below it)
        lo = "[" + num(y_lo)
    else:
        lo = "(" + num(lo_lim)
    if hi_lim > 1e3:
        hi = "∞)"
    elif y_hi >= hi_lim:
        hi = num(y_hi) + "]"
    else:
        hi = num(hi_lim) + ")"
    return f"{lo}, {hi}"


def functions_chart(chapter: str, name: str, rows: list[dict]):
    """f above f', each as wide as the page's column (a phone's included): the chosen form (solid)
    against a second one (dashed; "none" for one alone), each in its registry colour, the title
    naming both, the chosen form's measured properties beneath. ReLU against GELU at first."""
    import altair as alt

    labels = [r["label"] for r in rows]
    pick = select("form", labels, "activation (and parameter)", value="ReLU" if "ReLU" in labels else labels[0])
    other = select("compare", labels + ["none"], "compare with", value="GELU" if "GELU" in labels else "none")
    data = alt.UrlData(url=data_url(chapter, name), format=alt.JsonDataFormat(type="json"))
    shown = (alt.Chart(data).transform_filter((alt.datum.label == pick) | (alt.datum.label == other))
             .transform_calculate(role="datum.label == form ? 'chosen' : 'compared'"))
    line = lambda field, title: (shown.transform_flatten(["x", "f", "d"]).mark_line(strokeWidth=2.5).encode(
        x=alt.X("x:Q", title="input x"), y=alt.Y(f"{field}:Q", title=title),
        color=alt.Color("color:N", scale=None), detail="label:N",
        strokeDash=alt.StrokeDash("role:N", scale=alt.Scale(domain=["chosen", "compared"], range=[[1, 0], [6, 4]]),
                                  legend=None),
        tooltip=[alt.Tooltip("label:N", title="activation"), alt.Tooltip("x:Q"), alt.Tooltip(f"{field}:Q", format=".4g")])
        .properties(width="container", height=200, title=title))
    props = (alt.Chart(data).transform_filter(alt.datum.label == pick)
             .transform_fold(["saturation", "kinks", "range"], as_=["property", "text"]).mark_text(
                 align="left", fontSize=13, color="#222222").encode(
                 y=alt.Y("property:N", axis=None, sort=["saturation", "kinks", "range"]), text="text:N",
                 x=alt.value(0)).properties(width="container", height=70, title=alt.TitleParams(
                     text=alt.ExprRef(expr="'Measured for ' + form + ' (solid)'"), anchor="start", fontSize=12)))
    # two lines, so that a phone's column shows both names and which line is which
    title = alt.TitleParams(text=alt.ExprRef(
        expr="compare == 'none' || compare == form ? form : [form + ' (solid)', 'against ' + compare + ' (dashed)']"),
        anchor="start")
    chart = alt.vconcat(line("f", "f(x)"), line("d", "derivative f′(x)"), props).add_params(pick, other)
    return base_config(chart.properties(
        title=title, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        description="The chosen activation function f and its derivative on the plotted range, against a "
                    "second one, with the chosen one's measured saturation class, kinks and range"))


def _color_scale(names):
    import altair as alt

    from actlab import functions

    return alt.Scale(domain=[functions.get(n).label for n in names], range=[functions.get(n).color for n in names])


def _log_domain(values) -> list[float]:
    v = np.asarray([x for x in values if x is not None and x > 0], float)
    return [float(10 ** np.floor(np.log10(v.min()))), float(10 ** np.ceil(np.log10(v.max())))]


# ---------------------------------------------------------------- (2) gradients through depth

# The vanishing-gradients charts follow the column's width, a desktop's or a phone's (the
# stylesheet makes vega-embed's target span the column), axes and legend included.
WIDTH = "container"
AUTOSIZE = {"type": "fit-x", "contains": "padding"}
# one way to write a log axis's labels: powers of ten as 10⁻⁶ (never 1e-6, or 0.000001 beside 1e-8);
# a tick between two powers gets no label
_POWER = "round(log(datum.value) / LN10)"
_SUPERSCRIPT = "toString(" + _POWER + ")"
for _plain, _sup in zip("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹", strict=True):
    _SUPERSCRIPT = f"replace({_SUPERSCRIPT}, regexp('{_plain}', 'g'), '{_sup}')"
LOG_AXIS = {"labelExpr": f"abs(log(datum.value) / LN10 - {_POWER}) < 1e-6 ? '10' + {_SUPERSCRIPT} : ''"}

def gradient_rows(sweep, bn=None) -> list[dict]:
    """Per activation x initialisation x depth (x batch norm, if ``bn`` is given): every weight
    layer's gradient norm at initialisation as the chapter measured it (``NormSweep.norms``),
    median over seeds with the min and max."""
    from actlab import functions

    rows = []
    for with_bn, sw in [(False, sweep)] + ([(True, bn)] if bn is not None else []):
        for a in sw.activations:
            for i in sw.inits:
                for d in sw.depths:
                    n = np.asarray(sw.norms[a, i, d], float)  # (seeds, d + 1)
                    rows.append({"activation": a, "label": functions.get(a).label, "init": i, "depth": d,
                                 "bn": with_bn, "layer": list(range(1, d + 2)), "median": np.median(n, 0),
                                 "lo": n.min(0), "hi": n.max(0), "seeds": n.shape[0]})
    return rows


def gradients_chart(chapter: str, name: str, rows: list[dict]):
    """Gradient norm against layer, one line per activation (clicking a legend entry brings it
    forward), for the chosen initialisation, depth and batch norm."""
    import altair as alt

    acts = list(dict.fromkeys(r["activation"] for r in rows))
    params = [select("init", list(dict.fromkeys(r["init"] for r in rows)), "initialisation"),
              select("depth", sorted({r["depth"] for r in rows}), "hidden layers", value=max(r["depth"] for r in rows))]
    cond = (alt.datum.init == params[0]) & (alt.datum.depth == params[1])
    if any(r["bn"] for r in rows):
        params.append(select("bn", [False, True], "batch normalisation", labels=["off", "on"]))
        cond = cond & (alt.datum.bn == params[2])
    focus = alt.selection_point(fields=["label"], bind="legend")
    # no fixed y-domain: the log axis follows the selected curves (batch norm's nearly flat lines
    # would be flattened further by a domain spanning every setting's 30 decades)
    data = alt.UrlData(url=data_url(chapter, name), format=alt.JsonDataFormat(type="json"))
    legend = alt.Legend(orient="bottom", direction="horizontal", title="activation")
    base = (alt.Chart(data).transform_filter(cond).transform_flatten(["layer", "median", "lo", "hi"])
            .encode(x=alt.X("layer:Q", title="weight layer (1 = input side)", scale=alt.Scale(nice=False, zero=False),
                          axis=alt.Axis(tickMinStep=1, format="d")),
                    color=alt.Color("label:N", scale=_color_scale(acts), title="activation", legend=legend),
                    opacity=alt.condition(focus, alt.value(1.0), alt.value(0.2))))
    title = "‖∂ℒ/∂W‖ (Frobenius)"
    scale = alt.Scale(type="log", zero=False, nice=True)
    y = alt.Y("median:Q", title=title, scale=scale, axis=LOG_AXIS)
    band = base.mark_area(fillOpacity=0.2).encode(y=alt.Y("lo:Q", scale=scale, title=title, axis=LOG_AXIS), y2="hi:Q",
                                                  opacity=alt.condition(focus, alt.value(1.0), alt.value(0.0)),
                                                  color=alt.Color("label:N", scale=_color_scale(acts), legend=None))
    line = base.mark_line(point=True, strokeWidth=2.5).encode(
        y=y, tooltip=[alt.Tooltip("label:N", title="activation"), alt.Tooltip("layer:Q"),
                      alt.Tooltip("median:Q", format=".3g", title="median"),
                      alt.Tooltip("lo:Q", format=".3g", title="min"), alt.Tooltip("hi:Q", format=".3g", title="max")])
    # the legend sits under the plot, so nothing is clipped in the text column
    chart = alt.layer(band, line.add_params(focus)).add_params(*params).properties(
        width=WIDTH, height=280, autosize=AUTOSIZE)
    return base_config(chart.properties(
        description="Weight-gradient norm of every layer at initialisation, median over seeds with the "
                    "min-max band, one line per activation, for the chosen initialisation, depth and batch "
                    "normalisation"))


# ---------------------------------------------------------------- (4) vanishing by depth

def depth_rows(sweep) -> list[dict]:
    """Per activation x initialisation x depth: the first/last ratio and the reach per seed, as
    the chapter computes them (``NormSweep.ratio``, ``NormSweep.reach``), median, min and max."""
    from actlab import functions

    rows = []
    for a in sweep.activations:
        for i in sweep.inits:
            for d in sweep.depths:
                for measure, f in (("ratio", sweep.ratio), ("reach", sweep.reach)):
                    v = np.asarray(f(a, i, d), float)
                    rows.append({"activation": a, "label": functions.get(a).label, "init": i, "depth": d,
                                 "measure": measure, "median": np.median(v), "lo": v.min(), "hi": v.max()})
    return rows


def depth_chart(chapter: str, name: str, rows: list[dict], threshold: float):
    import altair as alt

    acts = list(dict.fromkeys(r["activation"] for r in rows))
    init = select("init", list(dict.fromkeys(r["init"] for r in rows)), "initialisation")
    measure = select("measure", ["reach", "ratio"], "measure",
                     labels=["reach: rms δ₁ ÷ rms δ_out", "ratio: first ÷ last hidden layer's ‖∂ℒ/∂W‖"])
    # the y-axis stays fixed over the selections (levels compare across initialisations); the
    # x-axis spans exactly the measured depths
    domain = _log_domain([r["lo"] for r in rows] + [r["hi"] for r in rows] + [threshold])
    depths = sorted({r["depth"] for r in rows})
    data = alt.UrlData(url=data_url(chapter, name), format=alt.JsonDataFormat(type="json"))
    base = (alt.Chart(data).transform_filter((alt.datum.init == init) & (alt.datum.measure == measure))
            .encode(x=alt.X("depth:Q", title="hidden layers (log scale)",
                            scale=alt.Scale(type="log", domain=[min(depths), max(depths)], nice=False),
                            axis=alt.Axis(values=depths, format="d")),
                    color=alt.Color("label:N", scale=_color_scale(acts), title="activation",
                                    legend=alt.Legend(orient="bottom", direction="horizontal"))))
    scale = alt.Scale(type="log", domain=domain)
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("lo:Q", scale=scale, title="median over seeds", axis=LOG_AXIS),
                                              y2="hi:Q", color=alt.Color("label:N", scale=_color_scale(acts), legend=None))
    line = base.mark_line(point=True, strokeWidth=2.5).encode(
        y=alt.Y("median:Q", scale=scale), tooltip=[alt.Tooltip("label:N", title="activation"), "depth:Q",
                                                   alt.Tooltip("median:Q", format=".3g")])
    rule = alt.Chart(alt.Data(values=[{"t": threshold}])).mark_rule(strokeDash=[4, 3], color="#444444").encode(
        y=alt.Y("t:Q", scale=scale))
    chart = alt.layer(band, line, rule).add_params(init, measure).properties(width=WIDTH, height=280, autosize=AUTOSIZE)
    return base_config(chart.properties(
        description="First/last gradient ratio or reach against depth, one line per activation, for the "
                    "chosen initialisation; the dashed line is the vanishing threshold"))


# ---------------------------------------------------------------- (3) dead units

def dead_rows(sweep) -> list[dict]:
    """Per activation x learning rate x hidden layer (and all hidden units together, "all"): the
    dead and inactive shares at the end of training, median over the seeds that did not diverge,
    with min and max, and how many seeds diverged (``DeadSweep``: nan where diverged)."""
    from actlab import functions

    frac, ina = sweep.fraction(), sweep.inactive_fraction()
    rows = []
    for a, act in enumerate(sweep.activations):
        for j, lr in enumerate(sweep.lrs):
            fin = ~np.asarray(sweep.diverged[a, j], bool)
            layers = [(str(k + 1), sweep.dead[a, j, :, k], sweep.inactive[a, j, :, k]) for k in range(len(sweep.widths))]
            for layer, dead, inactive in layers + [("all", frac[a, j], ina[a, j])]:
                row = {"activation": act, "label": functions.get(act).label, "color": functions.get(act).color,
                       "lr": lr, "layer": layer, "diverged": int((~fin).sum()), "seeds": int(sweep.seeds)}
                for key, v in (("dead", dead), ("inactive", inactive)):
                    v = np.asarray(v, float)[fin]
                    row.update({key: np.median(v) if fin.any() else None, f"{key}_lo": v.min() if fin.any() else None,
                                f"{key}_hi": v.max() if fin.any() else None})
                rows.append(row)
    return rows


def dead_chart(chapter: str, name: str, rows: list[dict]):
    import altair as alt

    from actlab.numbers import fmt

    acts = list(dict.fromkeys(r["activation"] for r in rows))
    lrs = sorted({r["lr"] for r in rows})
    act = select("act", acts, "activation", labels=[next(r["label"] for r in rows if r["activation"] == a) for a in acts])
    lr = select("lr", lrs, "learning rate", labels=[fmt(v) for v in lrs])
    data = alt.UrlData(url=data_url(chapter, name), format=alt.JsonDataFormat(type="json"))
    base = alt.Chart(data).transform_filter((alt.datum.activation == act) & (alt.datum.lr == lr))
    folded = base.transform_fold(
        ["inactive", "dead"], as_=["measure", "share"]).transform_calculate(
        lo="datum.measure == 'dead' ? datum.dead_lo : datum.inactive_lo",
        hi="datum.measure == 'dead' ? datum.dead_hi : datum.inactive_hi")
    x = alt.X("layer:N", title="hidden layer (all: every hidden unit)", sort=["1", "2", "3", "all"], axis=alt.Axis(labelAngle=0))
    bars = folded.mark_bar().encode(
        x=x, xOffset=alt.XOffset("measure:N", sort=["inactive", "dead"]),
        y=alt.Y("share:Q", title="share of units (median over finite seeds)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("color:N", scale=None),
        opacity=alt.Opacity("measure:N", sort=["inactive", "dead"],
                            scale=alt.Scale(domain=["inactive", "dead"], range=[0.45, 1.0]),
                            title=["inactive: input ≤ 0 on every example;", "dead: f′ ≤ 1e-8 on every example"],
                            legend=alt.Legend(orient="bottom", direction="horizontal", titleLimit=320)),
        tooltip=["layer:N", "measure:N", alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("lo:Q", format=".1%", title="min"),
                 alt.Tooltip("hi:Q", format=".1%", title="max")])
    whiskers = folded.mark_rule(color="#222222").encode(x=x, xOffset=alt.XOffset("measure:N", sort=["inactive", "dead"]),
                                                         y="lo:Q", y2="hi:Q")
    note = base.transform_filter(alt.datum.layer == "all").transform_calculate(
        text="datum.diverged + ' of ' + datum.seeds + ' seeds diverged' + "
             "(datum.diverged == datum.seeds ? ': no share to show' : ' (not counted in the shares)')").mark_text(
        align="left", fontSize=13, color="#222222").encode(text="text:N", x=alt.value(0), y=alt.value(-12))
    # the width follows the page's column (a phone's 358 px included); the legend sits under the axes
    chart = alt.layer(bars, whiskers, note).add_params(act, lr).properties(
        width="container", height=260, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    return base_config(chart.properties(
        description="Shares of inactive and dead hidden units per layer after training, median over the seeds "
                    "that did not diverge, with min-max whiskers, for the chosen activation and learning rate"))
