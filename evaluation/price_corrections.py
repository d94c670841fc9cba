"""Arithmetic correction of a bid price (算术错误修正) during the evaluation.

The chair corrects an arithmetic error in a bid's price (the total is not the sum of the items, the amount in
words differs from the figures...). The correction reaches the bidder as a clarification (evaluation.
clarification_operations) that states it; the bidder accepts or refuses it in its answer, signed with its
organisation's certificate, before the clarification's deadline. Accepted, the corrected price binds the bidder
and is the price every evaluated price starts from (evaluation_data.corrected_prices); refused, or unanswered at
the deadline, the bid is rejected the way a failed review stage rejects it (``EvaluatedBid.failed_stage``) with
the reason "不接受算术修正" (实施条例 and the usual tender documents; rules.md §3). A correction awaiting its answer
holds the decision of a stage and the close of the scoring, so the bidders in the evaluation are known.
"""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import ValidationError
from evaluation import clarification_operations as clarifications
from evaluation.committee import CommitteeRefused, require_chair
from evaluation.evaluation_data import corrected_prices
from evaluation.evaluation_models import (
    CORRECTION_STATES,
    CorrectionState,
    EvaluatedBid,
    Evaluation,
    EvaluationClarification,
    PriceCorrection,
)
from trading.operations import parse_money

#: What ``EvaluatedBid.failed_stage`` says of a bid rejected because its bidder did not accept the correction.
REJECTED_STAGE = "price_correction"
REJECTION_REASON = "不接受算术修正 (did not accept the arithmetic correction)"
#: A bid whose corrected price is above the ceiling is rejected as one read out above it would be (实施条例第51条(五)).
ABOVE_CEILING_STAGE = "corrected_above_ceiling"
ABOVE_CEILING_REASON = "算术修正后的投标报价超过最高投标限价 (the corrected price is above the ceiling price)"
REJECTIONS = {REJECTED_STAGE: REJECTION_REASON, ABOVE_CEILING_STAGE: ABOVE_CEILING_REASON}


def _yuan(value: Decimal) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def question_text(price: Decimal, corrected: Decimal, reason: str) -> str:
    """The clarification that states the correction; its SHA-256 is in the bidder's signed answer."""
    return (f"经算术修正，贵单位投标报价由 {_yuan(price)} 元修正为 {_yuan(corrected)} 元，理由：{reason}。请确认是否接受 "
            f"(after arithmetic correction your price changes from {_yuan(price)} to {_yuan(corrected)} because "
            f"{reason}: do you accept?)")


def current_price(evaluation: Evaluation, bidder: EvaluatedBid) -> Decimal:
    """The bidder's price now: the read-out price, or the one its latest accepted correction set."""
    return corrected_prices(evaluation).get(bidder.id, bidder.price)


def corrections_of(evaluation: Evaluation) -> list[PriceCorrection]:
    return db.session.scalars(sa.select(PriceCorrection).where(PriceCorrection.evaluation_id == evaluation.id)
                              .order_by(PriceCorrection.id)).all()


def open_corrections(evaluation: Evaluation) -> list[PriceCorrection]:
    return [c for c in corrections_of(evaluation) if c.is_open]


def correction_for(item: EvaluationClarification) -> PriceCorrection | None:
    return db.session.scalar(sa.select(PriceCorrection).where(PriceCorrection.clarification_id == item.id))


def by_clarification(ids: list[int]) -> dict[int, PriceCorrection]:
    if not ids:
        return {}
    return {c.clarification_id: c for c in db.session.scalars(
        sa.select(PriceCorrection).where(PriceCorrection.clarification_id.in_(ids)))}


