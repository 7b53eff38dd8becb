"""Bar charts drawn on the server as SVG, since the console runs no scripts: the
subscribers page's weekly growth (subscribers.growth) and a campaign report's timeline
(staff.reports), a small chart per series. Groups of bars along the x axis, one bar per
series in each; colours come from admin.css classes (``<css>-<series>``), so dark mode
applies. The template macro ``bar_chart`` in templates/web/admin/_macros.html draws a
``Chart``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from staff.reports import LABELS as REPORT_LABELS
from staff.reports import Slot, Timeline
from subscribers.growth import SERIES, Week

WIDTH = 720
HEIGHT = 240
LEFT = 56  # room for the scale
BOTTOM = 36  # room for the group labels
TOP = 24  # room for the top value
RIGHT = 24  # room for the last group's label
LABELS = {
    "signups": "Signups",
    "confirmations": "Confirmations",
    "unsubscribes": "Unsubscribes",
    "erasures": "Erasures",
}


@dataclass(frozen=True)
class Group:
    """One place on the x axis: its label under the axis (empty: none), its name in full
    (in each bar's tooltip) and a value per series."""

    label: str
    title: str
    counts: Mapping[str, int]


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
    groups: list[Group]
    labels: dict[str, str]  # series -> its name, in the order drawn
    css: str  # the bars' class is "<css>-<series>"

    @property
    def peak_label(self) -> str:
        """The top of the scale, short enough for the room left of the axis (12.3k)."""
        if self.peak < 1000:
            return str(self.peak)
        return f"{self.peak / 1000:.1f}k" if self.peak < 10_000 else f"{self.peak // 1000}k"


def bar_chart(
    groups: Sequence[Group],
    labels: Mapping[str, str],
    *,
    css: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Grouped bars, one group per entry of ``groups``, one bar per series of ``labels``,
    on one scale from 0 to the largest value."""
    series = list(labels)
    peak = max([1, *(group.counts[name] for group in groups for name in series)])
    base = height - BOTTOM
    slot = (width - LEFT - RIGHT) / max(1, len(groups))
    bar_width = slot * 0.8 / max(1, len(series))
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for index, group in enumerate(groups):
        left = LEFT + index * slot + slot * 0.1
        if group.label:
            ticks.append(Tick(LEFT + (index + 0.5) * slot, group.label))
        for n, name in enumerate(series):
            value = group.counts[name]
            tall = (base - TOP) * value / peak
            title = f"{group.title}, {labels[name].lower()}: {value:,}"
            bars.append(Bar(left + n * bar_width, base - tall, bar_width, tall, name, title))
    return Chart(width, height, LEFT, base, TOP, peak, bars, ticks, list(groups), dict(labels), css)


def growth_chart(weeks: list[Week]) -> Chart:
    """The subscribers page's chart: each week's signups, confirmations, unsubscribes and
    erasures, every other week labelled (ending with this one)."""
    groups = [
        Group(
            f"{week.start.day} {week.start:%b}" if (len(weeks) - 1 - index) % 2 == 0 else "",
            f"Week of {week.start:%-d %b %Y}",
            week.counts,
        )
        for index, week in enumerate(weeks)
    ]
    return bar_chart(groups, {name: LABELS[name] for name in SERIES}, css="growth")


# Narrower than the growth chart: two side by side on a wide screen, one a row on a phone.
TIMELINE_WIDTH = 480
TIMELINE_HEIGHT = 170
TIMELINE_TICKS = 6  # at most, so that labels never overlap on a phone


@dataclass(frozen=True)
class SeriesChart:
    """One series of a report's timeline, on its own scale (sent is counted in thousands
    where complaints are a handful)."""

    name: str
    label: str
    total: int
    chart: Chart


def _slot_title(slot: Slot, step: timedelta) -> str:
    end = slot.start + step
    return f"{slot.start:%-d %b %H:%M}–{end:%H:%M} UTC"


def timeline_charts(line: Timeline) -> list[SeriesChart]:
    """A chart per series of the timeline: six-hour slots labelled by day, hourly slots by
    the hour, with at most ``TIMELINE_TICKS`` labels."""
    daily = line.step >= timedelta(hours=6)
    if daily:  # labels on whole days from the first slot
        per_day = timedelta(days=1) // line.step
        days = -(-len(line.slots) // per_day)
        every = per_day * -(-days // TIMELINE_TICKS)
    else:
        every = -(-len(line.slots) // TIMELINE_TICKS)
    groups = [
        (slot, f"{slot.start:%-d %b}" if daily else f"{slot.start:%H:%M}") for slot in line.slots
    ]
    totals = line.totals()
    charts = []
    for name, label in REPORT_LABELS.items():
        series = [
            Group(tick if index % every == 0 else "", _slot_title(slot, line.step), slot.counts)
            for index, (slot, tick) in enumerate(groups)
        ]
        chart = bar_chart(
            series, {name: label}, css="report", width=TIMELINE_WIDTH, height=TIMELINE_HEIGHT
        )
        charts.append(SeriesChart(name, label, totals[name], chart))
    return charts
