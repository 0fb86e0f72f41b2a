"""SVG charts for the dashboards: bar, line, pie and funnel, drawn on the server.

No JavaScript and no stylesheet inside the SVG (the Content-Security-Policy forbids inline
styles): colours and fonts are presentation attributes (``fill=``, ``font-size=``). Each bar,
point and slice is wrapped in ``<a href>`` to its drill-down list and carries a ``<title>``
(the browser's tooltip); the chart is a ``role="group"`` with an ``aria-label`` listing its
figures, and each link has its own ``aria-label`` for keyboard and screen-reader users.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup, escape

#: colours with at least 3:1 contrast on white (WCAG 2.1 non-text contrast)
PALETTE = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#a21caf", "#475569")
TEXT = "#1f2937"
MUTED = "#6b7280"
GRID = "#d1d5db"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
LABEL_CHARS = 22


@dataclass(frozen=True)
class Point:
    """One bar, point or slice: its label, value, drill-down URL and colour (None: the palette's)."""

    label: str
    value: Any
    url: str | None = None
    color: str | None = None


def number(value: Any) -> float:
    """A figure as a float (None and bad values count as 0)."""
    if value is None or isinstance(value, bool):
        return float(bool(value))
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


def format_value(value: Any, kind: str = "number") -> str:
    """``1,234``, ``1,234.50`` (money), ``42.5 %`` (percent); an empty figure is an en dash."""
    if value is None:
        return "\u2013"  # an en dash
    figure = number(value)
    if kind == "percent":
        return f"{figure:,.1f} %"
    if kind == "money" or not figure.is_integer():
        return f"{figure:,.2f}"
    return f"{figure:,.0f}"


def _short(text: str, size: int = LABEL_CHARS) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _colour(point: Point, index: int) -> str:
    return point.color or PALETTE[index % len(PALETTE)]


def _attrs(**values: Any) -> str:
    """``name="value"`` pairs, escaped; ``font_size`` becomes ``font-size``; None is left out."""
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in values.items() if v is not None)


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _svg(kind: str, title: str, summary: str, width: float, height: float, body: list[str]) -> Markup:
    head = _attrs(
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {_num(width)} {_num(height)}",
        width="100%",
        role="group",  # not "img": an image may not hold links (axe nested-interactive)
        aria_label=f"{title}: {summary}" if summary else title,
        font_family=FONT,
        font_size="12",
        fill=TEXT,
        class_=f"chart chart-{kind}",
    )
    # every text and attribute above went through escape()/_attrs(): the markup is ours
    return Markup(f"<svg {head}><title>{escape(title)}</title>{''.join(body)}</svg>")  # nosec B704


def _text(x: float, y: float, content: str, **attrs: Any) -> str:
    return f"<text {_attrs(x=_num(x), y=_num(y), **attrs)}>{escape(content)}</text>"


def _rect(x: float, y: float, width: float, height: float, fill: str, **attrs: Any) -> str:
    return f"<rect {_attrs(x=_num(x), y=_num(y), width=_num(width), height=_num(height), fill=fill, **attrs)}/>"


def _link(point: Point, text: str, inner: str) -> str:
    """``inner`` wrapped in the point's drill-down link (or a plain group), with its tooltip."""
    tip = f"<title>{escape(text)}</title>"
    if point.url:
        return f"<a {_attrs(href=point.url, aria_label=text)}>{tip}{inner}</a>"
    return f"<g>{tip}{inner}</g>"


def _summary(points: Sequence[Point], fmt: Callable[[Any], str]) -> str:
    return "; ".join(f"{p.label} {fmt(p.value)}" for p in points)


def _empty(kind: str, title: str) -> Markup:
    text = f"<text {_attrs(x='160', y='40', text_anchor='middle', fill=MUTED)}>No data</text>"
    return _svg(kind, title, "no data", 320, 80, [text])


def bar_chart(points: Sequence[Point], title: str, fmt: Callable[[Any], str] = format_value) -> Markup:
    """Horizontal bars, one row per point: label, bar, value."""
    if not points:
        return _empty("bar", title)
    width, row, label_w, value_w = 480.0, 28.0, 150.0, 90.0
    span = width - label_w - value_w
    values = [number(p.value) for p in points]
    top = max(max(values), 0.0) or 1.0
    low = min(min(values), 0.0)
    scale = span / ((top - low) or 1.0)
    zero = label_w + (-low) * scale
    body = []
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        y = 8 + index * row
        x, w = (zero, value * scale) if value >= 0 else (zero + value * scale, -value * scale)
        text = f"{point.label}: {fmt(point.value)}"
        inner = (
            _text(label_w - 8, y + 15, _short(point.label), text_anchor="end")
            + _rect(x, y + 2, max(w, 1.0), 18, _colour(point, index), rx="2")
            + _text(width - value_w + 6, y + 15, fmt(point.value))
        )
        body.append(_link(point, text, inner))
    height = 16 + len(points) * row
    axis = f"<line {_attrs(x1=_num(zero), y1='4', x2=_num(zero), y2=_num(height - 4), stroke=GRID)}/>"
    return _svg("bar", title, _summary(points, fmt), width, height, [axis, *body])


