"""Self-contained HTML documents that print: page CSS, figures sized for the printed page, tables, sections.

The layout half of the reports (what they say is :mod:`hfviz.dashboard.report`), and the figures
made for the printed page (:func:`important_leads_figure`, :func:`paper_figure`). A document is
one HTML file with plotly.js embedded once, inline: it opens offline and fetches nothing.

Printing. ``@page`` asks for landscape with :data:`PAGE_MARGIN_MM` margins and leaves the
paper size to the browser, so "Save as PDF" works on A4 and on US Letter. Every figure is
given a fixed size that fits the narrower of the two printable areas (Letter landscape:
279.4 − 2 × 10 mm = 259 mm ≈ 980 CSS px wide; A4 landscape: 190 mm ≈ 718 px high), so the
print is the screen layout, unscaled, and nothing is cut at the paper's edge. Each
:func:`section` that starts a page breaks before it, and figures, tables and boxes never break
inside (``break-inside: avoid``): a figure that does not fit the rest of a page moves whole to
the next one.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import FS_HZ

#: Page margins (mm) the print CSS asks for, on every side.
PAGE_MARGIN_MM = 10.0
#: Width (CSS px, 96 per inch) the content is laid out for: fits Letter landscape (≈ 980 px) and A4 landscape.
CONTENT_WIDTH_PX = 960
#: Leads drawn in the Patient report's attribution view: those with the largest share of |attribution|.
TOP_LEADS = 4

_CSS = f"""
*{{box-sizing:border-box}}
body{{font-family:system-ui,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;margin:0 auto;padding:16px 0;
  width:{CONTENT_WIDTH_PX}px;font-size:13px;line-height:1.35}}
