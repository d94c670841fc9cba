"""Everything the evaluation report (评标报告, rules.md §3 第42条) states, as data.

Its canonical JSON is what the report's digest covers and what every member signs: basic data, the committee
with names, the opening record's summary, compliant and rejected bids with the reasons, the criteria, each
member's score table, the price computation, the summary and ranking, the candidates, the clarification
minutes and the outlier log. Scores are written as published (the method's places), money to the fen, so a
reader can recompute every figure from the printed ones.
"""
from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import sqlalchemy as sa

from core.db import db
from evaluation.evaluation_data import (
    computed_scores,
    method_of,
    opening_of,
    score_array,
)
from evaluation.evaluation_models import (
    CommitteeMember,
    Evaluation,
    EvaluationClarification,
    MemberKind,
    MemberStatus,
    PriceCorrection,
    ScoreEntry,
    ScoreFlag,
    StageOutcome,
)
from evaluation.experts import Expert
from evaluation.scoring import ItemKind, Method

FORMAT = "bidhall.evaluation_report.v1"


def _text(method: Method, value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return format(method.rounding.decimal(Decimal(repr(float(value)))), "f")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(Decimal("0.01")), "f")


def _dt(value) -> str | None:
    return value.isoformat() if value else None


def build_report_data(evaluation: Evaluation) -> dict:
    method = method_of(evaluation)
    section, project = evaluation.section, evaluation.section.project
    return {
        "format": FORMAT,
        "basic": {"project": {"code": project.code, "name": project.name, "type": project.type_label,
                              "method": project.method_label},
                  "tenderee": project.tenderee.name, "agency": project.agency.name,
                  "section": {"code": section.code, "name": section.name, "ceiling_price": _money(section.ceiling_price)},
                  "evaluation_method": {"id": method.id, "name": method.name_zh, "source": method.source},
                  "opened_at": _dt(evaluation.opened_at), "closed_at": _dt(evaluation.signing_started_at)},
        "committee": committee(evaluation),
        "opening": opening_summary(evaluation),
        "review": review_outcomes(evaluation),
        "criteria": criteria(method),
        "expert_scores": expert_tables(evaluation, method),
        "price": price_table(evaluation, method),
        "ranking": json.loads(evaluation.result or "{}"),
        "tie_draws": [{"commitment": r["commitment"], "seed": r["seed"], "tied": r["eligible"],
                       "order": r["result"]["order"]} for r in json.loads(evaluation.tie_draws or "[]")],
        "price_corrections": price_corrections(evaluation),
        "clarifications": clarification_minutes(evaluation),
        "outliers": outlier_log(evaluation),
    }


def member_name(member: CommitteeMember) -> str:
    if member.kind is MemberKind.EXPERT and member.expert_id:
        return db.session.get(Expert, member.expert_id).name
    return member.user.display_name


def committee(evaluation: Evaluation) -> list[dict]:
    rows = []
    for member in evaluation.members:
        expert = db.session.get(Expert, member.expert_id) if member.expert_id else None
        rows.append({"member": member.id, "position": member.position + 1, "name": member_name(member),
                     "kind": member.kind_label, "chair": member.is_chair, "status": member.status_label,
                     "title": expert.title_label if expert else "", "employer": expert.employer_name if expert else
                     member.user.organisation.name if member.user.organisation else "",
                     "venue": member.venue_name, "seat": member.seat, "sign_in": member.sign_in_method,
                     "signed_in_at": _dt(member.signed_in_at),
                     "recusal": member.recusal_reason if member.status is MemberStatus.RECUSED else None})
    return rows


def opening_summary(evaluation: Evaluation) -> dict:
    opening = opening_of(evaluation)
    read_out = json.loads(opening.read_out or "{}")
    return {"read_out_at": _dt(opening.read_out_at), "k_coefficient": str(opening.k_coefficient)
            if opening.k_coefficient is not None else None, "record_digest": opening.record_digest,
            "fields": [f["label"] for f in read_out.get("fields", [])],
            "rows": [{"bidder": r["bidder"], "outcome": r["outcome"], "escrow": r.get("escrow", False),
                      "values": [str((r.get("price_form") or {}).get(f["key"], "")) for f in read_out.get("fields", [])]}
                     for r in read_out.get("rows", [])]}


