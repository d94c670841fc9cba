"""Detailed scoring (详细评审): typed subjective scores, the live checks, and each member's score sheet.

Only subjective items are typed, within the item's range and on its step, with a comment at either end of the
range (evaluation.scoring.entry). Objective and price items are computed from the bid data and the opening
record and are never stored per member. After every entry the deviation checks of rules.md §3 run over the
bidder's column: a score beyond 2σ of the other members' scores on the item, or more than 20% of the item's
maximum from their mean, is flagged to the chair and to the member, who confirms it with a reason or revises
it. A member submits the sheet with the totals as written on it; a total that is not the sum of its items
(a sum error) or an objective cell that differs from the computed one is flagged and the sheet refused.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal

import numpy as np
import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import RuleViolation, ValidationError
from crypto.canonical import canonical_json
from evaluation.committee import CommitteeRefused, active_member
from evaluation.evaluation_data import (
    computed_scores,
    member_index,
    method_of,
    score_array,
)
from evaluation.evaluation_models import (
    CommitteeMember,
    EvaluatedBid,
    Evaluation,
    EvaluationState,
    FlagState,
    ScoreEntry,
    ScoreFlag,
)
from evaluation.scoring import (
    Method,
    ScoreRejected,
    check_sums,
    find_outliers,
    validate_subjective_score,
)

ENTRY_MESSAGES = {"computed_item": ("客观分和价格分由系统根据投标数据计算，不能手工录入", "item_id"),
                  "unknown_item": ("评标办法中没有该评分项", "item_id"),
                  "not_a_number": ("分值须为数字", "value"), "out_of_range": ("分值超出该项评分范围", "value"),
                  "off_step": ("分值不在该项的评分步长上", "value"),
                  "comment_required": ("打满分或最低分须填写评分说明", "comment")}
#: Flags the live checks raise on typed scores (the sheet checks add sum_error and objective_inconsistent).
LIVE_REASONS = ("deviation_sigma", "deviation_max_fraction", "out_of_range", "off_step")
SHEET_REASONS = ("sum_error", "objective_inconsistent")


def require_scoring(evaluation: Evaluation) -> None:
    if evaluation.state in (EvaluationState.SIGNED, EvaluationState.PUBLISHED):
        raise CommitteeRefused("评标委员会已签署评标报告，评分不能再录入或修改 (the committee has signed the report: "
                               "no score can be entered or changed)", code="committee_signed")
    if evaluation.state is EvaluationState.SIGNING:
        raise CommitteeRefused("详细评审已结束，正在签署评标报告 (the scoring is closed: the report is being signed)",
                               code="scoring_closed")
    if evaluation.state is not EvaluationState.SCORING:
        raise CommitteeRefused(f"评标当前处于“{evaluation.state_label}”阶段，尚未进入详细评审 (not in the scoring)",
                               code="wrong_stage")


def scored_bidder(evaluation: Evaluation, bidder_id: int) -> EvaluatedBid:
    bidder = next((b for b in evaluation.bidders if b.id == bidder_id), None)
    if bidder is None:
        raise ValidationError("没有这个投标人 (no such bidder in this evaluation)", field="bidder_id")
    if bidder.failed_stage is not None:
        raise ValidationError(f"“{bidder.name}”未通过初步评审，不参加详细评审 (this bidder failed the review and "
                              f"is not scored)", field="bidder_id")
    return bidder


def enter_score(evaluation: Evaluation, user: User, bidder_id: int, item_id: str, value: object,
                comment: str = "") -> tuple[ScoreEntry, list[ScoreFlag]]:
    """Store one subjective score after every check; returns it and the flags raised or cleared by it."""
    require_scoring(evaluation)
    member = active_member(evaluation, user)
    bidder = scored_bidder(evaluation, bidder_id)
    method = method_of(evaluation)
    try:
        accepted = validate_subjective_score(method, str(item_id), value, str(comment or ""))
    except ScoreRejected as exc:
        text, field = ENTRY_MESSAGES.get(exc.code, ("评分无效", "value"))
        raise ValidationError(f"{text} ({exc})", field=field, code=exc.code) from None
    entry = db.session.scalar(sa.select(ScoreEntry).where(ScoreEntry.member_id == member.id,
                                                          ScoreEntry.bidder_id == bidder.id,
                                                          ScoreEntry.item_id == accepted.item_id))
    previous = None if entry is None else entry.value
    if entry is None:
        entry = ScoreEntry(evaluation_id=evaluation.id, member_id=member.id, bidder_id=bidder.id,
                           item_id=accepted.item_id, value=accepted.value, comment=accepted.comment, entered_at=now())
        db.session.add(entry)
    else:
        if entry.value != accepted.value:
            entry.revisions += 1
        entry.value, entry.comment, entry.entered_at = accepted.value, accepted.comment, now()
    changed = _revise_flags(member, bidder, accepted.item_id, float(accepted.value), previous)
    if member.scores_submitted_at is not None and previous != accepted.value:
        member.scores_submitted_at = None
        audit.record("evaluation.sheet_reopened", evaluation, actor=user, member_id=member.id)
    db.session.flush()
    audit.record("evaluation.score_entered", evaluation, actor=user, member_id=member.id,
                 bidder=bidder.organisation.credit_code, item=accepted.item_id, value=str(accepted.value),
                 previous=None if previous is None else str(previous), comment=accepted.comment)
    return entry, changed + refresh_flags(evaluation, method, bidder)


def _revise_flags(member: CommitteeMember, bidder: EvaluatedBid, item_id: str, value: float,
                  previous: Decimal | None) -> list[ScoreFlag]:
    if previous is None or float(previous) == value:
        return []
    flags = db.session.scalars(sa.select(ScoreFlag).where(
        ScoreFlag.member_id == member.id, ScoreFlag.bidder_id == bidder.id, ScoreFlag.item_id == item_id,
        ScoreFlag.state == FlagState.OPEN, ScoreFlag.reason.in_(LIVE_REASONS))).all()
    for flag in flags:
        flag.state, flag.resolved_at, flag.revised_to = FlagState.REVISED, now(), value
        audit.record("evaluation.flag_revised", member.evaluation, actor=member.user, flag_id=flag.id,
                     score=flag.score, revised_to=value)
    return list(flags)


def refresh_flags(evaluation: Evaluation, method: Method, bidder: EvaluatedBid) -> list[ScoreFlag]:
    """Re-run the live checks over one bidder's column: raise new flags, clear those that no longer hold."""
    members = evaluation.active_members
    found = find_outliers(method, score_array(evaluation, method), None, [bidder.position])
    current = {(members[o.expert].id, o.item_id, o.reason): o for o in found if o.reason in LIVE_REASONS}
    flags = db.session.scalars(sa.select(ScoreFlag).where(
        ScoreFlag.bidder_id == bidder.id, ScoreFlag.reason.in_(LIVE_REASONS),
        ScoreFlag.state.in_([FlagState.OPEN, FlagState.CONFIRMED]))).all()
    changed: list[ScoreFlag] = []
    for flag in flags:
        if flag.state is FlagState.OPEN and (flag.member_id, flag.item_id, flag.reason) not in current:
            flag.state, flag.resolved_at = FlagState.CLEARED, now()
            audit.record("evaluation.flag_cleared", evaluation, flag_id=flag.id, member_id=flag.member_id)
            changed.append(flag)
    standing = {(f.member_id, f.item_id, f.reason, f.score) for f in flags if f.state is not FlagState.CLEARED}
    for (member_id, item_id, reason), outlier in current.items():
        if (member_id, item_id, reason, outlier.score) in standing:
            continue
        flag = ScoreFlag(evaluation_id=evaluation.id, member_id=member_id, bidder_id=bidder.id, item_id=item_id,
                         reason=reason, score=outlier.score, reference=round(outlier.reference, 6),
                         threshold=None if outlier.threshold is None else round(outlier.threshold, 6), raised_at=now())
        db.session.add(flag)
        db.session.flush()
        audit.record("evaluation.score_flagged", evaluation, flag_id=flag.id, member_id=member_id,
                     bidder=bidder.organisation.credit_code, item=item_id, reason=reason, score=outlier.score,
                     reference=round(outlier.reference, 6))
        changed.append(flag)
    return changed


