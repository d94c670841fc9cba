"""Claims (索赔): the tenderee demands payment under a guarantee on a legal ground, with evidence; the issuer
answers through its API (pay or refuse, with a reason)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import BinaryIO

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, User
from core.clock import now
from core.db import db
from core.errors import Forbidden, NotFound, RuleViolation, ValidationError
from core.notifications import notify
from core.storage import store_upload
from crypto.canonical import format_utc
from guarantees.models import (
    CLAIM_REASON_LABELS,
    CLAIM_STATES,
    Claim,
    ClaimReason,
    ClaimState,
    Guarantee,
    GuaranteeState,
)
from guarantees.notices import enqueue
from guarantees.records import NoticeKind
from guarantees.verification import move

MAX_EVIDENCE_BYTES = 50 * 1024 * 1024


def file_claim(guarantee: Guarantee, user: User, *, reason: str, amount, statement: str, evidence: BinaryIO | None,
               filename: str | None, content_type: str | None) -> Claim:
    project = guarantee.section.project
    if not project.is_tendered_by(user):
        raise Forbidden("只有本项目的招标人可以索赔 (only the tenderee of this project may claim)")
    if now() < guarantee.section.deadline:
        raise RuleViolation("投标截止前不能索赔 (no claim before the bid deadline)")
    if guarantee.state is not GuaranteeState.IN_USE:
        raise RuleViolation(f"保函状态为“{guarantee.state_label}”，不能索赔 (the guarantee is {guarantee.state.value}: "
                            f"only a guarantee in use can be claimed)")
    try:
        ground = ClaimReason(reason)
    except ValueError:
        raise ValidationError("请选择法定的索赔事由 (choose a legal ground)", field="reason") from None
    try:
        claimed = Decimal(str(amount).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError("索赔金额格式不正确 (not a valid amount)", field="amount") from None
    if not claimed.is_finite() or claimed <= 0 or claimed > guarantee.amount or claimed.as_tuple().exponent < -2:
        raise ValidationError(f"索赔金额应大于0且不超过担保金额 {guarantee.amount:,.2f} 元 (0 < amount ≤ the guarantee)",
                              field="amount")
    if not (statement or "").strip():
        raise ValidationError("请说明索赔事实 (state the facts)", field="statement")
    if evidence is None or not filename:
        raise ValidationError("索赔须附证明材料 (evidence is required)", field="evidence")
    stored = store_upload(evidence, filename, content_type, area="claims", max_bytes=MAX_EVIDENCE_BYTES,
                          field="evidence")
    db.session.add(stored)
    db.session.flush()
    claim = Claim(guarantee_id=guarantee.id, claimant_id=project.tenderee_id, filed_by_id=user.id, reason=ground,
                  amount=claimed.quantize(Decimal("0.01")), statement=statement.strip(), evidence_file_id=stored.id,
                  filed_at=now())
    db.session.add(claim)
    db.session.flush()
    move(guarantee, GuaranteeState.CLAIMED, claim_id=claim.id, reason=ground.value, amount=str(claim.amount))
    audit.record("claim.filed", claim, actor=user, guarantee_no=guarantee.guarantee_no, reason=ground.value,
                 amount=str(claim.amount), evidence_sha256=stored.sha256)
    enqueue(guarantee.issuer_id, NoticeKind.CLAIM, guarantee, {
        "claim_id": claim.id, "reason": ground.value, "reason_label": CLAIM_REASON_LABELS[ground],
        "amount": str(claim.amount), "statement": claim.statement,
        "claimant": {"name": project.tenderee.name, "credit_code": project.tenderee.credit_code},
        "evidence": {"filename": stored.filename, "sha256": stored.sha256, "size": stored.size,
                     "path": f"/api/v1/issuer/claims/{claim.id}/evidence"},
        "filed_at": format_utc(claim.filed_at)})
    return claim


def answer_claim(claim: Claim, issuer: Organisation, decision: str, reason: str) -> None:
    """The issuer pays or refuses; the tenderee is told in the platform."""
    guarantee = claim.guarantee
    if guarantee.issuer_id != issuer.id:
        raise NotFound("没有这项索赔 (no such claim)")
    if decision not in ("pay", "refuse"):
        raise ValidationError("decision 应为 pay 或 refuse (decision: pay or refuse)", field="decision")
    if not (reason or "").strip():
        raise ValidationError("请说明赔付或拒赔的理由 (a reason is required)", field="reason")
    target = ClaimState.PAID if decision == "pay" else ClaimState.REFUSED
    CLAIM_STATES.check(claim.state, target)
    claim.state, claim.answered_at, claim.answer_reason = target, now(), reason.strip()[:1000]
    audit.record(f"claim.{target.value}", claim, guarantee_no=guarantee.guarantee_no, reason=claim.answer_reason)
    guarantee.end_reason = f"claim_{target.value}"
    move(guarantee, GuaranteeState.PAID if decision == "pay" else GuaranteeState.REFUSED, claim_id=claim.id)
    members = db.session.scalars(sa.select(User.id).where(User.organisation_id == claim.claimant_id)).all()
    notify(members, f"索赔{'已赔付' if decision == 'pay' else '被拒赔'}：保函 {guarantee.guarantee_no}",
           f"{issuer.name}：{claim.answer_reason}", link="/claims")