def review_outcomes(evaluation: Evaluation) -> dict:
    stages = [row.data for row in db.session.scalars(sa.select(StageOutcome).where(
        StageOutcome.evaluation_id == evaluation.id).order_by(StageOutcome.position))]
    opened = {b.organisation.credit_code for b in evaluation.bidders}
    not_opened = [r for r in opening_summary(evaluation)["rows"] if r["outcome"] != "opened"]
    return {"stages": stages,
            "compliant": [{"bidder": b.organisation.credit_code, "name": b.name} for b in evaluation.bidders
                          if b.failed_stage is None],
            "rejected": [{"bidder": b.organisation.credit_code, "name": b.name, "stage": b.failed_stage,
                          "reasons": [f for s in stages for f in s["failed"] if f["bidder"] == b.organisation.credit_code]
                          or _correction_reasons(b)}
                         for b in evaluation.bidders if b.failed_stage is not None],
            "not_evaluated": [{"name": r["bidder"], "outcome": r["outcome"]} for r in not_opened],
            "opened": sorted(opened)}


def _correction_reasons(bidder) -> list[dict]:
    """A bid rejected over an arithmetic correction: not accepted, or above the ceiling once corrected
    (evaluation.price_corrections)."""
    from evaluation.price_corrections import REJECTIONS

    if bidder.failed_stage not in REJECTIONS:
        return []
    return [{"bidder": bidder.organisation.credit_code, "name": bidder.name, "item": bidder.failed_stage,
             "label": "算术修正", "computed": False, "members": [], "reasons": [REJECTIONS[bidder.failed_stage]]}]


def price_corrections(evaluation: Evaluation) -> list[dict]:
    """Each arithmetic correction: the bidder, the price corrected, the corrected price, why, and the answer."""
    rows = db.session.scalars(sa.select(PriceCorrection).where(PriceCorrection.evaluation_id == evaluation.id)
                              .order_by(PriceCorrection.id)).all()
    return [{"bidder": c.bidder.organisation.credit_code, "name": c.bidder.name,
             "read_out_price": _money(c.read_out_price), "corrected_price": _money(c.corrected_price),
             "reason": c.reason, "clarification": c.clarification.number, "state": c.state.value,
             "answer": c.state_label, "answer_text": c.clarification.answer, "proposed_at": _dt(c.proposed_at),
             "decided_at": _dt(c.decided_at)} for c in rows]


def criteria(method: Method) -> dict:
    price = method.price
    benchmark = price.benchmark
    return {
        "stages": [{"id": s.id, "name": s.name_zh, "items": [{"id": i.id, "label": i.label_zh,
                                                              "decided": "计算" if i.computed else "表决"}
                                                             for i in s.items]} for s in method.stages],
        "categories": [{"id": c.id, "label": c.label_zh, "weight": format(c.weight, "f")} for c in method.categories],
        "items": [{"id": i.id, "category": i.category, "label": i.label_zh, "kind": i.kind.value,
                   "min": format(i.minimum, "f"), "max": format(i.maximum, "f"),
                   "step": format(i.step, "f") if i.step else None} for i in method.items],
        "price": {"formula": price.formula, "source": method.formula.source,
                  "deduction_rate": format(price.deduction_rate, "f") if price.deduction_rate is not None else None,
                  "k": None if benchmark is None or benchmark.k is None else format(benchmark.k, "f"),
                  "k_range": [format(x, "f") for x in price.k_range] if price.k_range else None,
                  "a": format(benchmark.a, "f") if benchmark else None, "b": format(benchmark.b, "f") if benchmark else None,
                  "smax": format(benchmark.smax, "f") if benchmark else None,
                  "smin": format(benchmark.smin, "f") if benchmark else None,
                  "trim": benchmark.trim.value if benchmark else None},
        "rounding": method.rounding.describe(), "aggregation": method.aggregation.rule.value,
        "tie_breaks": list(method.tie_breaks), "candidates": method.candidates,
    }


