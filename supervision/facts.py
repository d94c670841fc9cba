"""Read every section's supervision facts from the database in a handful of bulk queries.

The warning engine must judge 10,000 projects in well under two seconds, so nothing here loads ORM objects
one by one: each table is read once (for the given sections, or whole), as plain rows, and folded into one
:class:`~supervision.points.SectionFacts` per section.
"""
from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

import sqlalchemy as sa

from core.db import db
from supervision.award_models import (
    Award,
    Complaint,
    Contract,
    EvaluationResult,
    SectionObjection,
)
from supervision.models import ClueReview, CollusionAnalysis
from supervision.points import (
    ClarificationFact,
    ComplaintFact,
    ObjectionFact,
    SectionFacts,
)
from trading.bids import Bid, BidState
from trading.models import Clarification, Invitation, Project, Section
from trading.opening import Opening


def _value(enum_value) -> str:
    return enum_value.value if hasattr(enum_value, "value") else str(enum_value)


def _where(query, column, ids: Collection[int] | None):
    return query if ids is None else query.where(column.in_(list(ids)))


def guarantees_installed() -> bool:
    """The guarantees package and its tables are there (it is built alongside; the engine works without it)."""
    return _guarantee_tables(str(db.engine.url))


@lru_cache(maxsize=8)
def _guarantee_tables(_url: str) -> bool:
    try:
        import guarantees.models
        import guarantees.records  # noqa: F401
    except ImportError:
        return False
    names = set(sa.inspect(db.session.connection()).get_table_names())  # the session's own connection: no lock wait
    return {"guarantees", "deposits", "deposit_refunds"} <= names


def collect(section_ids: Collection[int] | None = None) -> dict[int, SectionFacts]:
    """The facts of the given sections (every section when None), keyed by section id."""
    ids = None if section_ids is None else sorted(set(section_ids))
    if ids is not None and not ids:
        return {}
    facts: dict[int, SectionFacts] = {}
    query = sa.select(Section.id, Section.project_id, Project.state, Section.state, Project.method, Section.notice_at,
                      Section.issue_start, Section.issue_end, Section.deadline, Section.bid_validity_days,
                      Section.evaluation_method, Project.published_at).join(Project, Project.id == Section.project_id)
    invited_projects = set()
    for row in db.session.execute(_where(query, Section.id, ids)):
        facts[row[0]] = SectionFacts(
            project_id=row[1], section_id=row[0], project_state=_value(row[2]), section_state=_value(row[3]),
            method=_value(row[4]), notice_at=row[5], issue_start=row[6], issue_end=row[7], deadline=row[8],
            bid_validity_days=row[9], evaluation_method=row[10], published_at=row[11])
        if _value(row[4]) == "invited":
            invited_projects.add(row[1])
    if not facts:
        return facts
    ids = None if section_ids is None else list(facts)
    if invited_projects:
        counts = dict(db.session.execute(sa.select(Invitation.project_id, sa.func.count(Invitation.id))
                                         .where(Invitation.project_id.in_(invited_projects))
                                         .group_by(Invitation.project_id)).all())
        for f in facts.values():
            f.invitees = counts.get(f.project_id, 0)
    for sid, number, issued, new_deadline, decision in db.session.execute(_where(
            sa.select(Clarification.section_id, Clarification.number, Clarification.issued_at,
                      Clarification.new_deadline, Clarification.decision), Clarification.section_id, ids)):
        facts[sid].clarifications.append(ClarificationFact(number, issued, new_deadline, _value(decision)))
    for sid, count in db.session.execute(_where(
            sa.select(Bid.section_id, sa.func.count(Bid.id)).where(Bid.state == BidState.SUBMITTED),
            Bid.section_id, ids).group_by(Bid.section_id)):
        facts[sid].bids = count
    for sid, state, closed in db.session.execute(_where(
            sa.select(Opening.section_id, Opening.state, Opening.closed_at), Opening.section_id, ids)):
        facts[sid].opening_state, facts[sid].opening_closed_at = _value(state), closed
    _after_report(facts, ids)
    return facts