def propose(evaluation: Evaluation, user: User, bidder_id: int, corrected_price: object, reason: str,
            minutes: object) -> PriceCorrection:
    """The chair proposes a correction; the bidder is asked, with a deadline, whether it accepts it."""
    if evaluation.state not in clarifications.ASKING_STATES:
        raise CommitteeRefused("评审过程中方可进行算术修正 (arithmetic corrections are made during the review and "
                               "scoring)", code="wrong_stage")
    require_chair(evaluation, user)
    expire_overdue(evaluation, user)
    bidder = next((b for b in evaluation.bidders if b.id == bidder_id), None)
    if bidder is None:
        raise ValidationError("请选择本标段的投标人 (choose a bidder of this section)", field="bidder_id")
    if bidder.failed_stage is not None:
        raise ValidationError(f"“{bidder.name}”的投标已被否决，不再修正其报价 (this bid is rejected: its price is not "
                              "corrected)", field="bidder_id")
    corrected = parse_money(corrected_price, "corrected_price")
    price = current_price(evaluation, bidder)
    if corrected == price:
        raise ValidationError(f"修正后报价与现报价 {_yuan(price)} 元相同 (the corrected price equals the current "
                              "price)", field="corrected_price")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写修正理由 (the reason is required)", field="reason")
    if any(c.bidder_id == bidder.id for c in open_corrections(evaluation)):
        raise CommitteeRefused(f"“{bidder.name}”已有一项算术修正等待确认 (a correction for this bidder awaits its "
                               "answer)", code="correction_open", field="bidder_id")
    item = clarifications.ask(evaluation, user, bidder.id, question_text(price, corrected, reason[:1000]), minutes)
    correction = PriceCorrection(evaluation_id=evaluation.id, bidder_id=bidder.id, clarification_id=item.id,
                                 read_out_price=price, corrected_price=corrected, reason=reason[:1000],
                                 state=CorrectionState.PROPOSED, proposed_by_id=user.id, proposed_at=now())
    db.session.add(correction)
    db.session.flush()
    audit.record("evaluation.price_correction_proposed", evaluation, actor=user, correction_id=correction.id,
                 clarification_id=item.id, bidder=bidder.organisation.credit_code, read_out_price=_yuan(price),
                 corrected_price=_yuan(corrected), reason=correction.reason, deadline=item.deadline.isoformat())
    return correction


def answered(correction: PriceCorrection, user: User, accept: bool) -> PriceCorrection:
    """The bidder's signed answer to the correction's clarification carried its choice (clarification_operations)."""
    target = CorrectionState.ACCEPTED if accept else CorrectionState.REFUSED
    CORRECTION_STATES.check(correction.state, target)
    correction.state, correction.decided_at = target, now()
    ceiling = correction.bidder.evaluation.section.ceiling_price
    if not accept:
        stage = REJECTED_STAGE
    elif ceiling is not None and correction.corrected_price > ceiling:
        stage = ABOVE_CEILING_STAGE
    else:
        stage = None
    rejected = stage is not None and _reject(correction, stage)
    audit.record(f"evaluation.price_correction_{target.value}", correction.bidder.evaluation, actor=user,
                 correction_id=correction.id, clarification_id=correction.clarification_id,
                 bidder=correction.bidder.organisation.credit_code, corrected_price=_yuan(correction.corrected_price),
                 bid_rejected=rejected, reason=REJECTIONS.get(stage))
    return correction


def expire_overdue(evaluation: Evaluation, user: User | None = None) -> int:
    """Corrections whose clarification deadline passed unanswered count as refused: the bids are rejected."""
    at = now()
    overdue = [c for c in open_corrections(evaluation)
               if c.clarification.answered_at is None and c.clarification.deadline < at]
    for correction in overdue:
        CORRECTION_STATES.check(correction.state, CorrectionState.EXPIRED)
        correction.state, correction.decided_at = CorrectionState.EXPIRED, at
        rejected = _reject(correction)
        audit.record("evaluation.price_correction_expired", evaluation, actor=user, correction_id=correction.id,
                     clarification_id=correction.clarification_id, bidder=correction.bidder.organisation.credit_code,
                     deadline=correction.clarification.deadline.isoformat(), bid_rejected=rejected,
                     reason=REJECTION_REASON)
    return len(overdue)


def require_settled(evaluation: Evaluation, user: User) -> None:
    """Before a stage is decided or the scoring closed: every correction answered or expired."""
    expire_overdue(evaluation, user)
    waiting = open_corrections(evaluation)
    if waiting:
        names = "、".join(c.bidder.name for c in waiting)
        raise CommitteeRefused(f"算术修正尚待投标人确认：{names} (arithmetic corrections await the bidders' answers)",
                               code="correction_open")


def _reject(correction: PriceCorrection, stage: str = REJECTED_STAGE) -> bool:
    """Remove the bid from the evaluation as a failed stage does; a bid already rejected keeps its stage."""
    bidder = correction.bidder
    if bidder.failed_stage is not None:
        return False
    bidder.failed_stage = stage
    return True
