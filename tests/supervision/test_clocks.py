"""Statutory clocks and the green / yellow / red light of a supervision point."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supervision.clocks import (
    ClockKind,
    DayKind,
    Light,
    StatutoryClocks,
    WarningThresholds,
    clock_due,
    evaluate_bid_count,
    evaluate_clock,
    local_date,
)

BEIJING = ZoneInfo("Asia/Shanghai")
CLOCKS = StatutoryClocks()


def at(day: date, hour: int = 10) -> datetime:
    """A moment on a Beijing calendar day, as the aware UTC datetime the platform stores."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING).astimezone(UTC)


def test_defaults_are_the_legal_values_with_sources():
    expected = {
        "bid_preparation": (20, DayKind.CALENDAR, ClockKind.AT_LEAST_AFTER),
        "document_issue_period": (5, DayKind.CALENDAR, ClockKind.AT_LEAST_AFTER),
        "clarification_lead": (15, DayKind.CALENDAR, ClockKind.AT_LEAST_BEFORE),
        "objection_to_documents_lead": (10, DayKind.CALENDAR, ClockKind.AT_LEAST_BEFORE),
        "objection_answer": (3, DayKind.CALENDAR, ClockKind.WITHIN),
        "candidate_publicity_start": (3, DayKind.CALENDAR, ClockKind.WITHIN),
        "candidate_publicity_period": (3, DayKind.CALENDAR, ClockKind.AT_LEAST_AFTER),
        "report_to_supervisor": (15, DayKind.CALENDAR, ClockKind.WITHIN),
        "contract_signing": (30, DayKind.CALENDAR, ClockKind.WITHIN),
        "bond_refund": (5, DayKind.CALENDAR, ClockKind.WITHIN),
        "gp_winner_confirmation": (5, DayKind.WORKING, ClockKind.WITHIN),
        "gp_result_notice": (2, DayKind.WORKING, ClockKind.WITHIN),
        "gp_challenge_window": (7, DayKind.WORKING, ClockKind.WITHIN),
    }
    for name, (days, unit, kind) in expected.items():
        clock = getattr(CLOCKS, name)
        assert (clock.days, clock.unit, clock.kind) == (days, unit, kind), name
    assert CLOCKS.minimum_bids == 3
    assert all(clock.source and clock.title_zh and clock.rule_en for clock in CLOCKS.all())
    assert len({clock.code for clock in CLOCKS.all()}) == len(CLOCKS.all())


def test_durations_can_be_overridden_without_touching_the_rest():
    stricter = CLOCKS.with_days(contract_signing=20)
    assert stricter.contract_signing.days == 20
    assert stricter.contract_signing.source == CLOCKS.contract_signing.source
    assert stricter.bond_refund == CLOCKS.bond_refund
    with pytest.raises(KeyError):
        CLOCKS.with_days(no_such_clock=3)
    with pytest.raises(ValueError):
        CLOCKS.with_days(bond_refund=-1)


def test_contract_clock_goes_green_yellow_red():
    notice = at(date(2026, 11, 2))  # award notice; due 30 days later, Wednesday 2 Dec
    clock = CLOCKS.contract_signing
    assert clock_due(clock, notice) == date(2026, 12, 2)
    green = evaluate_clock(clock, notice, at(date(2026, 11, 20)))
    assert green.light is Light.GREEN and green.working_days_left == 8
    yellow = evaluate_clock(clock, notice, at(date(2026, 12, 1)))
    assert yellow.light is Light.YELLOW and yellow.working_days_left == 1
    assert "2026-12-02" in yellow.reason_zh and "1 working day" in yellow.reason_en
    assert evaluate_clock(clock, notice, at(date(2026, 12, 2), 23)).light is Light.YELLOW
    red = evaluate_clock(clock, notice, at(date(2026, 12, 3)))
    assert red.light is Light.RED and "逾期" in red.reason_zh and "overdue" in red.reason_en


def test_an_act_done_in_time_is_green_and_late_is_red_whatever_now_is():
    notice = at(date(2026, 11, 2))
    clock = CLOCKS.contract_signing
    now = at(date(2027, 1, 10))
    assert evaluate_clock(clock, notice, now, act_at=at(date(2026, 11, 30))).light is Light.GREEN
    late = evaluate_clock(clock, notice, now, act_at=at(date(2026, 12, 5)))
    assert late.light is Light.RED and "3" in late.reason_en