def _after_report(facts: dict[int, SectionFacts], ids: list[int] | None) -> None:
    for sid, received, started, ends in db.session.execute(_where(
            sa.select(EvaluationResult.section_id, EvaluationResult.received_at, EvaluationResult.publicity_started_at,
                      EvaluationResult.publicity_ends_at).where(EvaluationResult.superseded_at.is_(None)),
            EvaluationResult.section_id, ids)):
        f = facts[sid]
        f.report_at, f.publicity_started_at, f.publicity_ends_at = received, started, ends
    for sid, subject, raised, answered in db.session.execute(_where(
            sa.select(SectionObjection.section_id, SectionObjection.subject, SectionObjection.raised_at,
                      SectionObjection.answered_at), SectionObjection.section_id, ids)):
        facts[sid].objections.append(ObjectionFact(_value(subject), raised, answered))
    for sid, filed, accepted, decided, state in db.session.execute(_where(
            sa.select(Complaint.section_id, Complaint.filed_at, Complaint.accepted_at, Complaint.decided_at,
                      Complaint.state).order_by(Complaint.id), Complaint.section_id, ids)):
        state = _value(state)
        acceptance = accepted if accepted is not None else (decided if state == "rejected" else None)
        facts[sid].complaints.append(ComplaintFact(filed, acceptance, decided, state))
    latest: dict[int, tuple[bool, str]] = {}
    for sid, suspected, review in db.session.execute(_where(
            sa.select(CollusionAnalysis.section_id, CollusionAnalysis.suspected, CollusionAnalysis.review)
            .order_by(CollusionAnalysis.id), CollusionAnalysis.section_id, ids)):
        latest[sid] = (suspected, _value(review))
    for sid, (suspected, review) in latest.items():
        facts[sid].clues_unreviewed = bool(suspected) and review == ClueReview.NEW.value
    for sid, decided, issued, filed in db.session.execute(_where(
            sa.select(Award.section_id, Award.decided_at, Award.notice_issued_at, Award.report_filed_at),
            Award.section_id, ids)):
        f = facts[sid]
        f.awarded_at, f.notice_issued_at, f.report_filed_at = decided, issued, filed
    contracted = []
    for sid, signed in db.session.execute(_where(sa.select(Contract.section_id, Contract.signed_at),
                                                 Contract.section_id, ids)):
        facts[sid].contract_signed_at = signed
        contracted.append(sid)
    if contracted and guarantees_installed():
        _securities(facts, contracted)


def _securities(facts: dict[int, SectionFacts], section_ids: list[int]) -> None:
    """How many guarantees and cash deposits still secure bids of contracted sections, and the last release."""
    from guarantees.models import SECURING_STATES, Guarantee, GuaranteeState
    from guarantees.records import Deposit, DepositRefund, DepositState

    for sid in section_ids:
        facts[sid].securities_held = 0
    for sid, count in db.session.execute(
            sa.select(Guarantee.section_id, sa.func.count(Guarantee.id))
            .where(Guarantee.section_id.in_(section_ids), Guarantee.state.in_(SECURING_STATES))
            .group_by(Guarantee.section_id)):
        facts[sid].securities_held += count
    for sid, count in db.session.execute(
            sa.select(Deposit.section_id, sa.func.count(Deposit.id))
            .where(Deposit.section_id.in_(section_ids), Deposit.state == DepositState.RECEIVED)
            .group_by(Deposit.section_id)):
        facts[sid].securities_held += count
    released = [
        sa.select(Guarantee.section_id, sa.func.max(Guarantee.ended_at))
        .where(Guarantee.section_id.in_(section_ids), Guarantee.state == GuaranteeState.RELEASED)
        .group_by(Guarantee.section_id),
        sa.select(Deposit.section_id, sa.func.max(DepositRefund.instructed_at))
        .join(DepositRefund, DepositRefund.deposit_id == Deposit.id)
        .where(Deposit.section_id.in_(section_ids)).group_by(Deposit.section_id),
    ]
    for query in released:
        for sid, moment in db.session.execute(query):
            if moment is not None:
                current = facts[sid].securities_released_at
                facts[sid].securities_released_at = moment if current is None else max(current, moment)