def confirm_flag(evaluation: Evaluation, user: User, flag_id: int, note: str) -> ScoreFlag:
    """The flagged member keeps the score and says why (recorded for the outlier log)."""
    require_scoring(evaluation)
    member = active_member(evaluation, user)
    flag = db.session.get(ScoreFlag, flag_id)
    if flag is None or flag.evaluation_id != evaluation.id or flag.member_id != member.id:
        raise ValidationError("没有这条针对您评分的提示 (no such flag on your scores)", field="flag_id")
    if flag.state is not FlagState.OPEN:
        raise CommitteeRefused(f"该提示已{flag.state_label} (this flag is {flag.state.value})", code="flag_closed")
    if flag.reason in SHEET_REASONS:
        raise CommitteeRefused("合计错误和客观分不一致须改正后重新提交 (sum errors and objective inconsistencies are "
                               "corrected, not confirmed)", code="flag_needs_correction")
    note = (note or "").strip()
    if not note:
        raise ValidationError("确认保留该评分须说明理由 (give the reason for keeping this score)", field="note")
    flag.state, flag.resolved_at, flag.note = FlagState.CONFIRMED, now(), note[:2000]
    audit.record("evaluation.flag_confirmed", evaluation, actor=user, flag_id=flag.id, member_id=member.id,
                 score=flag.score, note=flag.note)
    return flag