def line_chart(points: Sequence[Point], title: str, fmt: Callable[[Any], str] = format_value) -> Markup:
    """A line through the points in order (months...), each point a linked dot."""
    if not points:
        return _empty("line", title)
    width, height, left, right, top_pad, bottom = 480.0, 220.0, 70.0, 16.0, 16.0, 40.0
    values = [number(p.value) for p in points]
    high, low = max(max(values), 0.0), min(min(values), 0.0)
    scale = (height - top_pad - bottom) / ((high - low) or 1.0)
    step = (width - left - right) / max(len(points) - 1, 1)

    def y_of(value: float) -> float:
        return height - bottom - (value - low) * scale

    xs = [left + (i * step if len(points) > 1 else (width - left - right) / 2) for i in range(len(points))]
    body = [
        f"<line {_attrs(x1=_num(left), y1=_num(y_of(low)), x2=_num(width - right), y2=_num(y_of(low)), stroke=GRID)}/>",
        _text(left - 6, y_of(high) + 4, fmt(high), text_anchor="end", fill=MUTED),
        _text(left - 6, y_of(low) + 4, fmt(low), text_anchor="end", fill=MUTED),
    ]
    line = " ".join(f"{_num(x)},{_num(y_of(v))}" for x, v in zip(xs, values, strict=True))
    body.append(f"<polyline {_attrs(points=line, fill='none', stroke=PALETTE[0], stroke_width='2')}/>")
    every = max(1, math.ceil(len(points) / 8))  # at most 8 axis labels
    for index, (point, x, value) in enumerate(zip(points, xs, values, strict=True)):
        text = f"{point.label}: {fmt(point.value)}"
        dot = f"<circle {_attrs(cx=_num(x), cy=_num(y_of(value)), r='5', fill=point.color or PALETTE[0])}/>"
        body.append(_link(point, text, dot))
        if index % every == 0:
            label = _short(point.label, 10)
            attrs = _attrs(x=_num(x), y=_num(height - bottom + 18), text_anchor="middle", fill=MUTED)
            body.append(f"<text {attrs}>{escape(label)}</text>")
    return _svg("line", title, _summary(points, fmt), width, height, body)


def pie_chart(points: Sequence[Point], title: str, fmt: Callable[[Any], str] = format_value) -> Markup:
    """Slices of a circle (negative and empty values are left out) and a linked legend."""
    shown = [(i, p, number(p.value)) for i, p in enumerate(points) if number(p.value) > 0]
    total = sum(v for _, _, v in shown)
    if not shown or total <= 0:
        return _empty("pie", title)
    cx, cy, r = 100.0, 100.0, 90.0
    body: list[str] = []
    angle = -math.pi / 2
    for index, point, value in shown:
        share = value / total
        text = f"{point.label}: {fmt(point.value)} ({share * 100:.0f} %)"
        colour = _colour(point, index)
        if share >= 0.9999:
            shape = f"<circle {_attrs(cx=_num(cx), cy=_num(cy), r=_num(r), fill=colour)}/>"
        else:
            end = angle + share * 2 * math.pi
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
            large = 1 if share > 0.5 else 0
            arc = f"A{_num(r)},{_num(r)} 0 {large} 1 {_num(x2)},{_num(y2)}"
            d = f"M{_num(cx)},{_num(cy)} L{_num(x1)},{_num(y1)} {arc} Z"
            shape = f"<path {_attrs(d=d, fill=colour, stroke='#ffffff', stroke_width='1')}/>"
            angle = end
        body.append(_link(point, text, shape))
    for row, (index, point, _) in enumerate(shown):
        y = 20 + row * 22
        text = f"{point.label}: {fmt(point.value)}"
        inner = (
            f"<rect {_attrs(x='215', y=_num(y - 11), width='12', height='12', fill=_colour(point, index))}/>"
            f"<text {_attrs(x='233', y=_num(y))}>{escape(_short(point.label, 18))} {escape(fmt(point.value))}</text>"
        )
        body.append(_link(point, text, inner))
    height = max(200.0, 20 + len(shown) * 22)
    return _svg("pie", title, _summary([p for _, p, _ in shown], fmt), 420, height, body)


def funnel_chart(points: Sequence[Point], title: str, fmt: Callable[[Any], str] = format_value) -> Markup:
    """Centred bars narrowing with the value, in the points' order (stages)."""
    if not points:
        return _empty("funnel", title)
    width, row, centre, span = 480.0, 34.0, 300.0, 340.0
    values = [max(number(p.value), 0.0) for p in points]
    top = max(values) or 1.0
    body = []
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        y = 6 + index * row
        w = max(span * value / top, 2.0)
        text = f"{point.label}: {fmt(point.value)}"
        label = f"{_short(point.label, 16)} {fmt(point.value)}"
        inner = _rect(centre - w / 2, y, w, row - 6, _colour(point, index)) + _text(
            centre - span / 2 - 8, y + row / 2 + 1, label, text_anchor="end"
        )
        body.append(_link(point, text, inner))
    return _svg("funnel", title, _summary(points, fmt), width, 12 + len(points) * row, body)


CHARTS: dict[str, Callable[..., Markup]] = {
    "bar": bar_chart,
    "line": line_chart,
    "pie": pie_chart,
    "funnel": funnel_chart,
}


def chart(kind: str, points: Sequence[Point], title: str, value_format: str = "number") -> Markup:
    """The SVG of a ``kind`` chart; values are written in ``value_format`` (number, money, percent)."""
    return CHARTS[kind](points, title, lambda v: format_value(v, value_format))
