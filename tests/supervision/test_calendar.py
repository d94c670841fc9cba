"""The working-day calendar: official holidays and make-up days, counting, and the Monday-Friday fallback."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from supervision import calendar
from supervision.calendar import WorkingCalendar


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 2, 12),  # Monday in the Spring Festival block
        date(2024, 10, 7),
        date(2025, 1, 1),
        date(2025, 10, 8),  # National Day and Mid-Autumn merged, 8 days
        date(2026, 2, 23),  # 正月初七, Monday
        date(2026, 10, 6),
        date(2026, 1, 2),  # Friday after New Year's Day 2026
    ],
)
def test_holiday_weekdays_are_not_working_days(day):
    assert day.weekday() < 5
    assert not calendar.is_working_day(day)
    assert calendar.holiday_name(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 2, 4), date(2024, 2, 18), date(2024, 4, 7), date(2024, 9, 29), date(2024, 10, 12),
        date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11),
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
        date(2026, 10, 10),
    ],
)
def test_make_up_weekend_days_are_working_days(day):
    assert day.weekday() >= 5
    assert calendar.is_working_day(day)


def test_ordinary_days_follow_the_week():
    assert calendar.is_working_day(date(2026, 3, 11))  # Wednesday
    assert not calendar.is_working_day(date(2026, 3, 14))  # Saturday


def test_add_working_days_skips_the_national_day_block():
    # Wednesday 30 Sep 2026 + 1 working day: 1-7 Oct are off, 8 Oct (Thursday) is next.
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    # Friday 9 Oct, then Saturday 10 Oct is a make-up working day.
    assert calendar.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert calendar.add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert calendar.add_working_days(date(2026, 10, 4), 0) == date(2026, 10, 4)


def test_add_working_days_counts_from_the_next_day():
    # 民法典第201条: Monday + 5 working days is the next Monday.
    assert calendar.add_working_days(date(2026, 3, 9), 5) == date(2026, 3, 16)
    assert calendar.add_working_days(date(2026, 3, 14), 1) == date(2026, 3, 16)  # from a Saturday


def test_working_days_between_counts_after_start_up_to_end():
    assert calendar.working_days_between(date(2026, 3, 9), date(2026, 3, 16)) == 5
    assert calendar.working_days_between(date(2026, 3, 16), date(2026, 3, 9)) == -5
    assert calendar.working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0
    # 2025 Spring Festival: 28 Jan-4 Feb off; 27 Jan, 5-7 Feb and Saturday 8 Feb (make-up) on.
    assert calendar.working_days_between(date(2025, 1, 26), date(2025, 2, 9)) == 5


def test_counting_agrees_with_walking_day_by_day():
    start = date(2023, 12, 1)
    days = [start + timedelta(days=i) for i in range(1, 1200)]
    working = [d for d in days if calendar.is_working_day(d)]
    for n in (1, 2, 5, 7, 15, 30, 100):
        assert calendar.add_working_days(start, n) == working[n - 1]
        assert calendar.working_days_between(start, working[n - 1]) == n
    end = working[-1]
    for n in (1, 3, 30):
        assert calendar.add_working_days(end, -n) == working[-1 - n]


def test_period_end_moves_past_rest_days():
    # 民法典第203条: a period ending on a holiday ends on the next working day.
    assert calendar.period_end(date(2026, 9, 26), 5) == date(2026, 10, 8)
    assert calendar.period_end(date(2026, 3, 9), 5) == date(2026, 3, 16)  # Saturday 14th → Monday 16th
    assert calendar.period_end(date(2026, 3, 9), 3) == date(2026, 3, 12)


def test_coverage_names_each_year_and_its_source():
    coverage = calendar.coverage()
    assert set(coverage.years) >= {2024, 2025, 2026}
    for source in coverage.sources:
        assert source.source == f"国务院办公厅关于{source.year}年部分节假日安排的通知"
        assert source.published
    assert calendar.covers(date(2026, 6, 1))
    assert not calendar.covers(date(2030, 6, 1))


def test_uncovered_years_fall_back_to_monday_to_friday():
    assert calendar.is_working_day(date(2030, 1, 1))  # a Tuesday: holidays of 2030 are unknown
    assert not calendar.is_working_day(date(2030, 1, 5))
    assert calendar.working_days_between(date(2030, 1, 4), date(2030, 1, 11)) == 5


def test_a_calendar_rejects_a_day_that_is_both_holiday_and_make_up():
    with pytest.raises(ValueError):
        WorkingCalendar({date(2026, 1, 4): "元旦"}, {date(2026, 1, 4): "元旦"})


def test_a_custom_calendar_from_data():
    custom = WorkingCalendar.from_mapping(
        {
            "years": {
                "2031": {
                    "source": "test",
                    "holidays": [{"name": "X", "days": ["2031-03-03"]}],
                    "make_up_working_days": [{"for": "X", "days": ["2031-03-01"]}],
                }
            }
        }
    )
    assert not custom.is_working_day(date(2031, 3, 3))
    assert custom.is_working_day(date(2031, 3, 1))
    assert custom.add_working_days(date(2031, 2, 28), 2) == date(2031, 3, 4)
