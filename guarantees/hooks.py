"""Bid security follows the bids without the bid code calling in: verification at submission, release at a
withdrawal before the deadline.

SQLAlchemy session events watch for bids: ``after_flush`` notes a new submitted bid or a bid that became
withdrawn; ``before_commit`` (when the session is free to query and write again) runs
``record_verification(..., SUBMISSION)`` or ``release_for_withdrawn_bid`` in the same transaction, so the
bid and its security's record commit together or not at all. A rollback forgets what was noted.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask_sqlalchemy.session import Session

from trading.bids import Bid, BidState

_KEY = "guarantees.bid_events"


def _after_flush(session, _context) -> None:
    events = session.info.setdefault(_KEY, [])
    for obj in session.new:
        if isinstance(obj, Bid) and obj.state is BidState.SUBMITTED:
            events.append(("submitted", obj.id))
    for obj in session.dirty:
        if isinstance(obj, Bid):
            history = sa.inspect(obj).attrs.state.history
            if history.added and history.added[0] is BidState.WITHDRAWN:
                events.append(("withdrawn", obj.id))


def _before_commit(session) -> None:
    if not session.info.get(_KEY):
        return
    from core.db import db
    from guarantees.models import VerificationStage
    from guarantees.release import release_for_withdrawn_bid
    from guarantees.verification import record_verification
    from trading.models import Section

    session.flush()
    while session.info.get(_KEY):
        kind, bid_id = session.info[_KEY].pop(0)
        bid = db.session.get(Bid, bid_id)
        if kind == "submitted":
            section = db.session.get(Section, bid.section_id)
            record_verification(section, bid.organisation, VerificationStage.SUBMISSION, bid_id=bid.id)
        elif bid.withdrawn_at is not None and bid.withdrawn_at < db.session.get(Section, bid.section_id).deadline:
            release_for_withdrawn_bid(bid)
        session.flush()


def _forget(session, *_args) -> None:
    session.info.pop(_KEY, None)


def install() -> None:
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "before_commit", _before_commit)
        sa.event.listen(Session, "after_soft_rollback", _forget)
