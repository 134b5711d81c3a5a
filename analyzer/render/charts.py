"""Inline SVG bar charts for the HTML report: one horizontal bar per stage, optionally stacked
(weight + activation bytes, compute + memory time). Pure; coordinates are rounded so the bytes
are deterministic; every label is HTML-escaped; nothing is loaded from anywhere."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH = 560
LABEL_W = 96
VALUE_W = 128
ROW_H = 26
BAR_H = 16


@dataclass(frozen=True)
class Bar:
    label: str  # the stage
    segments: tuple  # ((css class, value), ...); the bar is their sum
    text: str  # the value shown right of the bar
    tip: str = ""  # the tooltip (SVG <title>)
    attrs: dict = field(default_factory=dict)  # data-* attributes of the row (for tests and scripts)


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def bar_chart(chart_id: str, title: str, bars: list, *, note: str = "", legend: tuple = ()) -> str:
    """``legend``: ((css class, label), ...) for stacked segments."""
    top = max((sum(v for _, v in b.segments) for b in bars), default=0)
    span = WIDTH - LABEL_W - VALUE_W
    height = ROW_H * len(bars) + 8
    rows = []
    for i, b in enumerate(bars):
        y = 4 + i * ROW_H
        attrs = "".join(f' data-{escape(k)}="{escape(str(v))}"' for k, v in b.attrs.items())
        parts = [f'<g class="row"{attrs}><text class="lab" x="{LABEL_W - 8}" y="{_f(y + ROW_H / 2 + 4)}">'
                 f'{escape(b.label)}</text>']
        x = float(LABEL_W)
        for css, value in b.segments:
            w = span * value / top if top else 0.0
            if w > 0:
                w = max(w, 1.0)  # a non-zero value stays visible
                parts.append(f'<rect class="bar {escape(css)}" x="{_f(x)}" y="{_f(y + (ROW_H - BAR_H) / 2)}" '
                             f'width="{_f(w)}" height="{BAR_H}" rx="2"><title>{escape(b.tip or b.text)}</title></rect>')
                x += w
        parts.append(f'<text class="val" x="{_f(x + 6)}" y="{_f(y + ROW_H / 2 + 4)}">{escape(b.text)}</text></g>')
        rows.append("".join(parts))
    axis = f'<line class="axis" x1="{LABEL_W}" y1="2" x2="{LABEL_W}" y2="{height - 2}"/>'
    keys = "".join(f'<span class="key"><i class="{escape(css)}"></i>{escape(text)}</span>' for css, text in legend)
    return (f'<figure class="chart" data-chart="{escape(chart_id)}"><figcaption><b>{escape(title)}</b>'
            f'{f"<span>{escape(note)}</span>" if note else ""}</figcaption>'
            f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{escape(title)}">'
            f'{"".join(rows)}{axis}</svg>{f"<div class=legend>{keys}</div>" if keys else ""}</figure>')