def open_flags(evaluation: Evaluation, member: CommitteeMember | None = None) -> list[ScoreFlag]:
    query = sa.select(ScoreFlag).where(ScoreFlag.evaluation_id == evaluation.id, ScoreFlag.state == FlagState.OPEN)
    if member is not None:
        query = query.where(ScoreFlag.member_id == member.id)
    return db.session.scalars(query.order_by(ScoreFlag.id)).all()


def submit_sheet(evaluation: Evaluation, user: User, totals: dict | None = None,
                 objective: dict | None = None) -> list[ScoreFlag]:
    """Submit the member's sheet. ``totals`` (bidder id → the total written on the sheet) and ``objective``
    (bidder id → {item id → value shown}) are checked against the items and the computed scores; a mismatch is
    flagged and refuses the sheet. Returns the sheet flags it resolved."""
    from evaluation.ranking_operations import contribute_tie_break

    require_scoring(evaluation)
    member = active_member(evaluation, user)
    method = method_of(evaluation)
    computed = computed_scores(evaluation, method)
    scores = score_array(evaluation, method)
    row = member_index(evaluation)[member.id]
    passing = [b for b in evaluation.bidders if b.failed_stage is None]
    subjective = np.flatnonzero(method.subjective_mask)
    missing = [(b.name, method.items[i].label_zh) for b in passing for i in subjective
               if np.isnan(scores[row, b.position, i])]
    if missing:
        shown = "；".join(f"{name}：{label}" for name, label in missing[:5])
        raise ValidationError(f"还有{len(missing)}项未评分：{shown} ({len(missing)} scores missing)", field="scores")
    found = _sheet_checks(evaluation, method, computed, scores, row, passing, totals or {}, objective or {})
    resolved = _resolve_sheet_flags(evaluation, member, found)
    if found:
        for outlier, bidder in found:
            flag = ScoreFlag(evaluation_id=evaluation.id, member_id=member.id, bidder_id=bidder.id,
                             item_id=outlier.item_id, reason=outlier.reason, score=outlier.score,
                             reference=round(outlier.reference, 6), threshold=outlier.threshold, raised_at=now())
            db.session.add(flag)
            db.session.flush()
            audit.record("evaluation.score_flagged", evaluation, actor=user, flag_id=flag.id, member_id=member.id,
                         bidder=bidder.organisation.credit_code, item=outlier.item_id, reason=outlier.reason,
                         score=outlier.score, reference=round(outlier.reference, 6))
        db.session.commit()  # the flags are the record of the refusal: they stay, the sheet is refused
        first, bidder = found[0]
        label = "合计与各项之和不符" if first.reason == "sum_error" else "客观分与系统计算结果不一致"
        raise RuleViolation(f"{label}：{bidder.name} {first.item_id} 填写 {first.score:g}，应为 {first.reference:g} "
                            f"({first.reason}: {len(found)} problem(s); the sheet is not submitted)",
                            code=first.reason, field="totals" if first.reason == "sum_error" else "objective")
    pending = open_flags(evaluation, member)
    if pending:
        raise CommitteeRefused(f"还有{len(pending)}条评分偏离提示待您确认或修改 (answer your open flags first)",
                               code="flags_open")
    member.scores_submitted_at = now()
    digest = hashlib.sha256(canonical_json(sorted(
        [[b.organisation.credit_code, method.items[i].id, format(Decimal(repr(float(scores[row, b.position, i]))), "f")]
         for b in passing for i in subjective]))).hexdigest()
    audit.record("evaluation.sheet_submitted", evaluation, actor=user, member_id=member.id, scores_sha256=digest)
    contribute_tie_break(evaluation, f"member:{member.position + 1}:scores", digest)
    return resolved


