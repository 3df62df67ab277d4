"""Figures for phones: the narrow layout plotting.finish makes, and how the book serves it."""
import re

import numpy as np
import pytest

from actlab import plotting, sphinxext


def _row_of_panels(ncols=3, width=7.0):
    fig, axes = plotting.figure(1, ncols, width=width, height=2.6, sharey=True)
    for k, ax in enumerate(axes[0]):
        ax.plot(np.arange(10), np.arange(10) * (k + 1), label=f"panel {k}")
        ax.set_title(f"panel {k}")
    return fig, axes[0]


def _chunks(png: bytes) -> dict[bytes, bytes]:
    out, pos = {}, 8
    while pos < len(png):
        n = int.from_bytes(png[pos:pos + 4], "big")
        out[png[pos + 4:pos + 8]] = png[pos + 8:pos + 8 + n]
        pos += 12 + n
    return out


@pytest.mark.parametrize("ncols, columns", [(2, 1), (3, 2)])
def test_narrow_layout_keeps_reading_order_panel_sizes_and_tick_labels(ncols, columns):
    """Two panels of a 7 in row stack in one column; three (2.3 in each) go two to a row, as wide
    as they were."""
    fig, axes = _row_of_panels(ncols)
    fig.canvas.draw()
    assert not any(t.get_visible() and t.get_text() for t in axes[1].get_yticklabels())  # shared y: hidden
    assert plotting.narrow_layout(fig)
    fig.canvas.draw()
    boxes = [ax.get_position() for ax in axes]
    assert fig.get_size_inches()[0] == pytest.approx(plotting.NARROW_IN)
    assert len({round(b.x0, 2) for b in boxes}) == columns
    assert boxes[0].y0 > boxes[-1].y0 and boxes[0].x0 <= boxes[1].x0  # first panel top left, last below
    for ax in axes:  # a shared y axis had hidden the inner panels' labels
        assert any(t.get_visible() and t.get_text() for t in ax.get_yticklabels())
    plotting.plt.close(fig)


def test_a_wide_figure_carries_its_narrow_layout_and_a_narrow_one_none():
    fig, _ = _row_of_panels()
    png = plotting.finish(fig).data
    narrow = _chunks(png).get(plotting.NARROW_CHUNK)
    assert narrow is not None and narrow[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = (int.from_bytes(narrow[i:i + 4], "big") / (2 * plotting.DISPLAY_DPI) for i in (16, 20))
    assert w <= plotting.NARROW_IN + 2 * plotting.PAD_IN + 0.01 < 7 and h > w  # stacked: tall and narrow
    assert re.search(rb"min-font-pt=9", narrow)  # the browser tests read its text size too
    fig, _ = _row_of_panels(ncols=1, width=4.0)
    assert plotting.NARROW_CHUNK not in _chunks(plotting.finish(fig).data)


def test_the_book_serves_the_narrow_layout_to_narrow_screens_only(tmp_path):
    assert sphinxext.NARROW_CHUNK == plotting.NARROW_CHUNK
    fig, _ = _row_of_panels()
    wide = tmp_path / "_images" / "fig.png"
    wide.parent.mkdir()
    wide.write_bytes(plotting.finish(fig).data)
    page = tmp_path / "chapters" / "x.html"
    page.parent.mkdir()
    html = '<img alt="a figure" src="../_images/fig.png" />'
    out = sphinxext._BARE_IMG.sub(lambda m: sphinxext._link_image(m, page), html)
    narrow = tmp_path / "_images" / "fig.narrow.png"
    assert narrow.exists() and plotting.NARROW_CHUNK not in _chunks(wide.read_bytes())  # a desktop loads one PNG
    assert '<source media="screen and (max-width: 700px)" srcset="../_images/fig.narrow.png" />' in out
    assert f"--narrow-width: {sphinxext.png_size(narrow)[0] // 2}px" in out and 'alt="a figure"' in out
    again = sphinxext._BARE_IMG.sub(lambda m: sphinxext._link_image(m, page), html)  # a second page showing it
    assert again == out


def test_narrow_layout_keeps_row_proportions_and_can_go_column_by_column():
    fig, axes = plotting.figure(2, 2, width=7.0, height=4.0, gridspec_kw={"height_ratios": [1, 3]})
    for ax in axes.flat:
        ax.plot([0, 1], [0, 1])
    assert plotting.narrow_layout(fig, order="columns")
    fig.canvas.draw()
    box = {(r, c): axes[r, c].get_position() for r in range(2) for c in range(2)}
    assert box[0, 0].height * 2.5 < box[1, 0].height  # the short row stays short
    assert box[0, 0].y0 > box[1, 0].y0 > box[0, 1].y0 > box[1, 1].y0  # first column, then the second
    plotting.plt.close(fig)


def test_a_broken_axis_keeps_its_labels_and_a_legend_beside_the_panels_goes_below():
    """A single column (a strip above the main axis) keeps the strip's x labels hidden; a legend
    at the right would take half a phone's column, so the narrow layout puts it under the panels."""
    fig, axes = plotting.figure(2, 1, width=6.5, height=3.4, sharex=True, gridspec_kw={"height_ratios": [1, 4]})
    strip, main = axes[:, 0]
    for ax in (strip, main):
        ax.plot([0, 1], [0, 1], label="a line")
    strip.tick_params(labelbottom=False)
    fig.legend(*main.get_legend_handles_labels(), loc="outside right center")
    png = plotting.finish(fig).data
    narrow = _chunks(png)[plotting.NARROW_CHUNK]
    assert not any(t.get_visible() and t.get_text() for t in strip.get_xticklabels())
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # finish closed the figure; its layout stays
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert box.y1 < main.get_window_extent(renderer).y0  # under the panels, not beside them
    assert int.from_bytes(narrow[16:20], "big") / (2 * plotting.DISPLAY_DPI) <= plotting.PHONE_FIT_IN
