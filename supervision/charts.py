"""Charts drawn on the server as inline SVG: no chart library, no script, readable without colour.

Every chart is a horizontal bar chart (one bar per row, optionally stacked by series), with a ``<title>`` and a
``<desc>`` for screen readers; the pages print the same figures in a table beside it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = {"red": "#c0392b", "yellow": "#d4a017", "green": "#2e7d4f", "blue": "#2f6fb3", "grey": "#8a93a3",
           "teal": "#1f8a8a", "purple": "#6d4c9f"}
ROW = 26
LABEL_WIDTH = 190
BAR_WIDTH = 460
VALUE_WIDTH = 110


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[float]


def _format(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "元":
        if abs(value) >= 10_000:
            return f"{value / 10_000:,.1f}万元"
        return f"{value:,.0f}元"
    return f"{value:,.0f}{unit}"


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "",
              maximum: float | None = None) -> Markup:
    """A horizontal (stacked) bar chart; ``maximum`` fixes the scale (e.g. 100 for percentages)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = maximum if maximum is not None else max(totals, default=0) or 1
    legend_height = 22 if len(series) > 1 else 0
    height = legend_height + ROW * max(len(labels), 1) + 8
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    desc = "；".join(f"{label}：" + "，".join(f"{s.name} {_format(s.values[i], unit)}" for s in series)
                    for i, label in enumerate(labels)) or "无数据"
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-t '
             f'{escape(chart_id)}-d" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc id="{escape(chart_id)}-d">{escape(desc)}</desc>']
    if len(series) > 1:
        x = LABEL_WIDTH
        for s in series:
            parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{PALETTE.get(s.colour, s.colour)}"/>'
                         f'<text x="{x + 16}" y="14" font-size="12">{escape(s.name)}</text>')
            x += 24 + 13 * len(s.name) + 20
    if not labels:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{legend_height + 18}" font-size="13" fill="#5b6472">无数据</text>')
    for i, label in enumerate(labels):
        y = legend_height + i * ROW
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 17}" font-size="12" text-anchor="end">{escape(label)}</text>')
        x = float(LABEL_WIDTH)
        for s in series:
            length = BAR_WIDTH * max(s.values[i], 0) / top
            if length > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 5}" width="{length:.1f}" height="{ROW - 10}" '
                             f'fill="{PALETTE.get(s.colour, s.colour)}"><title>{escape(label)} {escape(s.name)} '
                             f'{escape(_format(s.values[i], unit))}</title></rect>')
            x += length
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}" font-size="12" fill="#1d2330">'
                     f'{escape(_format(totals[i], unit))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