h1{{font-size:22px;margin:0 0 2px}} h2{{font-size:17px;margin:0 0 6px}} h3{{font-size:14px;margin:8px 0 4px}}
p{{margin:4px 0}} .sub{{color:#555;margin:0 0 6px}}
section{{margin:0 0 26px}}
.notice{{background:#fff3cd;border:1px solid #e0c060;padding:4px 10px;border-radius:6px;margin:4px 0;font-size:12px}}
.tiles{{display:flex;gap:10px;margin:6px 0}}
.tiles div{{background:#f4f4f4;padding:4px 12px;border-radius:6px;flex:1}}
.tiles b{{display:block;font-size:19px;margin:1px 0}} .tiles small{{color:#555}}
.cols{{display:flex;gap:16px;align-items:flex-start}} .cols>div{{min-width:0}}
.tbl{{border-collapse:collapse;margin:4px 0;font-size:12px;line-height:1.25}}
.first-nowrap td:first-child,.nowrap td{{white-space:nowrap}} .small{{font-size:12px}}
.tbl td,.tbl th{{border-bottom:1px solid #ddd;padding:1px 7px;text-align:left;vertical-align:top}}
.tbl th{{background:#f4f4f4}}
.fields td:first-child{{color:#555;white-space:nowrap}} .wrap{{word-break:break-all}}
figure{{margin:4px 0}} figcaption{{color:#555;font-size:12px;margin:2px 0 0}}
.fig,.tbl,.tiles,.notice,.keep{{break-inside:avoid;page-break-inside:avoid}}
@media screen and (max-width:{CONTENT_WIDTH_PX + 20}px){{
  body{{width:auto;padding:8px}} .cols,.tiles{{flex-wrap:wrap}} .cols>div{{width:auto!important;max-width:100%}}
  figure.fig,.cols>div{{max-width:100%;overflow-x:auto}}
}}
@page{{size:landscape;margin:{PAGE_MARGIN_MM:g}mm}}
@media print{{
  body{{padding:0;-webkit-print-color-adjust:exact;print-color-adjust:exact}}
  section{{margin:0}}
  section.page{{break-before:page;page-break-before:always}}
  .modebar-container{{display:none!important}}
  h2,h3{{break-after:avoid;page-break-after:avoid}}
}}
"""


def esc(text: Any) -> str:
    """``text`` as HTML-escaped text."""
    return html.escape(str(text))


def figure_html(fig: go.Figure, *, width: int, height: int | None = None, first: bool = False,
                caption: str = "") -> str:
    """A plotly figure at a fixed size that fits the printed page, with an optional caption.

    Parameters
    ----------
    fig : plotly Figure
        Copied; the caller's figure is not changed.
    width, height : int
        Size in CSS px (``height`` default: the figure's own). ``width`` at most
        :data:`CONTENT_WIDTH_PX`.
    first : bool
        Embed plotly.js (about 4.8 MB) with this figure: true for the first figure of a
        document only.
    caption : str
        Plain text under the figure (escaped).

    Returns
    -------
    str
        ``<figure class="fig">`` holding the plot's ``div`` and script (no external reference).
    """
    if width > CONTENT_WIDTH_PX:
        raise ValueError(f"width {width} px is wider than the printed page ({CONTENT_WIDTH_PX} px)")
    f = go.Figure(fig)
    f.update_layout(width=width, height=height or f.layout.height or 450, autosize=False)
    div = pio.to_html(f, include_plotlyjs=bool(first), full_html=False,
                      config={"displaylogo": False, "responsive": False})
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure class='fig' style='width:{width}px'>{div}{cap}</figure>"


def paper_height(fig: go.Figure, width: int) -> int:
    """Height (px) that keeps a figure with locked axes (1 mm x = 1 mm y, as ECG paper) filled at ``width``.

    Reads the figure's x and y ranges and its margins; the plot area keeps their aspect ratio.
    """
    m = fig.layout.margin
    xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
    plot_w = width - (m.l or 0) - (m.r or 0)
    return round(plot_w * abs(yr[1] - yr[0]) / abs(xr[1] - xr[0])) + (m.t or 0) + (m.b or 0)


def table_html(df: pd.DataFrame, *, cls: str = "") -> str:
    """A DataFrame as an HTML table without its index (cells escaped, missing values as "—")."""
    return df.to_html(index=False, border=0, classes=f"tbl {cls}".strip(), escape=True, na_rep="—")


def fields_html(fields: Mapping[str, Any], *, wrap: Iterable[str] = ()) -> str:
    """A two-column table of labelled values (labels and values written as given, escaped).

    ``wrap`` names the fields whose values may break anywhere (hashes, long file names).
    """
    wrap = set(wrap)
    rows = "".join(f"<tr><td>{esc(k)}</td><td{' class=wrap' if k in wrap else ''}>{esc(v)}</td></tr>"
                   for k, v in fields.items())
    return f"<table class='tbl fields'>{rows}</table>"


def tiles_html(tiles: Sequence[tuple[str, str, str]]) -> str:
    """A row of boxed numbers, each ``(label, value, small note)``."""
    cells = "".join(f"<div>{esc(label)}<b>{esc(value)}</b><small>{esc(note)}</small></div>"
                    for label, value, note in tiles)
    return f"<div class='tiles'>{cells}</div>"


def notice_html(text: str, *, lead: str = "") -> str:
    """A yellow box (the synthetic-data notice), with an optional bold first phrase."""
    return f"<div class='notice'>{f'<b>{esc(lead)}</b> ' if lead else ''}{esc(text)}</div>"


def columns_html(*parts: tuple[int, str]) -> str:
    """Blocks side by side, each ``(width px, html)``; the widths plus 16 px gaps fit :data:`CONTENT_WIDTH_PX`."""
    total = sum(w for w, _ in parts) + 16 * (len(parts) - 1)
    if total > CONTENT_WIDTH_PX:
        raise ValueError(f"columns of {total} px do not fit the printed page ({CONTENT_WIDTH_PX} px)")
    return "<div class='cols'>" + "".join(f"<div style='width:{w}px'>{body}</div>" for w, body in parts) + "</div>"


def section(heading: str, body: str, *, new_page: bool = False, key: str = "") -> str:
    """One section under an ``<h2>``; ``new_page`` starts a printed page with it."""
    attrs = (" class='page'" if new_page else "") + (f" id='{esc(key)}'" if key else "")
    return f"<section{attrs}><h2>{esc(heading)}</h2>{body}</section>"


def document(title: str, *, subtitle: str, notice: str, sections: Sequence[str], footer: str = "") -> str:
    """The complete HTML document: heading, synthetic-data notice, sections, footer.

    Parameters
    ----------
    title : str
        Page heading and ``<title>`` (escaped).
    subtitle : str
        One line under the heading (escaped).
    notice : str
        HTML of the notice box (:func:`notice_html`).
    sections : sequence of str
        HTML of the sections (:func:`section`), in order; the first figure among them must
        carry plotly.js (``first=True``).
    footer : str
        HTML at the end (e.g. the notice again).

    Returns
    -------
    str
        ``<!DOCTYPE html>`` … ``</html>``, UTF-8, no external reference.
    """
    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)} — hfviz report</title>"
            f"<style>{_CSS}</style></head><body>")
    top = f"<header><h1>{esc(title)}</h1><p class='sub'>{esc(subtitle)}</p>{notice}</header>"
    return "\n".join([head, top, *sections, footer, "</body></html>"])


# --- figures made for the printed page -----------------------------------------------------------
def important_leads_figure(beat_mv: np.ndarray, attribution: Any, fs_hz: float = FS_HZ, *, k: int = TOP_LEADS,
                           title: str | None = None) -> go.Figure:
    """The Interpretability page's attribution view, cut to the ``k`` leads that carry most of it.

    The panels are those of :func:`hfviz.dashboard.attribution_figures.beat_overlay_figure` (the
    median beat on ECG-paper grid, the attribution as coloured 10-ms bands; red raises the
    predicted risk), in order of each lead's share of the total |attribution|
    (:func:`hfviz.risk.explain_summary.lead_importance`), side by side.

    Parameters
    ----------
    beat_mv : ndarray, shape (12, 600)
        Median beats in mV.
    attribution : Attribution
        From :func:`hfviz.risk.explain.attribute` (values (12, 608)).
    fs_hz : float
        Sampling rate of the beats in Hz.
    k : int
        Leads to draw.
    title : str, optional
        Figure title; default the method and baseline (``attribution.label``).

    Returns
    -------
    plotly.graph_objects.Figure
        One row of ``k`` panels titled "V5 · 23 % of |attribution|"; ``layout.meta`` has
        ``leads`` (drawn, most important first) and ``share`` (their shares, 0–1).
    """
    from hfviz.dashboard.attribution_figures import ATTRIBUTION_UNITS, beat_overlay_figure
    from hfviz.risk.explain_summary import crop_to_beat, lead_importance

    share = lead_importance(attribution.values)  # (12,)
    order = [int(i) for i in np.argsort(-share, kind="stable")[:k]]
    full = beat_overlay_figure(beat_mv, crop_to_beat(attribution.values), fs_hz,
                               method_label=title or attribution.label,
                               colorbar_title=ATTRIBUTION_UNITS.get(attribution.method))
    fig = make_subplots(rows=1, cols=len(order), horizontal_spacing=0.035,
                        subplot_titles=[f"<b>{LEADS[i]}</b> · {share[i]:.0%} of |attribution|" for i in order])
    for col, i in enumerate(order, start=1):
        traces = [t for t in full.data if (t.meta or {}).get("lead") == LEADS[i]]
        for t in traces:
            fig.add_trace(t, row=1, col=col)
        fig.update_yaxes(range=list(full.layout["yaxis" + traces[0].yaxis[1:]].range), row=1, col=col)
    grid = ("dtick", "minor", "showgrid", "gridcolor", "gridwidth", "zeroline")
    fig.update_xaxes(range=full.layout.xaxis.range, title_text="ms in the median beat",
                     **{a: full.layout.xaxis[a] for a in grid})
    fig.update_yaxes(**{a: full.layout.yaxis[a] for a in grid})
    fig.update_yaxes(title_text="mV", col=1)
    fig.update_layout(title={"text": title or attribution.label, "x": 0.01, "y": 0.98, "yref": "container",
                             "yanchor": "top", "font": {"size": 14}}, coloraxis=full.layout.coloraxis,
                      plot_bgcolor=full.layout.plot_bgcolor, height=195, margin={"l": 50, "r": 10, "t": 50, "b": 38},
                      meta={"leads": [LEADS[i] for i in order], "share": [float(share[i]) for i in order]})
    fig.update_layout(coloraxis_colorbar={"len": 1.0, "y": 0.5, "yanchor": "middle", "title": {"side": "right"}})
    fig.update_annotations(yshift=8)  # panel titles clear of the top mV tick label
    return fig


def paper_figure(fig: go.Figure, width: int, *, keep_title: bool = False) -> tuple[go.Figure, int]:
    """An ECG-paper figure for print at ``width`` px and its height (:func:`paper_height`); the title only if asked.

    Without its title the figure starts at the top of its box (the report's heading names it).
    The caller's figure is not changed.
    """
    f = go.Figure(fig)
    if not keep_title:
        f.update_layout(title_text="", margin={"t": 8})
    return f, paper_height(f, width)
