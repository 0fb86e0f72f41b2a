"""The SVG charts of ``ui.charts``: well-formed, linked, labelled, and free of inline styles."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from ui.charts import Point, chart, format_value

NS = {"svg": "http://www.w3.org/2000/svg"}
POINTS = [
    Point("Prospecting", 3, "/app/opportunity?filter=stage+%3D%3D+%22prospecting%22", "#94a3b8"),
    Point("Proposal <&>", Decimal("1250.5"), "/app/opportunity?filter=a&b"),
    Point("Won", 0, "/app/opportunity?filter=won"),
    Point("Empty", None, None),
]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize("kind", ["bar", "line", "pie", "funnel"])
def test_every_chart_is_accessible_svg_without_styles(kind: str) -> None:
    svg = str(chart(kind, POINTS, "Pipeline by stage", "money"))
    root = _parse(svg)  # well-formed XML: labels are escaped
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "group"  # it holds links, so not "img"
    assert root.get("aria-label", "").startswith("Pipeline by stage: Prospecting 3.00")
    assert root.find("svg:title", NS).text == "Pipeline by stage"
    assert "style" not in svg and "<script" not in svg
    assert all("style" not in el.attrib for el in root.iter())
    links = root.findall(".//svg:a", NS)
    hrefs = [a.get("href") for a in links]
    assert "/app/opportunity?filter=a&b" in hrefs  # & escaped in the markup, intact when parsed
    for link in links:
        assert link.get("aria-label")
        assert link.find("svg:title", NS) is not None  # the tooltip
    assert "Proposal &lt;&amp;&gt;: 1,250.50" in svg


def test_bars_link_each_point_and_scale_to_the_largest() -> None:
    root = _parse(str(chart("bar", POINTS, "Deals")))
    links = root.findall("svg:a", NS)
    assert [a.get("aria-label") for a in links] == ["Prospecting: 3", "Proposal <&>: 1,250.50", "Won: 0"]
    widths = [float(a.find("svg:rect", NS).get("width")) for a in links]
    assert widths[1] == max(widths) and widths[0] < widths[1]
    assert links[0].find("svg:rect", NS).get("fill") == "#94a3b8"  # the enum option's colour
    assert len(root.findall("svg:g", NS)) == 1  # the point without a URL is not a link


def test_pie_slices_share_the_circle_and_skip_empty_values() -> None:
    root = _parse(str(chart("pie", POINTS, "Share")))
    slices = [a for a in root.findall("svg:a", NS) if a.find("svg:path", NS) is not None]
    assert len(slices) == 2  # zero and empty values have no slice
    assert slices[0].find("svg:title", NS).text == "Prospecting: 3 (0 %)"
    whole = _parse(str(chart("pie", [Point("All", 5, "/x")], "One")))
    assert whole.find("svg:a/svg:circle", NS) is not None


def test_line_and_funnel_keep_the_order_of_the_points() -> None:
    months = [Point(f"2026-0{m}", m * 10, f"/m{m}") for m in range(1, 6)]
    line = _parse(str(chart("line", months, "Trend")))
    xs = [float(a.find("svg:circle", NS).get("cx")) for a in line.findall("svg:a", NS)]
    ys = [float(a.find("svg:circle", NS).get("cy")) for a in line.findall("svg:a", NS)]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)
    assert line.find("svg:polyline", NS) is not None
    funnel = _parse(str(chart("funnel", list(reversed(months)), "Funnel")))
    widths = [float(a.find("svg:rect", NS).get("width")) for a in funnel.findall("svg:a", NS)]
    assert widths == sorted(widths, reverse=True)


@pytest.mark.parametrize("kind", ["bar", "line", "pie", "funnel"])
def test_an_empty_chart_says_so(kind: str) -> None:
    root = _parse(str(chart(kind, [], "Nothing")))
    assert root.get("aria-label") == "Nothing: no data"
    assert "No data" in ET.tostring(root, encoding="unicode")


def test_values_are_formatted() -> None:
    assert format_value(1234) == "1,234"
    assert format_value(Decimal("1234.5")) == "1,234.50"
    assert format_value("99", "money") == "99.00"
    assert format_value(42.25, "percent") == "42.2 %"
    assert format_value(None) == "\u2013"  # an en dash
