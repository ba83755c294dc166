"""The overview page's bar chart: geometry only, no database."""

from datetime import date, timedelta

import pytest

from bugs.charts import PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, count_step, daily_bar_chart

TITLE = "New reports per day, last 30 days"
LAST = date(2025, 11, 30)


def month(counts: dict[int, int] | None = None, *, days: int = 30) -> list[tuple[date, int]]:
    """`days` days ending on LAST; `counts` maps days-ago to a count, every other day is zero."""
    counts = counts or {}
    return [(LAST - timedelta(days=ago), counts.get(ago, 0)) for ago in range(days - 1, -1, -1)]


@pytest.mark.parametrize(
    ("peak", "step"),
    [(0, 1), (1, 1), (5, 1), (6, 2), (10, 2), (11, 5), (42, 10), (50, 10), (51, 20), (250, 50), (1234, 500)],
)
def test_count_step_covers_the_peak_in_a_few_round_steps(peak, step):
    assert count_step(peak) == step


def test_zero_data_still_draws_every_day_and_a_scale():
    chart = daily_bar_chart(month(), title=TITLE)
    assert len(chart.bars) == 30
    assert all(bar.count == 0 and bar.height == 0 and bar.y == chart.baseline for bar in chart.bars)
    assert [t.label for t in chart.y_ticks] == ["0", "1"]
    assert chart.total == 0 and chart.peak is None
    assert chart.summary == f"{TITLE}: none"


def test_a_single_spike_sets_the_scale_and_the_summary():
    chart = daily_bar_chart(month({3: 7}), title=TITLE)
    spike = chart.bars[-4]
    assert (spike.day, spike.count) == (date(2025, 11, 27), 7)
    assert chart.y_max == 8
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    plot_height = chart.baseline - PLOT_TOP
    assert spike.height == pytest.approx(7 / 8 * plot_height, abs=0.01)
    assert spike.y + spike.height == pytest.approx(chart.baseline)
    assert [bar.height for bar in chart.bars if bar is not spike] == [0] * 29
    assert chart.summary == f"{TITLE}: 7 in all, peak 7 on 27 Nov"
    assert spike.label == "Thu 27 Nov: 7"


def test_bars_scale_linearly_and_the_top_tick_is_the_top_of_the_plot():
    chart = daily_bar_chart(month({0: 10, 1: 5}), title=TITLE)
    top, half = chart.bars[-1], chart.bars[-2]
    assert chart.y_max == 10
    assert top.y == pytest.approx(PLOT_TOP)
    assert half.height == pytest.approx(top.height / 2, abs=0.01)
    ticks = {t.label: t.position for t in chart.y_ticks}
    assert ticks["10"] == pytest.approx(PLOT_TOP) and ticks["0"] == pytest.approx(chart.baseline)
    assert ticks["4"] == pytest.approx(chart.baseline - 0.4 * (chart.baseline - PLOT_TOP))


def test_a_single_report_beside_a_big_day_stays_visible():
    chart = daily_bar_chart(month({0: 1000, 1: 1}), title=TITLE)
    assert chart.bars[-2].height >= 1


def test_bars_are_in_day_order_and_inside_the_plot():
    chart = daily_bar_chart(month({0: 3, 29: 2}), title=TITLE)
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)
    assert chart.bars[0].x >= PLOT_LEFT
    assert chart.bars[-1].x + chart.bars[-1].width <= PLOT_RIGHT + 0.01
    assert all(bar.width > 0 for bar in chart.bars)


def test_dates_are_labelled_every_five_days_ending_with_the_last_day():
    chart = daily_bar_chart(month(), title=TITLE)
    assert [t.label for t in chart.x_ticks] == ["5 Nov", "10 Nov", "15 Nov", "20 Nov", "25 Nov", "30 Nov"]
    centres = {bar.day.day: bar.x + bar.width / 2 for bar in chart.bars}
    for tick, day in zip(chart.x_ticks, (5, 10, 15, 20, 25, 30), strict=True):
        assert tick.position == pytest.approx(centres[day], abs=0.02)


def test_large_counts_get_short_tick_labels():
    chart = daily_bar_chart(month({0: 2500}), title=TITLE)
    assert [t.label for t in chart.y_ticks] == ["0", "500", "1k", "1.5k", "2k", "2.5k"]


def test_missing_days_are_zero_and_the_peak_is_the_latest_of_equals():
    chart = daily_bar_chart(
        [(date(2025, 11, 1), 2), (date(2025, 11, 4), 2), (date(2025, 11, 2), 1)], title=TITLE
    )
    assert [(bar.day.day, bar.count) for bar in chart.bars] == [(1, 2), (2, 1), (3, 0), (4, 2)]
    assert chart.peak is not None and chart.peak.day == date(2025, 11, 4)
    assert chart.summary == f"{TITLE}: 5 in all, peak 2 on 4 Nov"


def test_no_points_at_all_is_an_empty_chart_not_an_error():
    chart = daily_bar_chart([], title=TITLE)
    assert chart.bars == [] and chart.x_ticks == [] and chart.total == 0
    assert [t.label for t in chart.y_ticks] == ["0", "1"]
