"""Releases (释放/退还) on the triggers of rules.md §4, the opening's verification and key release, expiry.

Each trigger is one operation for the step that causes it to call (the opening hall, the award, the contract):

- ``release_for_failed_section``: the section failed (流标);
- ``release_for_withdrawn_bid``: the bidder withdrew before the deadline (also run automatically, see hooks);
- ``release_after_contract``: the contract is signed; rules.md §4 allows 5 days, the platform releases at once;
- ``release_non_candidates``: the award is made and the bidder is not a candidate.

A release ends the issuer's liability: the issuer is notified through the notice queue. Cash deposits are
refunded with interest on the same triggers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, User
from core.clock import format_local, local, now
from core.db import db
from core.errors import RuleViolation
from core.notifications import notify
from crypto.canonical import format_utc
from guarantees import deposits
from guarantees.checks import VerificationReport
from guarantees.models import SECURING_STATES, Guarantee, GuaranteeState, VerificationStage
from guarantees.notices import enqueue
from guarantees.records import DepositRefund, NoticeKind
from guarantees.rules import rules
from guarantees.verification import move, record_verification, terms_key_of
from trading.bids import Bid, BidState
from trading.models import Section, SectionState

RELEASE_REASONS = {
    "section_failed": "标段流标", "bid_withdrawn": "投标截止前撤回投标文件", "contract_signed": "中标合同已签订",
    "not_candidate": "未被推荐为中标候选人", "no_bid": "未递交投标文件",
}


@dataclass
class ReleaseSummary:
    released: list[Guarantee] = field(default_factory=list)
    refunds: list[DepositRefund] = field(default_factory=list)


def release_guarantee(guarantee: Guarantee, reason: str, **data) -> None:
    """Release one guarantee, notify its issuer through the queue and the bidder in the platform."""
    guarantee.end_reason = reason
    move(guarantee, GuaranteeState.RELEASED, reason=reason, **data)
    enqueue(guarantee.issuer_id, NoticeKind.RELEASE, guarantee,
            {"reason": reason, "reason_label": RELEASE_REASONS[reason], "released_at": format_utc(now()),
             "amount": str(guarantee.amount)})
    members = db.session.scalars(sa.select(User.id).where(User.organisation_id == guarantee.organisation_id)).all()
    notify(members, f"投标保函已释放：{guarantee.guarantee_no or guarantee.application_no}", RELEASE_REASONS[reason],
           link=f"/sections/{guarantee.section_id}/security")


def _release(section: Section, reason: str, *, only: set[int] | None = None, keep: set[int] = frozenset(),
             **data) -> ReleaseSummary:
    summary = ReleaseSummary()
    rows = db.session.scalars(sa.select(Guarantee).where(Guarantee.section_id == section.id,
                                                         Guarantee.state.in_(SECURING_STATES))
                              .order_by(Guarantee.id)).all()
    for guarantee in rows:
        if (only is None or guarantee.organisation_id in only) and guarantee.organisation_id not in keep:
            release_guarantee(guarantee, reason, **data)
            summary.released.append(guarantee)
    organisations = only if only is not None else {d.organisation_id for d in db.session.scalars(
        sa.select(deposits.Deposit).where(deposits.Deposit.section_id == section.id))}
    for organisation_id in sorted(organisations - set(keep)):
        summary.refunds += deposits.refund_held(section.id, organisation_id, reason)
    return summary


def release_for_failed_section(section: Section) -> ReleaseSummary:
    if section.state is not SectionState.FAILED:
        raise RuleViolation("只有流标的标段才能按流标释放保证金 (the section has not failed)")
    return _release(section, "section_failed")


def release_for_withdrawn_bid(bid: Bid) -> ReleaseSummary:
    """A bid withdrawn before the deadline frees its security (unless the bidder still has a submitted bid)."""
    section = db.session.get(Section, bid.section_id)
    if bid.state is not BidState.WITHDRAWN or bid.withdrawn_at is None or bid.withdrawn_at >= section.deadline:
        raise RuleViolation("只有在投标截止前撤回的投标文件才释放保证金 (only a bid withdrawn before the deadline)")
    if db.session.scalar(sa.select(Bid.id).where(Bid.section_id == section.id, Bid.state == BidState.SUBMITTED,
                                                 Bid.organisation_id == bid.organisation_id).limit(1)):
        return ReleaseSummary()
    return _release(section, "bid_withdrawn", only={bid.organisation_id}, bid_id=bid.id)


def release_after_contract(section: Section, signed_at: datetime) -> ReleaseSummary:
    """Contract signed: every guarantee and deposit of the section is released (due within 5 days)."""
    if signed_at > now():
        raise RuleViolation("合同签订时间不能晚于当前时间 (the signing time lies in the future)")
    due = signed_at + timedelta(days=rules().refund_within_days)
    return _release(section, "contract_signed", contract_signed_at=format_utc(signed_at), due_by=format_utc(due))


def release_non_candidates(section: Section, candidate_organisation_ids: set[int]) -> ReleaseSummary:
    """The award is made: bidders who are not candidates get their security back; candidates' stays."""
    if not candidate_organisation_ids:
        raise RuleViolation("请给出中标候选人 (candidates required)")
    holders = {g.organisation_id for g in db.session.scalars(sa.select(Guarantee).where(
        Guarantee.section_id == section.id, Guarantee.state.in_(SECURING_STATES)))}
    holders |= {d.organisation_id for d in db.session.scalars(sa.select(deposits.Deposit).where(
        deposits.Deposit.section_id == section.id, deposits.Deposit.state == deposits.DepositState.RECEIVED))}
    return _release(section, "not_candidate", only=holders - set(candidate_organisation_ids))


