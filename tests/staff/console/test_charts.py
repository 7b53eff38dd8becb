"""The server-drawn bar charts: one scale from zero to the largest value, a bar per series
in each group, ticks only where a group has a label; the growth chart's weeks and a
report's timeline, a chart per series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from staff.console.charts import BOTTOM, TOP, Group, bar_chart, growth_chart, timeline_charts
from staff.reports import SERIES, Slot, Timeline
from subscribers.growth import Week

START = datetime(2026, 11, 30, 9, tzinfo=UTC)


def a_timeline(step: timedelta, slots: int) -> Timeline:
    counts = dict.fromkeys(SERIES, 0)
    return Timeline(
        START, step, [Slot(START + step * n, {**counts, "sent": n}) for n in range(slots)]
    )


def test_bars_share_one_scale_from_zero_to_the_largest_value() -> None:
    groups = [
        Group("Mon", "Monday", {"sent": 40, "failed": 10}),
        Group("", "Tuesday", {"sent": 20, "failed": 0}),
    ]
    chart = bar_chart(groups, {"sent": "Sent", "failed": "Failed"}, css="report", height=140)
    assert chart.peak == 40 and chart.base == 140 - BOTTOM
    heights = [round(bar.height, 3) for bar in chart.bars]
    full = chart.base - TOP
    assert heights == [full, full / 4, full / 2, 0]
    assert [bar.series for bar in chart.bars] == ["sent", "failed", "sent", "failed"]
    assert chart.bars[1].title == "Monday, failed: 10"
    assert all(bar.y + bar.height == chart.base for bar in chart.bars)
    assert [tick.label for tick in chart.ticks] == ["Mon"]


def test_an_empty_chart_still_has_a_scale() -> None:
    chart = bar_chart([Group("", "Nothing", {"sent": 0})], {"sent": "Sent"}, css="report")
    assert chart.peak == 1 and chart.bars[0].height == 0


def test_the_growth_chart_labels_every_other_week_ending_with_this_one() -> None:
    counts = {"signups": 1, "confirmations": 1, "unsubscribes": 0, "erasures": 0}
    weeks = [Week(date(2026, 11, 2 + 7 * n), counts) for n in range(4)]
    chart = growth_chart(weeks)
    assert [tick.label for tick in chart.ticks] == ["9 Nov", "23 Nov"]
    assert chart.css == "growth" and len(chart.bars) == 16
    assert chart.bars[0].title == "Week of 2 Nov 2026, signups: 1"


def test_a_timeline_has_a_chart_per_series_and_few_labels() -> None:
    charts = timeline_charts(a_timeline(timedelta(hours=1), 31))
    assert [c.name for c in charts] == list(SERIES)
    sent = charts[0]
    assert sent.total == sum(range(31)) and sent.chart.peak == 30 and len(sent.chart.bars) == 31
    assert [t.label for t in sent.chart.ticks] == [
        "09:00",
        "15:00",
        "21:00",
        "03:00",
        "09:00",
        "15:00",
    ]
    assert sent.chart.bars[1].title == "30 Nov 10:00–11:00 UTC, sent: 1"
    assert charts[1].chart.peak == 1 and charts[1].total == 0  # nothing failed: an empty scale


def test_a_weeks_timeline_is_labelled_by_day() -> None:
    charts = timeline_charts(a_timeline(timedelta(hours=6), 29))
    assert [t.label for t in charts[0].chart.ticks] == ["30 Nov", "2 Dec", "4 Dec", "6 Dec"]
    short = timeline_charts(a_timeline(timedelta(hours=6), 12))
    assert [t.label for t in short[0].chart.ticks] == ["30 Nov", "1 Dec", "2 Dec"]


def test_a_large_peak_reads_short() -> None:
    chart = bar_chart([Group("", "x", {"sent": 18_336})], {"sent": "Sent"}, css="report")
    assert chart.peak_label == "18k"
    assert (
        bar_chart([Group("", "x", {"sent": 1_250})], {"sent": "Sent"}, css="r").peak_label == "1.2k"
    )