def _sheet_checks(evaluation, method, computed, scores, row, passing, totals, objective) -> list:
    by_id = {b.id: b for b in passing}
    sheet = np.full(scores.shape[:2], np.nan)
    shown = np.full(scores.shape, np.nan)
    for raw_id, value in totals.items():
        bidder = by_id.get(_int(raw_id, "totals"))
        if bidder is None:
            raise ValidationError("合计只能填写参加详细评审的投标人 (totals are for scored bidders)", field="totals")
        sheet[row, bidder.position] = _number(value, "totals")
    for raw_id, cells in objective.items():
        bidder = by_id.get(_int(raw_id, "objective"))
        if bidder is None or not isinstance(cells, dict):
            raise ValidationError("客观分只能填写参加详细评审的投标人 (objective cells for scored bidders)",
                                  field="objective")
        for item_id, value in cells.items():
            if item_id not in method.item_index or method.subjective_mask[method.item_index[item_id]]:
                raise ValidationError(f"{item_id} 不是客观评分项 (not an objective item)", field="objective")
            shown[row, bidder.position, method.item_index[item_id]] = _number(value, "objective")
    positions = [b.position for b in passing]
    problems = check_sums(method, scores, sheet, positions, computed)
    only_shown = np.where(method.subjective_mask[np.newaxis, np.newaxis, :], np.nan, shown)
    problems += [o for o in find_outliers(method, only_shown, computed, positions)
                 if o.reason == "objective_inconsistent"]
    by_position = {b.position: b for b in passing}
    return [(o, by_position[o.bidder]) for o in problems if o.expert == row]


def _resolve_sheet_flags(evaluation: Evaluation, member: CommitteeMember, found: list) -> list[ScoreFlag]:
    """An open sum or objective flag is resolved by a new sheet that no longer has the problem."""
    still = {(bidder.id, outlier.item_id, outlier.reason) for outlier, bidder in found}
    resolved = []
    for flag in open_flags(evaluation, member):
        if flag.reason in SHEET_REASONS and (flag.bidder_id, flag.item_id, flag.reason) not in still:
            flag.state, flag.resolved_at = FlagState.REVISED, now()
            audit.record("evaluation.flag_revised", evaluation, actor=member.user, flag_id=flag.id, score=flag.score)
            resolved.append(flag)
    return resolved


def _int(value, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError("投标人编号无效 (invalid bidder id)", field=field) from None


def _number(value, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("须为数字 (must be a number)", field=field) from None
    if not np.isfinite(number):
        raise ValidationError("须为数字 (must be a number)", field=field)
    return number
