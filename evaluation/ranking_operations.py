"""Aggregation, ranking with the recorded tie-break draw, the members' signatures of the report.

The chair closes the scoring; the scoring core aggregates (mean, or trimmed mean when the method says so) and
ranks with the method's tie-breaks (lower price, higher technical score...), and a tie that still touches the
candidate places is ordered by a verifiable draw (docs/draw.md §4.5, kind "order"). Its secret is committed
when the chair is elected, before anything is scored; every member's finished stage and sheet adds entropy the
platform could not know then; the reveal at the ranking yields a record anyone re-runs with
tools/verify_draw.py. The ranking and the report's data are then fixed; every member signs the report's digest
with their own key, or refuses with a written reason — a refusal without one counts as agreement (rules.md §3).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import ValidationError
from core.sealing_box import open_secret, seal_secret
from crypto import draw as drawing
from crypto.canonical import canonical_json
from evaluation import media_roster
from evaluation.committee import (
    CommitteeRefused,
    active_member,
    personal_certificate,
    require_chair,
)
from evaluation.evaluation_data import (
    all_bidder_facts,
    computed_scores,
    method_of,
    score_array,
)
from evaluation.evaluation_models import (
    EVALUATION_STATES,
    Evaluation,
    EvaluationState,
    ReportSignature,
    SignatureDecision,
)
from evaluation.scoring import IncompleteScores, evaluate, fill_computed

REPORT_SIGNATURE_TYPE = "bidhall.evaluation.report_signature.v1"


# -- the tie-break draw ------------------------------------------------------------------------------------------

def commit_tie_break(evaluation: Evaluation) -> str:
    secret = drawing.new_secret()
    evaluation.tie_secret_sealed = seal_secret(secret.hex())
    evaluation.tie_commitment = drawing.commitment_of(secret)
    audit.record("evaluation.tie_break_committed", evaluation, commitment=evaluation.tie_commitment)
    return evaluation.tie_commitment


def contribute_tie_break(evaluation: Evaluation, contributor: str, entropy: str) -> None:
    if not evaluation.tie_secret_sealed:
        return
    entries = json.loads(evaluation.tie_contributions or "[]")
    entries.append({"contributor": contributor, "at": now().isoformat(), "entropy": entropy})
    evaluation.tie_contributions = json.dumps(entries, ensure_ascii=False)


def _draw_hook(evaluation: Evaluation, records: list[dict]):
    secret = bytes.fromhex(open_secret(evaluation.tie_secret_sealed))

    def draw(tied_ids):
        request = {"kind": "order", "purpose": "tie_break", "section": evaluation.section.code,
                   "evaluation": evaluation.id, "group": len(records) + 1}
        ceremony = drawing.DrawCeremony.open(secret, request, list(tied_ids))
        if ceremony.commitment.commitment != evaluation.tie_commitment:
            raise CommitteeRefused("抽签承诺值与记录不符 (the tie-break secret does not match its commitment)",
                                   code="tie_break_broken")
        for entry in json.loads(evaluation.tie_contributions or "[]"):
            ceremony.contribute(entry["contributor"], entry["entropy"], datetime.fromisoformat(entry["at"]))
        seed = ceremony.reveal(secret, min_contributions=1 if ceremony.contributions else 0)
        order = drawing.draw_order(seed, list(tied_ids))
        record = drawing.draw_record(request, list(tied_ids), secret, ceremony.contributions, order)
        records.append(record)
        audit.record("evaluation.tie_break_drawn", evaluation, tied=list(tied_ids), order=order,
                     commitment=record["commitment"], seed=record["seed"])
        return order

    return draw


# -- closing the scoring -------------------------------------------------------------------------------------------

def close_scoring(evaluation: Evaluation, user: User) -> Evaluation:
    """汇总: the chair closes the scoring once every member submitted the sheet and answered every flag."""
    from evaluation.score_operations import open_flags, require_scoring

    from evaluation.price_corrections import require_settled

    require_scoring(evaluation)
    require_chair(evaluation, user)
    require_settled(evaluation, user)
    waiting = [m for m in evaluation.active_members if m.scores_submitted_at is None]
    if waiting:
        raise CommitteeRefused(f"还有{len(waiting)}名成员未提交评分表 (members have not submitted their sheets)",
                               code="members_scoring")
    if open_flags(evaluation):
        raise CommitteeRefused("还有评分偏离提示未处理 (flags are still open)", code="flags_open")
    return close_evaluation(evaluation, user)


def close_evaluation(evaluation: Evaluation, user: User) -> Evaluation:
    """Aggregate, rank, recommend the candidates, fix the report's data and its digest for the signatures."""
    from evaluation.report_data import build_report_data

    method = method_of(evaluation)
    bidders = all_bidder_facts(evaluation)
    computed = computed_scores(evaluation, method)
    scores = fill_computed(method, score_array(evaluation, method), computed)
    records: list[dict] = []
    hook = _draw_hook(evaluation, records) if evaluation.tie_secret_sealed else None
    try:
        result = evaluate(method, scores, computed, bidders, draw=hook)
    except IncompleteScores as exc:
        raise CommitteeRefused(f"评分不完整，无法汇总 (scores incomplete): {exc}", code="scores_incomplete") from None
    evaluation.tie_draws = json.dumps(records, ensure_ascii=False)
    evaluation.tie_secret_sealed = None
    evaluation.result = canonical_json(_result_json(evaluation, method, result)).decode()
    EVALUATION_STATES.check(evaluation.state, EvaluationState.SIGNING)
    evaluation.state, evaluation.signing_started_at = EvaluationState.SIGNING, now()
    data = build_report_data(evaluation)
    evaluation.report_data = canonical_json(data).decode()
    evaluation.report_digest = hashlib.sha256(evaluation.report_data.encode()).hexdigest()
    audit.record("evaluation.ranked", evaluation, actor=user, candidates=json.loads(evaluation.result)["candidates"],
                 tie_draws=len(records), report_digest=evaluation.report_digest)
    media_roster.stage(evaluation, "签署评标报告")
    return evaluation


