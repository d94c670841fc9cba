"""The Chinese working-day calendar: public holidays and make-up working days (调休上班) kept as data.

Statutory clocks in government procurement run in working days (工作日), and a calendar-day period whose last
day is a rest day runs on to the next working day (民法典第203条). Both need the State Council's annual
holiday arrangement, not just Monday to Friday: a make-up Saturday is a working day, a Wednesday inside the
Spring Festival block is not. The arrangement is published once a year (国务院办公厅关于XXXX年部分节假日安排
的通知), so it lives in ``data/cn_calendar.json``, one entry per year with its source. A year that file does not
cover falls back to Monday-Friday; :func:`coverage` and :meth:`WorkingCalendar.covers` say which years are
real, so a page can warn when a clock runs past them.

Counting convention, used by every function here: the start day is not counted and counting begins on the
next day (民法典第201条), so ``add_working_days(d, 5)`` is the fifth working day after ``d``.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).parent / "data" / "cn_calendar.json"

_ONE_DAY = timedelta(days=1)

FALLBACK_RULE = "Monday-Friday working, Saturday and Sunday rest; public holidays unknown (周一至周五为工作日，节假日未知)"


@dataclass(frozen=True)
class YearSource:
    """Where one year's holiday arrangement comes from."""

    year: int
    source: str
    document_number: str = ""
    published: str = ""
    checked: str = ""
    notes: str = ""


@dataclass(frozen=True)
class CalendarCoverage:
    """Which years the calendar knows, and what it assumes for the others."""

    years: tuple[int, ...]
    sources: tuple[YearSource, ...]
    not_covered: Mapping[str, str] = field(default_factory=dict)
    fallback: str = FALLBACK_RULE

    def covers(self, day: date) -> bool:
        return day.year in self.years


def _weekdays_through(ordinal: int) -> int:
    """Number of Monday-Friday days with ordinal in [1, ordinal]; ordinal 1 (0001-01-01) is a Monday."""
    weeks, rest = divmod(ordinal, 7)
    return 5 * weeks + min(rest, 5)


class WorkingCalendar:
    """Working days from a holiday table: holiday days are off, make-up days are on, otherwise Monday-Friday."""

    def __init__(
        self,
        holidays: Mapping[date, str],
        make_up_days: Mapping[date, str],
        sources: Iterable[YearSource] = (),
        not_covered: Mapping[str, str] | None = None,
    ) -> None:
        clash = set(holidays) & set(make_up_days)
        if clash:
            raise ValueError(f"days both holiday and make-up working day: {sorted(clash)}")
        self._holidays = dict(holidays)
        self._make_up = dict(make_up_days)
        self._sources = tuple(sorted(sources, key=lambda s: s.year))
        self._not_covered = dict(not_covered or {})
        self._off_weekdays = sorted(d.toordinal() for d in holidays if d.weekday() < 5)
        self._on_weekends = sorted(d.toordinal() for d in make_up_days if d.weekday() >= 5)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """Build from the structure of ``cn_calendar.json`` (see its ``about``)."""
        holidays: dict[date, str] = {}
        make_up: dict[date, str] = {}
        sources = []
        for year_text, entry in data["years"].items():
            year = int(year_text)
            sources.append(
                YearSource(
                    year=year,
                    source=entry["source"],
                    document_number=entry.get("document_number", ""),
                    published=entry.get("published", ""),
                    checked=entry.get("checked", ""),
                    notes=entry.get("notes", ""),
                )
            )
            for block in entry.get("holidays", ()):
                for text in block["days"]:
                    holidays[date.fromisoformat(text)] = block["name"]
            for block in entry.get("make_up_working_days", ()):
                for text in block["days"]:
                    make_up[date.fromisoformat(text)] = block["for"]
        return cls(holidays, make_up, sources, data.get("not_covered"))

    @classmethod
    def from_json(cls, path: Path | str = DATA_FILE) -> WorkingCalendar:
        with open(path, encoding="utf-8") as handle:
            return cls.from_mapping(json.load(handle))

    def coverage(self) -> CalendarCoverage:
        return CalendarCoverage(
            years=tuple(s.year for s in self._sources),
            sources=self._sources,
            not_covered=dict(self._not_covered),
        )

    def covers(self, day: date) -> bool:
        """True when ``day``'s year comes from an official notice, False when Monday-Friday is assumed."""
        return any(s.year == day.year for s in self._sources)

    def holiday_name(self, day: date) -> str | None:
        """The holiday a day off belongs to (e.g. ``春节``), or None."""
        return self._holidays.get(day)

    def make_up_for(self, day: date) -> str | None:
        """The holiday a make-up working day (调休上班) compensates, or None."""
        return self._make_up.get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self._make_up:
            return True
        if day in self._holidays:
            return False
        return day.weekday() < 5

    def _working_days_through(self, ordinal: int) -> int:
        return (
            _weekdays_through(ordinal)
            - bisect_right(self._off_weekdays, ordinal)
            + bisect_right(self._on_weekends, ordinal)
        )

    def working_days_between(self, start: date, end: date) -> int:
        """Working days ``d`` with ``start < d <= end``; negative (the same count, signed) when ``end < start``."""
        return self._working_days_through(end.toordinal()) - self._working_days_through(start.toordinal())

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (before it when ``n < 0``); ``day`` itself when ``n == 0``."""
        if n == 0:
            return day
        sign = 1 if n > 0 else -1
        remaining = abs(n)
        target = day
        while remaining > 0:
            # ``remaining`` calendar days hold at most ``remaining`` working days, so this never overshoots.
            step = timedelta(days=sign * remaining)
            if sign > 0:
                counted = self.working_days_between(target, target + step)
            else:
                counted = self.working_days_between(target + step - _ONE_DAY, target - _ONE_DAY)
            remaining -= counted
            target += step
        while not self.is_working_day(target):
            target -= timedelta(days=sign)
        return target

    def next_working_day(self, day: date) -> date:
        """``day`` if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def period_end(self, start: date, days: int) -> date:
        """Last day of a period of ``days`` calendar days after ``start``, moved past rest days.

        民法典第201条: the start day is not counted; 第203条: when the last day is a statutory rest day
        (weekends included), the period ends on the first day after it.
        """
        return self.next_working_day(start + timedelta(days=days))


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """The calendar shipped in ``supervision/data/cn_calendar.json``, loaded once."""
    return WorkingCalendar.from_json(DATA_FILE)


def is_working_day(day: date) -> bool:
    return default_calendar().is_working_day(day)


def add_working_days(day: date, n: int) -> date:
    return default_calendar().add_working_days(day, n)


def working_days_between(start: date, end: date) -> int:
    return default_calendar().working_days_between(start, end)


def next_working_day(day: date) -> date:
    return default_calendar().next_working_day(day)


def period_end(start: date, days: int) -> date:
    return default_calendar().period_end(start, days)


def holiday_name(day: date) -> str | None:
    return default_calendar().holiday_name(day)


def add_calendar_days(day: date, n: int) -> date:
    return day + timedelta(days=n)


def calendar_days_between(start: date, end: date) -> int:
    """Calendar days from ``start`` to ``end`` (``end - start``), the start day not counted."""
    return (end - start).days


def coverage() -> CalendarCoverage:
    return default_calendar().coverage()


def covers(day: date) -> bool:
    return default_calendar().covers(day)