def open_bid_security(section: Section) -> dict[int, VerificationReport]:
    """At the opening: verify every bidder's security again, put passing guarantees in use, release the keys of
    cipher guarantees to their issuers, and free the security of those who did not bid."""
    if now() < section.deadline:
        raise RuleViolation(f"开标时间 {format_local(section.deadline)} 未到 (the opening has not come)")
    bidders = set(db.session.scalars(sa.select(Bid.organisation_id).where(
        Bid.section_id == section.id, Bid.state == BidState.SUBMITTED)).all())
    reports = {}
    for organisation_id in sorted(bidders):
        organisation = db.session.get(Organisation, organisation_id)
        reports[organisation_id], _ = record_verification(section, organisation, VerificationStage.OPENING)
    for guarantee in db.session.scalars(sa.select(Guarantee).where(
            Guarantee.section_id == section.id, Guarantee.sealed_key.is_not(None),
            Guarantee.document.is_not(None), Guarantee.key_released_at.is_(None))).all():
        guarantee.key_released_at = now()
        audit.record("guarantee.terms_key_released", guarantee, application_no=guarantee.application_no,
                     guarantee_no=guarantee.guarantee_no)
        enqueue(guarantee.issuer_id, NoticeKind.TERMS_KEY, guarantee,
                {"terms_key": terms_key_of(guarantee).hex(), "key_digest": guarantee.key_digest})
    holders = {g.organisation_id for g in db.session.scalars(sa.select(Guarantee).where(
        Guarantee.section_id == section.id, Guarantee.state.in_(SECURING_STATES)))}
    holders |= {d.organisation_id for d in db.session.scalars(sa.select(deposits.Deposit).where(
        deposits.Deposit.section_id == section.id))}
    if holders - bidders:
        _release(section, "no_bid", only=holders - bidders)
    return reports


def expire_due(today: date | None = None) -> list[Guarantee]:
    """Guarantees whose validity ended (valid_until before today, Beijing time) expire."""
    today = today or local(now()).date()
    rows = db.session.scalars(sa.select(Guarantee).where(
        Guarantee.state.in_(SECURING_STATES), Guarantee.valid_until < today).order_by(Guarantee.id)).all()
    for guarantee in rows:
        guarantee.end_reason = "expired"
        move(guarantee, GuaranteeState.EXPIRED, valid_until=guarantee.valid_until.isoformat())
    return rows