def test_yellow_margin_is_configurable():
    notice = at(date(2026, 11, 2))
    now = at(date(2026, 11, 27))  # Friday; due Wednesday 2 Dec: 3 working days left
    assert evaluate_clock(CLOCKS.contract_signing, notice, now).light is Light.GREEN
    wide = WarningThresholds(yellow_working_days=3)
    assert evaluate_clock(CLOCKS.contract_signing, notice, now, thresholds=wide).light is Light.YELLOW


def test_calendar_day_deadline_runs_past_a_holiday():
    # Contract signed Saturday 26 Sep 2026: 5 days ends 1 Oct, a holiday, so the refund is due 8 Oct.
    assert clock_due(CLOCKS.bond_refund, at(date(2026, 9, 26))) == date(2026, 10, 8)
    signal = evaluate_clock(CLOCKS.bond_refund, at(date(2026, 9, 26)), at(date(2026, 10, 7)))
    assert signal.light is Light.YELLOW and signal.working_days_left == 1


def test_procurement_clock_counts_working_days_across_national_day():
    report = at(date(2026, 9, 29))
    # 30 Sep (1), 8 Oct (2), 9 Oct (3), Saturday 10 Oct make-up (4), Monday 12 Oct (5).
    assert clock_due(CLOCKS.gp_winner_confirmation, report) == date(2026, 10, 12)
    assert evaluate_clock(CLOCKS.gp_winner_confirmation, report, at(date(2026, 10, 3))).light is Light.GREEN


def test_bid_deadline_set_too_early_is_red_as_soon_as_it_is_scheduled():
    issued = at(date(2026, 3, 2), 9)
    now = at(date(2026, 3, 2), 12)
    too_early = evaluate_clock(CLOCKS.bid_preparation, issued, now, planned_at=at(date(2026, 3, 20), 9))
    assert too_early.light is Light.RED and too_early.due == date(2026, 3, 22)
    assert "2" in too_early.reason_en and "2026-03-22" in too_early.reason_zh
    assert evaluate_clock(CLOCKS.bid_preparation, issued, now, planned_at=at(date(2026, 3, 22), 9)).light is Light.GREEN
    assert evaluate_clock(CLOCKS.bid_preparation, issued, now).light is Light.GREEN


def test_award_before_the_publicity_period_ends_breaks_the_gate():
    published = at(date(2026, 3, 1))
    now = at(date(2026, 3, 10))
    early = evaluate_clock(CLOCKS.candidate_publicity_period, published, now, act_at=at(date(2026, 3, 3)))
    assert early.light is Light.RED
    fine = evaluate_clock(CLOCKS.candidate_publicity_period, published, now, act_at=at(date(2026, 3, 4)))
    assert fine.light is Light.GREEN


def test_clarification_too_close_to_the_deadline_is_red():
    deadline = at(date(2026, 3, 30), 9)
    now = at(date(2026, 3, 20))
    assert evaluate_clock(CLOCKS.clarification_lead, deadline, now, act_at=at(date(2026, 3, 15))).light is Light.GREEN
    late = evaluate_clock(CLOCKS.clarification_lead, deadline, now, act_at=at(date(2026, 3, 16)))
    assert late.light is Light.RED and late.due == date(2026, 3, 15)
    assert evaluate_clock(CLOCKS.clarification_lead, deadline, now).light is Light.GREEN


def test_fewer_than_three_bids_fail_the_tender():
    assert evaluate_bid_count(2).light is Light.RED
    assert "重新招标" in evaluate_bid_count(2).reason_zh
    assert evaluate_bid_count(3).light is Light.GREEN


def test_days_are_counted_in_beijing_time():
    late_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Beijing
    assert local_date(late_utc) == date(2026, 3, 2)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 3, 1, 17, 0))


def test_a_signal_says_when_the_calendar_year_is_not_on_file():
    notice = at(date(2030, 5, 6))
    signal = evaluate_clock(CLOCKS.contract_signing, notice, notice + timedelta(days=2))
    assert not signal.calendar_covered
    assert "Monday-Friday" in signal.reason_en and "周一至周五" in signal.reason_zh
