"""From the database to the scoring core and back: the method, the bidders' facts, the scores array.

The scoring core (evaluation.scoring) is pure numpy; this module builds its inputs from what the committee
stored. The scores are one experts × bidders × items float64 array (NaN = not entered), the experts being the
active members in position order and the bidders the opened bids in position order.
"""
from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from flask import current_app

from core.db import db
from core.errors import RuleViolation, ValidationError
from evaluation.evaluation_models import (
    CommitteeMember,
    CorrectionState,
    EvaluatedBid,
    Evaluation,
    PriceCorrection,
    ScoreEntry,
    StageOutcome,
)
from evaluation.scoring import (
    METHODS_DIR,
    BidderFacts,
    ComputedScores,
    Method,
    MethodError,
    MissingFact,
    RuleError,
    SectionFacts,
    compute_scores,
    load_methods,
)
from trading.models import PriceFieldType, Section
from trading.opening import Opening


def methods_dir() -> Path:
    """The template library; configurable (``EVALUATION_METHODS_DIR``) so a province ships its own."""
    return Path(current_app.config.get("EVALUATION_METHODS_DIR") or METHODS_DIR)


@lru_cache(maxsize=8)
def _library(directory: str, stamp: tuple) -> dict[str, Method]:
    return load_methods(directory)


def library() -> dict[str, Method]:
    """Every valid template; a broken template refuses the whole library with the loader's reasons."""
    directory = methods_dir()
    stamp = tuple(sorted((p.name, os.stat(p).st_mtime_ns) for p in directory.glob("*.toml")))
    try:
        return _library(str(directory), stamp)
    except MethodError as exc:
        raise RuleViolation(f"评标办法模板有误，不能用于评标 (an evaluation-method template is invalid): {exc}",
                            code="method_invalid") from None


def method_for(key: str) -> Method:
    method = library().get(key)
    if method is None:
        raise RuleViolation(f"评标办法库中没有“{key}” (no evaluation method {key!r} in the library)",
                            code="method_unknown")
    return method


def method_of(evaluation: Evaluation) -> Method:
    return method_for(evaluation.method_id)


def price_field(section: Section) -> str:
    """The price-form field holding the bid price (投标总价): ``total_price``, else the first money field."""
    keys = [f.key for f in section.price_form if f.type is PriceFieldType.MONEY]
    if "total_price" in keys:
        return "total_price"
    if not keys:
        raise RuleViolation("开标一览表没有金额字段，无法取得投标报价 (the price form has no money field)",
                            code="no_price_field")
    return keys[0]


def opening_of(evaluation: Evaluation) -> Opening:
    return db.session.get(Opening, evaluation.opening_id)


def section_facts(evaluation: Evaluation) -> SectionFacts:
    opening = opening_of(evaluation)
    return SectionFacts(ceiling_price=evaluation.section.ceiling_price, k_coefficient=opening.k_coefficient)


def bidder_facts(bid: EvaluatedBid, corrected_price: Decimal | None = None) -> BidderFacts:
    """The bidder's facts; the credit facts are computed from the credit records (信用), never typed.
    ``corrected_price``: the price of the arithmetic correction the bidder accepted, if any."""
    from supervision.credit import is_on_dishonest_list

    facts = dict(bid.facts_dict)
    facts["not_dishonest_entity"] = not is_on_dishonest_list(bid.organisation)
    return BidderFacts(bidder_id=bid.organisation.credit_code, price=bid.price, small_enterprise=bid.small_enterprise,
                       corrected_price=corrected_price, price_form=bid.price_form_dict, facts=facts)


def corrected_prices(evaluation: Evaluation) -> dict[int, Decimal]:
    """Bidder id → the price after the arithmetic corrections the bidder accepted (the latest one counts)."""
    rows = db.session.execute(sa.select(PriceCorrection.bidder_id, PriceCorrection.corrected_price).where(
        PriceCorrection.evaluation_id == evaluation.id, PriceCorrection.state == CorrectionState.ACCEPTED)
        .order_by(PriceCorrection.id)).all()
    return {bidder_id: price for bidder_id, price in rows}


def all_bidder_facts(evaluation: Evaluation) -> list[BidderFacts]:
    corrected = corrected_prices(evaluation)
    return [bidder_facts(b, corrected.get(b.id)) for b in evaluation.bidders]


def passing_positions(evaluation: Evaluation) -> tuple[int, ...]:
    """Bidders still in the evaluation: those that failed no decided stage."""
    return tuple(b.position for b in evaluation.bidders if b.failed_stage is None)


