"""The subscribers page's growth chart: weekly signups, confirmations, unsubscribes and
erasures (subscribers.growth) as grouped bars in an SVG drawn on the server, since the
console runs no scripts. Colours come from admin.css classes, so dark mode applies."""

from __future__ import annotations

from dataclasses import dataclass

from subscribers.growth import SERIES, Week

WIDTH = 720
HEIGHT = 240
LEFT = 56  # room for the scale
BOTTOM = 36  # room for the week labels
TOP = 24  # room for the top value
RIGHT = 24  # room for the last week's label
LABELS = {
    "signups": "Signups",
    "confirmations": "Confirmations",
    "unsubscribes": "Unsubscribes",
    "erasures": "Erasures",
}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    base: int  # the y of the zero line
    top: int
    peak: int  # the value at the top line
    bars: list[Bar]
    ticks: list[Tick]
    weeks: list[Week]
    labels: dict[str, str]


def growth_chart(weeks: list[Week]) -> Chart:
    peak = max([1, *(n for week in weeks for n in week.counts.values())])
    base = HEIGHT - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(weeks))
    bar_width = slot * 0.8 / len(SERIES)
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for index, week in enumerate(weeks):
        left = LEFT + index * slot + slot * 0.1
        if (len(weeks) - 1 - index) % 2 == 0:  # every other week, ending with this one
            ticks.append(Tick(LEFT + (index + 0.5) * slot, f"{week.start.day} {week.start:%b}"))
        for n, name in enumerate(SERIES):
            value = week.counts[name]
            height = (base - TOP) * value / peak
            title = f"Week of {week.start:%-d %b %Y}, {LABELS[name].lower()}: {value}"
            bars.append(Bar(left + n * bar_width, base - height, bar_width, height, name, title))
    return Chart(WIDTH, HEIGHT, LEFT, base, TOP, peak, bars, ticks, weeks, LABELS)
