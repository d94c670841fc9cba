"""What each participant of the opening hall sees, and the live broadcast of it (Socket.IO rooms).

Before the read-out a bidder sees only its own bid: no page, API or message tells it how many others bid or
who they are. The host, the tenderee, supervisors and opening officers see the whole hall. From the read-out
on, everyone sees everything.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from core.accounts import Role, User
from core.clock import now
from core.db import db
from core.extensions import socketio
from trading.bids import Bid, OpeningOfficer
from trading.models import Section
from trading.opening import (BidDecryption, HallSignIn, Objection, Opening, OpeningState, RecordConfirmation,
                             ShareRelease)

FULL_VIEW_STATES = {OpeningState.READ_OUT, OpeningState.CLOSED, OpeningState.FAILED}


def sees_whole_hall(opening: Opening, user: User) -> bool:
    section = db.session.get(Section, opening.section_id)
    if section.project.can_manage(user) or section.project.is_tendered_by(user) or user.is_(Role.SUPERVISOR):
        return True
    return db.session.scalar(sa.select(OpeningOfficer.id).where(
        OpeningOfficer.section_id == section.id, OpeningOfficer.user_id == user.id)) is not None


def may_enter(opening: Opening, user: User) -> bool:
    if not user.is_authenticated:
        return False
    if sees_whole_hall(opening, user):
        return True
    return user.is_(Role.BIDDER) and db.session.scalar(sa.select(BidDecryption.id).join(Bid).where(
        BidDecryption.opening_id == opening.id, Bid.organisation_id == user.organisation_id)) is not None


def _bid_json(d: BidDecryption, releases: dict[int, list[dict]]) -> dict:
    return {"bid": d.bid_id, "bidder": d.bid.organisation.name, "state": d.state.value,
            "fault": d.fault.value if d.fault else None, "outcome": d.outcome, "attempts": d.attempts,
            "error": d.last_error, "escrow": d.decrypted_by_escrow, "shares_released": releases.get(d.id, [])}


def state_for(opening: Opening, user: User | None) -> dict:
    from trading.opening_operations import decryptions

    section = db.session.get(Section, opening.section_id)
    state = {"section": {"id": section.id, "code": section.code, "name": section.name,
                         "deadline": section.deadline.isoformat()},
             "state": opening.state.value, "state_label": opening.state_label, "server_time": now().isoformat(),
             "decryption_ends_at": opening.decryption_ends_at.isoformat() if opening.decryption_ends_at else None,
             "failure_reason": opening.failure_reason,
             "k_coefficient": str(opening.k_coefficient) if opening.k_coefficient is not None else None,
             "k_commitment": json.loads(opening.k_commitment)["commitment"] if opening.k_commitment else None}
    whole = user is None or sees_whole_hall(opening, user) or opening.state in FULL_VIEW_STATES
    rows = decryptions(opening)
    releases: dict[int, list[dict]] = {}
    for r in db.session.scalars(sa.select(ShareRelease).where(ShareRelease.decryption_id.in_([d.id for d in rows]))):
        releases.setdefault(r.decryption_id, []).append({"officer": r.officer.display_name, "at": r.at.isoformat()})
    if whole:
        state["bids"] = [_bid_json(d, releases) for d in rows]
        state["signed_in"] = [{"bidder": s.organisation.name, "at": s.at.isoformat()} for s in db.session.scalars(
            sa.select(HallSignIn).where(HallSignIn.opening_id == opening.id)
            .options(selectinload(HallSignIn.organisation)).order_by(HallSignIn.at))]
    if user is not None and user.is_(Role.BIDDER):
        own = next((d for d in rows if d.bid.organisation_id == user.organisation_id), None)
        state["my_bid"] = _bid_json(own, releases) if own else None
        state["my_sign_in"] = db.session.scalar(sa.select(HallSignIn.at).where(
            HallSignIn.opening_id == opening.id, HallSignIn.organisation_id == user.organisation_id)) is not None
    if opening.read_out:
        state["read_out"] = json.loads(opening.read_out)
        state["objections"] = [{"id": o.id, "bidder": o.organisation.name, "text": o.text, "answer": o.answer}
                               for o in db.session.scalars(sa.select(Objection).where(
                                   Objection.opening_id == opening.id).order_by(Objection.id))]
        state["confirmed"] = db.session.scalar(sa.select(sa.func.count(RecordConfirmation.id)).where(
            RecordConfirmation.opening_id == opening.id))
    if opening.record_digest:
        state["record"] = {"digest": opening.record_digest, "url": f"/api/v1/sections/{section.id}/opening/record.pdf"}
    return state


def room_staff(section_id: int) -> str:
    return f"hall:{section_id}:staff"


def room_org(section_id: int, organisation_id: int) -> str:
    return f"hall:{section_id}:org:{organisation_id}"


def room_bidders(section_id: int) -> str:
    return f"hall:{section_id}:bidders"


def broadcast(opening: Opening, *, changed_for: int | None = None) -> None:
    """Push the new state: the whole hall to staff; before the read-out each bidder gets only its own bid
    (computed from one load of the hall, not one query set per bidder); afterwards every bidder gets it all.

    ``changed_for``: the organisation whose own bid or sign-in alone changed (its sign-in, its decryption).
    Before the read-out no other bidder's view differs, so only that bidder is sent its view, not all N of
    them (N events of N messages each made a hall of 500 quadratic)."""
    whole = state_for(opening, None)
    socketio.emit("hall_state", whole, to=room_staff(opening.section_id))
    if opening.state in FULL_VIEW_STATES:
        socketio.emit("hall_state", whole, to=room_bidders(opening.section_id))
        return
    signed = {row["bidder"] for row in whole.get("signed_in", [])}
    common = {k: v for k, v in whole.items() if k not in ("bids", "signed_in")}
    owners = dict(db.session.execute(sa.select(Bid.id, Bid.organisation_id).where(
        Bid.id.in_([bid["bid"] for bid in whole.get("bids", [])]))).all())
    for bid in whole.get("bids", []):
        if changed_for is not None and owners[bid["bid"]] != changed_for:
            continue
        view = dict(common, my_bid=bid, my_sign_in=bid["bidder"] in signed)
        socketio.emit("hall_state", view, to=room_org(opening.section_id, owners[bid["bid"]]))