def decided_stages(evaluation: Evaluation) -> dict[str, StageOutcome]:
    rows = db.session.scalars(sa.select(StageOutcome).where(StageOutcome.evaluation_id == evaluation.id)
                              .order_by(StageOutcome.position)).all()
    return {row.stage_id: row for row in rows}


def computed_scores(evaluation: Evaluation, method: Method | None = None) -> ComputedScores:
    """Objective items and the price score of the passing bidders; a missing fact names what to record."""
    method = method or method_of(evaluation)
    try:
        return compute_scores(method, all_bidder_facts(evaluation), section_facts(evaluation),
                              passing_positions(evaluation))
    except MissingFact as exc:
        raise facts_missing(evaluation, exc) from None
    except (RuleError, ValueError) as exc:
        raise RuleViolation(f"无法计算客观分和价格分 (objective and price scores cannot be computed): {exc}",
                            code="computation_failed") from None


def facts_missing(evaluation: Evaluation, exc: MissingFact) -> RuleViolation:
    bidder = next((b for b in evaluation.bidders if b.organisation.credit_code == exc.bidder_id), None)
    who = bidder.name if bidder else exc.bidder_id
    return RuleViolation(f"投标人“{who}”缺少评标办法所需的数据“{exc.field_name}”，请招标代理先录入 "
                         f"(bidder {who} lacks {exc.field_name!r}, which the method reads: the agent must record it)",
                         code="fact_missing", field=exc.field_name)


def member_index(evaluation: Evaluation) -> dict[int, int]:
    """Member id → row of the scores array."""
    return {m.id: i for i, m in enumerate(evaluation.active_members)}


def score_array(evaluation: Evaluation, method: Method) -> np.ndarray:
    """experts × bidders × items: every stored subjective score of the active members, NaN elsewhere."""
    rows = member_index(evaluation)
    columns = {b.id: b.position for b in evaluation.bidders}
    scores = method.empty_scores(len(rows), len(evaluation.bidders))
    entries = db.session.execute(sa.select(ScoreEntry.member_id, ScoreEntry.bidder_id, ScoreEntry.item_id,
                                           ScoreEntry.value).where(ScoreEntry.evaluation_id == evaluation.id)).all()
    for member_id, bidder_id, item_id, value in entries:
        if member_id in rows and item_id in method.item_index:
            scores[rows[member_id], columns[bidder_id], method.item_index[item_id]] = float(value)
    return scores


# -- the facts the method's rules read ----------------------------------------------------------------------

FACT_KINDS = ("yes_no", "number", "text")


def required_facts(method: Method) -> dict[str, str]:
    """``facts.<name>`` the method reads → the kind of value it compares with (yes_no, number, text)."""
    found: dict[str, str] = {}

    def note(field: str, value) -> None:
        if not field.startswith("facts."):
            return
        name = field[len("facts."):]
        sample = value[0] if isinstance(value, tuple) and value else value
        if isinstance(sample, bool):
            kind = "yes_no"
        elif isinstance(sample, (int, float, Decimal)):
            kind = "number"
        else:
            kind = "text"
        found.setdefault(name, kind)

    for stage in method.stages:
        for item in stage.items:
            if item.condition is not None:
                note(item.condition.field, item.condition.value)
    for item in method.items:
        if item.rule is None:
            continue
        for clause in item.rule.clauses:
            note(clause.condition.field, clause.condition.value)
        if item.rule.unit_field:
            note(item.rule.unit_field, 0)
    for adjustment in method.price.adjustments:
        note(adjustment.unit_field, 0)
    return dict(sorted(found.items()))


def parse_fact(name: str, kind: str, raw: object):
    """A fact typed by the agent, as the rule language compares it; refuse what it could not compare."""
    text = str(raw if raw is not None else "").strip()
    if kind == "yes_no":
        if isinstance(raw, bool):
            return raw
        if text in ("true", "yes", "1", "是"):
            return True
        if text in ("false", "no", "0", "否"):
            return False
        raise ValidationError(f"“{name}”应为是或否 ({name}: yes or no)", field=name)
    if kind == "number":
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise ValidationError(f"“{name}”应为数字 ({name}: a number)", field=name) from None
        if not value.is_finite():
            raise ValidationError(f"“{name}”应为数字 ({name}: a number)", field=name)
        return int(value) if value == value.to_integral_value() else str(value)
    if not text:
        raise ValidationError(f"请填写“{name}” ({name} is required)", field=name)
    return text[:200]


def member_of(evaluation: Evaluation, member_id: int) -> CommitteeMember | None:
    return next((m for m in evaluation.members if m.id == member_id), None)
