"""Charts drawn on the server as inline SVG, without a chart library.

Here is only geometry; `templates/bugs/home.html` turns it into markup (so every label is escaped
by the template engine). Horizontal positions are percentages of the chart's width and vertical
ones are pixels: the SVG then stretches to any width while its text keeps its size, where a
scaled viewBox would shrink the labels to nothing on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import dateformat

# Layout: percent of the width for x, pixels for y.
PLOT_LEFT = 8.0  # room for the count labels
PLOT_RIGHT = 96.0  # room for half of the last date label
PLOT_TOP = 10.0
AXIS_GAP = 26.0  # below the plot, for the date labels
BAR_FILL = 0.7  # share of a day's slot its bar covers
MAX_INTERVALS = 5  # at most this many steps between count ticks


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float  # left edge, percent
    width: float  # percent
    y: float  # top edge, pixels
    height: float  # pixels
    label: str  # "Tue 12 Nov: 3"


@dataclass(frozen=True)
class Tick:
    position: float  # x in percent for dates, y in pixels for counts
    label: str


@dataclass(frozen=True)
class BarChart:
    title: str
    summary: str  # what a screen reader says, and what a tooltip on the chart shows
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    baseline: float  # the y of a zero count
    y_max: int
    total: int
    peak: Bar | None  # the most recent of the highest bars; None when every day is zero
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]

    @property
    def y_label_x(self) -> float:
        return self.plot_left - 1.5

    @property
    def x_tick_end(self) -> float:
        return self.baseline + 4

    @property
    def x_label_y(self) -> float:
        return self.baseline + 18


def day_label(day: date) -> str:
    return dateformat.format(day, "j M")


def count_step(peak: int, *, max_intervals: int = MAX_INTERVALS) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that covers `peak` in at most `max_intervals` steps."""
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            step = multiple * magnitude
            if math.ceil(peak / step) <= max_intervals:
                return step
        magnitude *= 10


def _short(n: int) -> str:
    if n < 1000:
        return str(n)
    thousands = n / 1000
    return f"{thousands:.1f}".rstrip("0").rstrip(".") + "k"


def _dense(points: Iterable[tuple[date, int]]) -> list[tuple[date, int]]:
    """Every day from the first to the last, a missing day counted as zero."""
    counts: dict[date, int] = {}
    for day, count in points:
        counts[day] = counts.get(day, 0) + count
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [
        (first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
        for i in range((last - first).days + 1)
    ]


def daily_bar_chart(
    points: Iterable[tuple[date, int]],
    *,
    title: str,
    height: int = 180,
    label_every: int = 5,
) -> BarChart:
    """A bar per day. Missing days are zero bars; dates are labelled every `label_every` days,
    counting back from the last day so that the most recent one always has its label."""
    days = _dense(points)
    baseline = height - AXIS_GAP
    plot_height = baseline - PLOT_TOP
    peak_count = max((count for _, count in days), default=0)
    step = count_step(peak_count)
    y_max = max(step * math.ceil(peak_count / step), step)

    slot = (PLOT_RIGHT - PLOT_LEFT) / len(days) if days else 0.0
    bars = []
    for i, (day, count) in enumerate(days):
        bar_height = count / y_max * plot_height
        if count:
            bar_height = max(bar_height, 1.0)  # a single report stays visible beside a big day
        bars.append(
            Bar(
                day=day,
                count=count,
                x=round(PLOT_LEFT + slot * (i + (1 - BAR_FILL) / 2), 2),
                width=round(slot * BAR_FILL, 2),
                y=round(baseline - bar_height, 2),
                height=round(bar_height, 2),
                label=f"{dateformat.format(day, 'D')} {day_label(day)}: {count}",
            )
        )

    last = len(days) - 1
    x_ticks = [
        Tick(position=round(PLOT_LEFT + slot * (i + 0.5), 2), label=day_label(days[i][0]))
        for i in range(last % label_every, last + 1, label_every)
    ]
    y_ticks = [
        Tick(position=round(baseline - value / y_max * plot_height, 2), label=_short(value))
        for value in range(0, y_max + 1, step)
    ]

    total = sum(count for _, count in days)
    peak = max(reversed(bars), key=lambda bar: bar.count) if total else None
    if peak is None:
        summary = f"{title}: none"
    else:
        summary = f"{title}: {total} in all, peak {peak.count} on {day_label(peak.day)}"
    return BarChart(
        title=title,
        summary=summary,
        height=height,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        plot_top=PLOT_TOP,
        baseline=baseline,
        y_max=y_max,
        total=total,
        peak=peak,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
    )
