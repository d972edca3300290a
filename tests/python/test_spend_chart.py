"""The spend report as a picture: an SVG chart of cost over time stacked by group, above
the table in Jupyter, saved with to_html / to_svg. Its structure is asserted, and the page
is rendered in headless Chromium and the pixels checked for the bars' colours."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import uuid
import zlib
from xml.etree import ElementTree

import pytest

import llmswitch
from conftest import MESSAGES

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86_400.0
#: Midnight UTC of a week far from other tests' records; each test takes the next week.
WEEKS = itertools.count()
BASE = 2_199_916_800.0  # 2039-09-18 00:00 UTC
#: The first two colours of the chart's palette (the two costliest groups).
BLUE, ORANGE = (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)


@pytest.fixture(autouse=True)
def _clock():
    llmswitch.spend.enable()
    yield
    llmswitch.spend._set_clock(None)


def spend(project: str, dollars: float, at: float, fail: bool = False) -> None:
    llmswitch.spend._set_clock(at)
    try:
        llmswitch.completion(
            model="gpt-4o",
            messages=MESSAGES,
            mock_response="litellm.RateLimitError" if fail else "x" * 4000,  # 1000 tokens
            custom_cost_per_token={"input_cost_per_token": 0.0, "output_cost_per_token": dollars / 1000},
            metadata={"project": project},
        )
    except llmswitch.RateLimitError:
        pass


def date(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d")


@pytest.fixture()
def base() -> float:
    return BASE + 7 * DAY * next(WEEKS)


@pytest.fixture()
def report(base):
    """Three days of spend by two projects (none on the second day), and a failure."""
    a, b = "search-" + uuid.uuid4().hex[:6], "chat-" + uuid.uuid4().hex[:6]
    spend(a, 3.0, base + 3600)
    spend(b, 1.0, base + 7200)
    spend(a, 2.0, base + 2 * DAY + 7200)
    spend(b, 5.0, base + 2 * DAY + 7260)
    spend(b, 0.0, base + 2 * DAY + 7320, fail=True)
    llmswitch.spend._set_clock(None)
    return a, b, llmswitch.spend_report(group_by="project", since=base, until=base + 3 * DAY)


def test_chart_svg_structure(report, base, tmp_path):
    a, b, rep = report
    assert rep.interval == "day"
    path = tmp_path / "chart.svg"
    text = rep.to_svg(path)
    assert path.read_text() == text
    root = ElementTree.fromstring(text)
    assert root.tag == f"{SVG}svg" and root.get("class") == "llmswitch-spend-chart"
    assert root.find(f"{SVG}title").text == "Cost per day (USD), by project"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "cost (USD)" in texts and "day (UTC)" in texts
    days = [date(base + d * DAY) for d in range(3)]
    # The time axis is continuous: three days, the empty middle one included.
    assert [t for t in texts if t in (days[0], days[1][5:], days[2][5:])] == [
        days[0],
        days[1][5:],
        days[2][5:],
    ]
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    stacks: dict[str, dict[str, float]] = {}
    legend = {}  # series index -> "label share"
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "legend-item":
            t = g.find(f"{SVG}text")
            legend[g.get("data-series")] = f"{t.text.strip()} {t.find(f'{SVG}tspan').text}"
    for bar in bars:
        label = legend[bar.get("data-series")].split(" ")[0]
        stacks.setdefault(bar.get("data-bucket"), {})[label] = float(bar.get("data-cost"))
    assert stacks == {
        days[0]: {a: pytest.approx(3.0), b: pytest.approx(1.0)},
        days[2]: {a: pytest.approx(2.0), b: pytest.approx(5.0)},
    }
    # The legend gives each project its share of the total, costliest first.
    assert [legend["0"], legend["1"]] == [f"{b} 54.5%", f"{a} 45.5%"]
    # Bars are stacked: each day's rectangles touch, bottom to top.
    for day in stacks:
        rects = sorted(
            (float(r.get("y")), float(r.get("height"))) for r in bars if r.get("data-bucket") == day
        )
        assert rects[0][0] + rects[0][1] == pytest.approx(rects[1][0], abs=0.02)
    # Y ticks are round dollar amounts with one precision.
    ticks = [t for t in texts if t and t.startswith("$")]
    assert ticks == ["$0", "$2", "$4", "$6", "$8"]
    assert rep.timeline()[1] == (base + DAY, {a: 0.0, b: 0.0})


def test_hourly_chart_for_a_short_span(report, base):
    rep = llmswitch.spend_report(group_by="project", since=base, until=base + 4 * 3600)
    assert rep.interval == "hour"
    assert [start for start, _ in rep.timeline()] == [base + 3600, base + 7200]
    assert (
        llmswitch.spend_report(group_by="project", since=base, until=base + 4 * 3600, interval="day").interval
        == "day"
    )
    with pytest.raises(ValueError, match="interval"):
        llmswitch.spend_report(interval="week")


def test_table_has_one_cost_column_share_bars_and_one_precision(report):
    _, b, rep = report
    html = rep._repr_html_()
    # The chart comes first, then the table.
    assert html.index("llmswitch-spend-chart") < html.index("<table")
    headers = [h.split(">")[-1] for h in html.split("</th>")[:-1]]
    assert [h for h in headers if "cost" in h] == ["cost (USD)"]
    assert "share of total" in headers and "failed" in headers and "blocked" in headers
    # Costs share one precision; the bar is the share of the total (100 px = 100 %).
    assert "$5.00" in html and "$6.00" in html and "$5</td>" not in html
    assert 'width="54.5" height="10"' in html
    text = repr(rep)
    assert "(1 failed, 0 blocked)" in text.splitlines()[0]
    header = text.splitlines()[1].split()
    assert header[-6:] == ["calls", "failed", "blocked", "tokens", "cost", "share"]
    row_b = next(line for line in text.splitlines() if line.startswith(b))
    assert row_b.split()[1:4] == ["3", "1", "0"] and "$6.00" in row_b


# --- headless Chromium ---------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("LLMSWITCH_SKIP_BROWSER") == "1":
        pytest.skip("LLMSWITCH_SKIP_BROWSER=1: the chart is not rendered in a browser")
    pytest.fail(
        "headless Chromium renders the spend chart in this test: install it "
        "(Debian/Ubuntu: apt-get install chromium; .ci/run does) or set LLMSWITCH_SKIP_BROWSER=1"
    )


def read_png(path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = chromium()
    _, _, rep = report
    page = tmp_path / "report.html"
    rep.to_html(page)
    assert page.read_text().startswith("<!DOCTYPE html>")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,700",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, rows = read_png(shot)
    assert (width, height) == (1000, 700)

    def pixels(color: tuple[int, int, int]) -> list[tuple[int, int]]:
        want = bytes(color)
        return [(x, y) for y, row in enumerate(rows) for x in range(width) if row[3 * x : 3 * x + 3] == want]

    # The chart is at the top of the page (320 px high), the table below it.
    chart_blue = [p for p in pixels(BLUE) if p[1] < 330]
    chart_orange = [p for p in pixels(ORANGE) if p[1] < 330]
    table_blue = [p for p in pixels(BLUE) if p[1] > 340]
    # Both projects' bars are drawn in their colours (and the legend swatches).
    assert len(chart_blue) > 2000 and len(chart_orange) > 2000, (len(chart_blue), len(chart_orange))
    # Bars on the first and third days, none on the second.
    xs = {x // 100 for x, y in chart_orange if y > 60}
    assert min(xs) <= 2 and max(xs) >= 4 and 3 not in xs, xs
    # Each row's share bar in the table, in the row's colour.
    assert len(table_blue) > 100
