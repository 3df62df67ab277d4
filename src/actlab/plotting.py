"""The book's one figure style.

One fixed colour per activation (from the registry), white backgrounds so figures stay
readable in the theme's dark mode, and figures closed before they are returned so a
notebook renders each exactly once. The backend is left alone: forcing Agg here would
turn notebook figure outputs into text.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from actlab import functions

# Sizes are in points at the size a figure is shown: figures are drawn at 96 dpi, the CSS
# pixel's, so a figure shown at its natural width shows 9 pt text as 9 pt. No text below
# FONT_FLOOR_PT (``finish`` refuses it); PNGs are written at 2x for high-density screens.
FONT_FLOOR_PT = 9.0
DISPLAY_DPI = 96
MAX_WIDTH_IN = 7.0  # the content column is 688 CSS px on a 1280 px desktop: never shrunk there
PAD_IN = 0.05  # white margin around the drawn area (7.1 in = 682 px with it)
# A phone's column is 358 CSS px on a 390 px screen, where a figure keeps at least 80% of its
# natural width (static/actlab.css): a figure up to PHONE_FIT_IN (447 px) fits without scrolling.
# A wider one gets a narrow layout, NARROW_IN wide (432 px with the margins).
PHONE_FIT_IN = 358 / 0.8 / DISPLAY_DPI
NARROW_IN = 4.4
NARROW_CHUNK = b"alNr"  # private, ancillary, safe to copy: other PNG readers skip it

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": DISPLAY_DPI,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 10,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.8,
}
mpl.rcParams.update(STYLE)

NEUTRAL = "#444444"
LIGHTEST_J, DARKEST_J = 62.0, 22.0  # the ramps of layer_shades, in CAM02-UCS lightness


def color(name: str) -> str:
    """The activation's colour, the same in every figure of the book."""
    return functions.get(name).color


def linestyle(name: str):
    """The activation's line style: members of one family share a hue and differ by style."""
    return functions.get(name).linestyle


def style(name: str) -> dict:
    """Colour, line style and label of an activation's line, for ``ax.plot(..., **style(name))``."""
    act = functions.get(name)
    return {"color": act.color, "linestyle": act.linestyle, "label": act.label}


def label(name: str) -> str:
    return functions.get(name).label


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float = 3.2, **kw):
    """A styled figure; axes always come back as a 2-D array."""
    if width > MAX_WIDTH_IN:
        raise ValueError(f"a figure {width} in wide would be shrunk in the book's column; at most {MAX_WIDTH_IN} in")
    with mpl.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def text_sizes(fig, draw: bool = True) -> list[tuple[float, str]]:
    """(size in pt, text) of every visible piece of text the figure draws (tick labels exist only
    once it has been drawn: ``draw=False`` when it just was)."""
    from matplotlib.text import Text

    if draw:
        fig.canvas.draw()
    out = []
    for t in fig.findobj(Text):
        ax = t.axes
        if t.get_visible() and t.get_text().strip() and (ax is None or ax.get_visible()):
            out.append((float(t.get_fontsize()), t.get_text()))
    return out


def finish(fig, narrow_order: str = "rows"):
    """The figure as the page shows it: a PNG at twice the display resolution (crisp on
    high-density screens, shown at its natural size), its smallest font written into the
    PNG's metadata for the browser tests; refused if any text is below the floor, or if it is
    wider than the column. A figure wider than a phone's column carries its narrow layout
    (:func:`narrow_layout`, panels in ``narrow_order``) in a private chunk of the PNG, which the book
    serves to narrow screens (``actlab.sphinxext``)."""
    from IPython.display import Image

    png, width_in = _png(fig)
    if width_in > MAX_WIDTH_IN + 2 * PAD_IN + 0.01:
        plt.close(fig)
        raise ValueError(f"the figure is {width_in:.2f} in wide with its labels and legends; at most {MAX_WIDTH_IN:g} in "
                         "fits the book's column unshrunk")
    if width_in > PHONE_FIT_IN and narrow_layout(fig, narrow_order):
        narrow, narrow_in = _png(fig)
        renderer = fig.canvas.get_renderer()
        if any(legend.get_window_extent(renderer).x0 > fig.bbox.width / 2 for legend in fig.legends):
            _legends_below(fig, 3)  # a legend beside the panels would take half a phone's column
            narrow, narrow_in = _png(fig)
        for columns in (2, 1):  # a figure's legend wider than the column: below it, in fewer columns
            if narrow_in > PHONE_FIT_IN and fig.legends:
                _legends_below(fig, columns)
                narrow, narrow_in = _png(fig)
        if narrow_in <= PHONE_FIT_IN:  # else it still would not fit (the browser tests name it)
            png = _with_chunk(png, NARROW_CHUNK, narrow)
    plt.close(fig)
    return Image(data=png, format="png", retina=True)