def _score_text(method, value) -> str | None:
    """A score as published: the float the core rounded, written with the method's places."""
    if value is None:
        return None
    return format(method.rounding.decimal(Decimal(repr(float(value)))), "f")


def _result_json(evaluation: Evaluation, method, result) -> dict:
    by_position = {b.position: b for b in evaluation.bidders}
    aggregate = result.aggregate
    categories = {}
    for row, position in enumerate(aggregate.bidders):
        categories[by_position[position].organisation.credit_code] = {
            c: _score_text(method, aggregate.category_scores[row, k]) for k, c in enumerate(method.category_ids)}
    return {
        "method": method.id, "trimmed": bool(aggregate.trimmed), "categories": categories,
        "order": [{"bidder": r.bidder_id, "name": by_position[r.bidder].name, "rank": r.rank,
                   "total": _score_text(method, r.total), "technical": _score_text(method, r.technical),
                   "evaluated_price": format(r.evaluated_price, "f"),
                   "quotient": None if r.quotient is None else format(r.quotient, "f"), "decided_by": r.decided_by}
                  for r in result.ranking.order],
        "candidates": [by_position[p].organisation.credit_code for p in result.ranking.candidates],
        "unresolved": [by_position[p].organisation.credit_code for p in result.ranking.unresolved],
        "draws": [{"tied": list(ids), "order": list(order)} for ids, order in result.ranking.draws],
    }


# -- the members' signatures -----------------------------------------------------------------------------------------

def signature_payload(evaluation: Evaluation, member_id: int) -> dict:
    return {"type": REPORT_SIGNATURE_TYPE, "evaluation": evaluation.id, "member": member_id,
            "report_digest": evaluation.report_digest}


def sign_report(evaluation: Evaluation, user: User, *, document: dict | None = None, refuse: bool = False,
                reason: str = "") -> ReportSignature:
    """A member signs the digest with their personal signing key, or refuses (with or without a reason)."""
    if evaluation.state is not EvaluationState.SIGNING:
        raise CommitteeRefused(f"评标当前处于“{evaluation.state_label}”阶段，不在签署评标报告 (the report is not being "
                               "signed now)", code="wrong_stage")
    member = active_member(evaluation, user)
    if db.session.query(ReportSignature.id).filter_by(evaluation_id=evaluation.id, member_id=member.id).first():
        raise CommitteeRefused("您已签署或拒签评标报告 (you already answered)", code="already_signed")
    if refuse:
        reason = (reason or "").strip()
        decision = SignatureDecision.REFUSED if reason else SignatureDecision.DEEMED_AGREED
        entry = ReportSignature(evaluation_id=evaluation.id, member_id=member.id, decision=decision,
                                reason=reason[:4000] or None, at=now())
    else:
        if not isinstance(document, dict):
            raise ValidationError("请用个人签名证书签署报告摘要 (sign the report digest with your certificate)",
                                  field="document")
        if document.get("payload") != signature_payload(evaluation, member.id):
            raise ValidationError("签名内容不是本报告的摘要 (the signed payload is not this report's digest)",
                                  field="document")
        _certificate, fingerprint = personal_certificate(user, str(document.get("certificate", "")), document)
        entry = ReportSignature(evaluation_id=evaluation.id, member_id=member.id, decision=SignatureDecision.SIGNED,
                                certificate_fingerprint=fingerprint, at=now(),
                                document=canonical_json({k: document[k] for k in ("payload", "signature")}).decode())
    db.session.add(entry)
    db.session.flush()
    audit.record("evaluation.report_signed", evaluation, actor=user, member_id=member.id,
                 decision=entry.decision.value, reason=entry.reason, certificate=entry.certificate_fingerprint,
                 report_digest=evaluation.report_digest)
    answered = {s.member_id for s in db.session.query(ReportSignature).filter_by(evaluation_id=evaluation.id)}
    if all(m.id in answered for m in evaluation.active_members):
        EVALUATION_STATES.check(evaluation.state, EvaluationState.SIGNED)
        evaluation.state, evaluation.signed_at = EvaluationState.SIGNED, now()
        audit.record("evaluation.committee_signed", evaluation, report_digest=evaluation.report_digest)
        media_roster.close(evaluation)
    return entry
