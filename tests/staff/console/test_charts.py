"""The server-drawn bar charts: one scale from zero to the largest value, a bar per series
in each group, ticks only where a group has a label, and the growth chart's weeks."""

from __future__ import annotations

from datetime import date

from staff.console.charts import BOTTOM, TOP, Group, bar_chart, growth_chart
from subscribers.growth import Week


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
