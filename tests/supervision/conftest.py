"""Fixtures for the steps after the opening: a section opened through the platform, with its report received."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core import clock
from supervision.post_award import RankedCandidate, receive_evaluation_report
from tests.supervision.opened import BidSpec, open_section

PRICES = ("8650000.00", "8912300.00", "7907700.00")


class Clock:
    """Moves the clock that the supervision steps read (core.clock.now) forward, the way the tests move time."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.offset = timedelta(0)
        self._real = clock.now
        monkeypatch.setattr(clock, "now", lambda: self._real() + self.offset)

    def forward(self, **delta) -> None:
        self.offset += timedelta(**delta)

    def now(self):
        return clock.now()


@pytest.fixture()
def time_travel(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture()
def opened(app, factory, monkeypatch):
    return open_section(app, factory, monkeypatch, [BidSpec(PRICES[0], "周建国"), BidSpec(PRICES[1], "吴芳"),
                                                    BidSpec(PRICES[2], "郑强")])


def report(opened, ranked=(2, 0)):
    """The evaluation's report: bidders ``ranked`` (indexes into opened.bidders) as candidates, in order."""
    candidates = [RankedCandidate(organisation_id=opened.bidders[i].user.organisation_id, rank=rank,
                                  price=Decimal(PRICES[i]), score=90.0 - rank, bid_id=opened.bidders[i].bid_id)
                  for rank, i in enumerate(ranked, start=1)]
    return receive_evaluation_report(opened.section, candidates, report_digest="ab" * 32)
