"""Credit records (信用记录): administrative penalties, dishonest-entity list entries and ratings.

Supervisors record them against organisations and experts; a confirmed bid-rigging clue can become one for
every bidder of its group. Other steps read them as computed facts, never typed in:

- qualification items such as "not on the dishonest-entity list" call :func:`qualification_facts` or
  :func:`is_on_dishonest_list` (失信被执行人、严重失信主体不得参加投标, 国办发〔2016〕33号 and local rules);
- the expert draw excludes experts under a penalty in force with :func:`penalised_expert_ids`;
- the award refuses a winner on the dishonest-entity list (supervision.post_award).
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import date

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, User
from core.clock import local, now
from core.db import db
from core.errors import RuleViolation, ValidationError
from supervision.models import (
    CREDIT_RATINGS,
    ClueReview,
    CollusionAnalysis,
    CreditKind,
    CreditRecord,
)


def today() -> date:
    return local(now()).date()


def _in_force(on: date):
    return sa.and_(CreditRecord.revoked_at.is_(None), CreditRecord.effective_from <= on,
                   sa.or_(CreditRecord.effective_until.is_(None), CreditRecord.effective_until >= on))


def _kind(value) -> CreditKind:
    try:
        return value if isinstance(value, CreditKind) else CreditKind(value)
    except ValueError:
        raise ValidationError("记录类型应为 penalty、dishonest 或 rating (kind: penalty, dishonest or rating)",
                              field="kind") from None


def record(*, supervisor: User, kind, title: str, authority: str, effective_from: date,
           effective_until: date | None = None, organisation: Organisation | None = None, expert=None,
           rating: str | None = None, document_no: str = "", analysis: CollusionAnalysis | None = None) -> CreditRecord:
    """Enter one credit record; every field is checked and the record is audited."""
    kind = _kind(kind)
    if (organisation is None) == (expert is None):
        raise ValidationError("请选择一个单位或一名专家 (choose one organisation or one expert)", field="subject")
    if not (title or "").strip():
        raise ValidationError("请填写事由 (a title is required)", field="title")
    if not (authority or "").strip():
        raise ValidationError("请填写决定机关 (the deciding authority is required)", field="authority")
    if effective_until is not None and effective_until < effective_from:
        raise ValidationError("有效期截止不得早于起始日 (the end precedes the start)", field="effective_until")
    if kind is CreditKind.RATING:
        if rating not in CREDIT_RATINGS:
            raise ValidationError(f"信用等级应为 {'/'.join(CREDIT_RATINGS)} (rating: one of {', '.join(CREDIT_RATINGS)})",
                                  field="rating")
    elif rating:
        raise ValidationError("只有信用评价记录带等级 (only a rating carries a grade)", field="rating")
    entry = CreditRecord(organisation_id=organisation.id if organisation else None,
                         expert_id=expert.id if expert is not None else None, kind=kind, rating=rating,
                         title=title.strip()[:300], authority=authority.strip()[:200],
                         document_no=(document_no or "").strip()[:100], effective_from=effective_from,
                         effective_until=effective_until, analysis_id=analysis.id if analysis else None,
                         created_by_id=supervisor.id, created_at=now())
    db.session.add(entry)
    db.session.flush()
    audit.record("credit.recorded", entry, actor=supervisor, kind=kind.value, organisation_id=entry.organisation_id,
                 expert_id=entry.expert_id, rating=rating, title=entry.title, authority=entry.authority,
                 effective_from=effective_from.isoformat(),
                 effective_until=effective_until.isoformat() if effective_until else None, analysis_id=entry.analysis_id)
    return entry


def revoke(entry: CreditRecord, supervisor: User, reason: str) -> CreditRecord:
    """Revoke (撤销) a record, e.g. after a review or a court ruling: kept, with its reason."""
    if entry.revoked_at is not None:
        raise RuleViolation("该记录已撤销 (already revoked)", code="already_revoked")
    if not (reason or "").strip():
        raise ValidationError("撤销须说明理由 (revoking needs a reason)", field="reason")
    entry.revoked_at, entry.revoked_by_id, entry.revoke_reason = now(), supervisor.id, reason.strip()[:4000]
    audit.record("credit.revoked", entry, actor=supervisor, reason=entry.revoke_reason)
    return entry


def record_from_clue(analysis: CollusionAnalysis, group_index: int, *, supervisor: User, kind, title: str,
                     authority: str, effective_from: date, effective_until: date | None = None,
                     document_no: str = "") -> list[CreditRecord]:
    """A confirmed clue becomes a record for every bidder of one of its groups."""
    if analysis.review is not ClueReview.CONFIRMED:
        raise RuleViolation("线索经核查属实后方可记入信用记录 (confirm the clues before recording them)",
                            code="clue_not_confirmed")
    groups = analysis.data.get("groups", [])
    if not 0 <= group_index < len(groups):
        raise ValidationError("没有这一组线索 (no such group)", field="group")
    bidders = analysis.bidder_map
    organisation_ids = sorted({bidders[str(bid)]["organisation_id"] for bid in groups[group_index]["bid_ids"]})
    return [record(supervisor=supervisor, kind=kind, title=title, authority=authority, effective_from=effective_from,
                   effective_until=effective_until, organisation=db.session.get(Organisation, org_id),
                   document_no=document_no, analysis=analysis) for org_id in organisation_ids]


# -- computed facts for other steps -------------------------------------------------------------------------

def records_of(organisation_id: int | None = None, expert_id: int | None = None, *, on: date | None = None,
               kind: CreditKind | None = None) -> list[CreditRecord]:
    query = sa.select(CreditRecord).order_by(CreditRecord.effective_from.desc(), CreditRecord.id.desc())
    if organisation_id is not None:
        query = query.where(CreditRecord.organisation_id == organisation_id)
    if expert_id is not None:
        query = query.where(CreditRecord.expert_id == expert_id)
    if on is not None:
        query = query.where(_in_force(on))
    if kind is not None:
        query = query.where(CreditRecord.kind == kind)
    return list(db.session.scalars(query))


def is_on_dishonest_list(organisation: Organisation | int, on: date | None = None) -> bool:
    org_id = organisation.id if isinstance(organisation, Organisation) else organisation
    return bool(records_of(org_id, on=on or today(), kind=CreditKind.DISHONEST))


def dishonest_organisation_ids(organisation_ids: Collection[int], on: date | None = None) -> set[int]:
    """Which of these organisations are on the dishonest-entity list on ``on`` (one query, for a whole field)."""
    if not organisation_ids:
        return set()
    return set(db.session.scalars(sa.select(CreditRecord.organisation_id).where(
        CreditRecord.organisation_id.in_(list(organisation_ids)), CreditRecord.kind == CreditKind.DISHONEST,
        _in_force(on or today()))))


def has_penalty_in_force(organisation: Organisation | int, on: date | None = None) -> bool:
    org_id = organisation.id if isinstance(organisation, Organisation) else organisation
    return bool(records_of(org_id, on=on or today(), kind=CreditKind.PENALTY))


def current_rating(organisation: Organisation | int, on: date | None = None) -> str | None:
    """The latest rating in force (the newest by its start day), or None."""
    org_id = organisation.id if isinstance(organisation, Organisation) else organisation
    found = records_of(org_id, on=on or today(), kind=CreditKind.RATING)
    return found[0].rating if found else None


def penalised_expert_ids(on: date | None = None) -> set[int]:
    """Experts (``experts.id``) under a penalty or on the dishonest list on ``on``: the draw leaves them out."""
    return set(db.session.scalars(sa.select(CreditRecord.expert_id).where(
        CreditRecord.expert_id.is_not(None), CreditRecord.kind.in_([CreditKind.PENALTY, CreditKind.DISHONEST]),
        _in_force(on or today()))))


def qualification_facts(organisation: Organisation | int, on: date | None = None) -> dict:
    """The credit facts a qualification item may reference, computed on ``on`` (the bid deadline's day)."""
    on = on or today()
    return {"on_dishonest_list": is_on_dishonest_list(organisation, on),
            "penalty_in_force": has_penalty_in_force(organisation, on),
            "rating": current_rating(organisation, on), "on": on.isoformat()}