def expert_tables(evaluation: Evaluation, method: Method) -> list[dict]:
    """Each active member's sheet: typed scores and, as the sheet shows them, the computed items."""
    passing = [b for b in evaluation.bidders if b.failed_stage is None]
    if not method.items or not passing:
        return []
    computed = computed_scores(evaluation, method)
    scores = score_array(evaluation, method)
    columns = ~method.subjective_mask
    scores[:, :, columns] = computed.item_scores[np.newaxis, :, columns]
    comments = {(e.member_id, e.bidder_id, e.item_id): e.comment for e in db.session.scalars(
        sa.select(ScoreEntry).where(ScoreEntry.evaluation_id == evaluation.id)) if e.comment}
    tables = []
    for row, member in enumerate(evaluation.active_members):
        lines = []
        for bidder in passing:
            values = scores[row, bidder.position]
            lines.append({"bidder": bidder.organisation.credit_code, "name": bidder.name,
                          "scores": [_text(method, v) for v in values], "total": _text(method, float(np.nansum(values))),
                          "comments": {item.id: comments[(member.id, bidder.id, item.id)] for item in method.items
                                       if (member.id, bidder.id, item.id) in comments}})
        tables.append({"member": member.id, "position": member.position + 1, "name": member_name(member),
                       "items": [i.id for i in method.items],
                       "computed": [i.kind is not ItemKind.SUBJECTIVE for i in method.items], "rows": lines})
    return tables


def price_table(evaluation: Evaluation, method: Method) -> dict:
    passing = [b for b in evaluation.bidders if b.failed_stage is None]
    if not passing:
        return {"formula": method.price.formula, "rows": []}
    table = computed_scores(evaluation, method).price_table
    by_position = {b.position: b for b in evaluation.bidders}
    benchmark = table.benchmark
    return {"formula": table.formula, "base": _money(table.base),
            "average": _money(benchmark.average) if benchmark else None,
            "k": format(benchmark.k, "f") if benchmark else None,
            "benchmark": _money(benchmark.benchmark) if benchmark else None,
            "rows": [{"bidder": by_position[r.bidder].organisation.credit_code, "name": by_position[r.bidder].name,
                      "bid_price": _money(r.bid_price), "reviewed_price": _money(r.reviewed_price),
                      "evaluated_price": format(r.evaluated_price, "f"),
                      "deduction_rate": format(r.deduction_rate, "f") if r.deduction_rate is not None else None,
                      "adjustments": [[name, format(amount, "f")] for name, amount in r.adjustments],
                      "in_average": r.in_average,
                      "deviation_percent": format(r.deviation_percent.quantize(Decimal("0.0001")), "f")
                      if r.deviation_percent is not None else None,
                      "score": format(r.score, "f") if r.score is not None else None} for r in table.rows]}


def clarification_minutes(evaluation: Evaluation) -> list[dict]:
    rows = db.session.scalars(sa.select(EvaluationClarification).where(
        EvaluationClarification.evaluation_id == evaluation.id).order_by(EvaluationClarification.number)).all()
    return [{"number": c.number, "bidder": c.bidder.name, "question": c.question, "asked_at": _dt(c.asked_at),
             "deadline": _dt(c.deadline), "answer": c.answer, "answered_at": _dt(c.answered_at),
             "certificate": c.certificate_fingerprint} for c in rows]


def outlier_log(evaluation: Evaluation) -> list[dict]:
    members = {m.id: m for m in evaluation.members}
    bidders = {b.id: b for b in evaluation.bidders}
    rows = db.session.scalars(sa.select(ScoreFlag).where(ScoreFlag.evaluation_id == evaluation.id)
                              .order_by(ScoreFlag.id)).all()
    return [{"member": members[f.member_id].position + 1, "name": member_name(members[f.member_id]),
             "bidder": bidders[f.bidder_id].name, "item": f.item_id, "reason": f.reason_label,
             "score": _plain(f.score), "reference": _plain(f.reference), "state": f.state_label,
             "note": f.note, "revised_to": _plain(f.revised_to), "raised_at": _dt(f.raised_at),
             "resolved_at": _dt(f.resolved_at)} for f in rows]


def _plain(value: float | None) -> str | None:
    if value is None:
        return None
    return format(Decimal(repr(float(value))).quantize(Decimal("0.0001")).normalize(), "f")