def _png(fig) -> tuple[bytes, float]:
    """The figure drawn as a PNG at 2x with its smallest font in a comment, and its width in
    inches; refused (and closed) if any text is below the floor."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=2 * DISPLAY_DPI, bbox_inches="tight", pad_inches=PAD_IN,
                metadata={"Software": None})
    sizes = text_sizes(fig, draw=False)  # savefig drew it: no third draw
    small = [(s, t) for s, t in sizes if s < FONT_FLOOR_PT]
    if small:
        plt.close(fig)
        s, t = min(small)
        raise ValueError(f"figure text {t!r} is {s:g} pt; the book's floor is {FONT_FLOOR_PT:g} pt")
    smallest = min((s for s, _ in sizes), default=FONT_FLOOR_PT)
    png = _with_comment(buf.getvalue(), f"actlab min-font-pt={smallest:g}")
    return png, int.from_bytes(png[16:20], "big") / (2 * DISPLAY_DPI)


def narrow_layout(fig, order: str = "rows") -> bool:
    """Re-lay the figure for a phone's column, NARROW_IN wide: its panels in reading order (or
    column by column, ``order="columns"``, where a column shares a colour bar), in as many columns
    as keep each about as wide as it was (one, for panels wider than half the column), rows in
    their original proportions, every panel of a multi-column grid with its own tick labels (a
    shared axis hid some); a single column (a broken axis) keeps its own. False where it cannot
    restack the figure (panels on nested grids). Figure legends beside the panels go below them
    (:func:`finish`)."""
    panels = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec() if ax.get_visible() else None
        if spec is not None:  # colour bars and insets follow their axes
            panels.setdefault((spec.rowspan.start, spec.colspan.start, spec.get_gridspec()), []).append(ax)
    grids = {key[2] for key in panels}
    if len(grids) != 1:
        return False
    grid = next(iter(grids))
    nrows, ncols = grid.get_geometry()
    ratios = list(grid.get_height_ratios() or [1] * nrows)
    width, height = fig.get_size_inches()
    cols = int(np.clip(round(NARROW_IN * ncols / width), 1, max(1, ncols - 1)))
    keys = sorted(panels, key=lambda key: key[:2] if order == "rows" else (key[1], key[0]))
    rows = [keys[k:k + cols] for k in range(0, len(keys), cols)]
    new_ratios = [max(ratios[key[0]] for key in row) for row in rows]
    fig.set_size_inches(NARROW_IN, height * sum(new_ratios) / sum(ratios))
    stack = fig.add_gridspec(len(rows), cols, height_ratios=new_ratios)
    for r, row in enumerate(rows):
        for c, key in enumerate(row):
            for ax in panels[key]:
                ax.set_subplotspec(stack[r, c])
                if ncols > 1:  # shared axes hid inner panels' labels; a single column (a broken axis) keeps its own
                    ax.tick_params(labelleft=True, labelbottom=True)
    return True


def _legends_below(fig, columns: int):
    """Each figure-level legend drawn again below the panels in ``columns`` columns (matplotlib's
    set_ncols does not re-lay a legend that exists)."""
    for old in list(fig.legends):
        handles, labels = old.legend_handles, [t.get_text() for t in old.get_texts()]
        title = old.get_title().get_text() or None
        old.remove()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(columns, len(labels)), title=title)


def _with_comment(png: bytes, text: str) -> bytes:
    """The PNG with a tEXt "Comment" chunk after its header (the font size is known only once
    the figure is drawn, so it cannot go through savefig's metadata)."""
    return _with_chunk(png, b"tEXt", b"Comment\0" + text.encode("latin-1"))


def _with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """The PNG with a chunk of type ``kind`` after its header."""
    import struct
    import zlib

    body = kind + data
    chunk = struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end_of_header = 8 + 25  # signature, then the IHDR chunk (4 length + 4 type + 13 data + 4 CRC)
    return png[:end_of_header] + chunk + png[end_of_header:]


def spread(ax, x, values, name: str, *, axis: int = 0, label_text: str | None = None, **kw):
    """Median line with the min-max band over ``axis`` (the seeds), in the activation's colour."""
    values = np.asarray(values, dtype=float)
    med = np.nanmedian(values, axis=axis)
    lo, hi = np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)
    c = color(name)
    kw.setdefault("linestyle", linestyle(name))
    ax.plot(x, med, color=c, label=label_text or label(name), **kw)
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)


def layer_shades(act: str, n: int) -> list:
    """n shades of the activation's colour in even steps of lightness (CAM02-UCS J'), from
    LIGHTEST_J (the input side; 3:1 contrast on white) to DARKEST_J (the top layer), with the
    colour's hue and as much of its chroma as every shade can keep in sRGB (clipping would make
    the steps uneven): lightness survives every colour-vision deficiency, so the order reads for all."""
    from colorspacious import cspace_convert

    j0, a0, b0 = cspace_convert(mpl.colors.to_rgb(color(act)), "sRGB1", "CAM02-UCS")
    js = np.linspace(LIGHTEST_J, DARKEST_J, n) if n > 1 else np.array([LIGHTEST_J])
    for keep in np.linspace(1, 0, 21):
        rgb = cspace_convert(np.stack([js, np.full(n, a0 * keep), np.full(n, b0 * keep)], 1), "CAM02-UCS", "sRGB1")
        if rgb.min() >= -1e-3 and rgb.max() <= 1 + 1e-3:
            break
    return [tuple(float(v) for v in c) for c in np.clip(rgb, 0, 1)]
