"""What each participant of the evaluation room sees, and the live notice that something changed.

- Committee members see the names of their colleagues, the bidders, the stage, who finished what, their own
  votes, scores and flags; the chair also sees every member's flags (rules.md §3) and has the chair's controls.
- Supervisors see everything, scores and flags included.
- The agent and the tenderee (the parties) see seats, counts and progress, never a member's name or score,
  until the report is published (the list stays confidential, rules.md §2).
Every change is pushed over Socket.IO as a bare notice (``evaluation_changed``); each page then asks for the
state it may see, so no message carries more than its reader may know.
"""
from __future__ import annotations

import json

import numpy as np
import sqlalchemy as sa

from core.accounts import Role, User
from core.clock import now
from core.db import db
from core.extensions import socketio
from evaluation import committee as committee_ops
from evaluation.evaluation_data import computed_scores, method_of
from evaluation.evaluation_models import (
    ChairVote,
    ChatMessage,
    CommitteeMember,
    Evaluation,
    EvaluationClarification,
    EvaluationState,
    MemberStatus,
    ReportSignature,
    ScoreEntry,
    ScoreFlag,
    StageSubmission,
    StageVote,
)
from evaluation.review_operations import current_stage


def room(evaluation_id: int) -> str:
    return f"evaluation:{evaluation_id}"


def committee_room(evaluation_id: int) -> str:
    return f"evaluation:{evaluation_id}:committee"


def broadcast(evaluation: Evaluation) -> None:
    socketio.emit("evaluation_changed", {"evaluation": evaluation.id, "state": evaluation.state.value,
                                         "stage_index": evaluation.stage_index}, to=room(evaluation.id))


def chat_json(message: ChatMessage, names: bool) -> dict:
    member = _member_of_user(message.evaluation_id, message.user_id)
    who = message.user.display_name if names or member is None else f"评委{member.position + 1}"
    if member is None and message.user.is_(Role.SUPERVISOR):
        who = f"监督人员 {message.user.display_name}"
    return {"id": message.id, "who": who, "text": message.text, "at": message.at.isoformat()}


def _member_of_user(evaluation_id: int, user_id: int) -> CommitteeMember | None:
    return db.session.scalar(sa.select(CommitteeMember).where(CommitteeMember.evaluation_id == evaluation_id,
                                                              CommitteeMember.user_id == user_id)
                             .order_by(CommitteeMember.id.desc()).limit(1))


def _flag_json(flag: ScoreFlag, members: dict, bidders: dict, names: bool) -> dict:
    member = members[flag.member_id]
    return {"id": flag.id, "member": member.id, "who": _label(member, names), "bidder": bidders[flag.bidder_id].name,
            "bidder_id": flag.bidder_id, "item": flag.item_id, "reason": flag.reason, "reason_label": flag.reason_label,
            "score": flag.score, "reference": flag.reference, "threshold": flag.threshold, "state": flag.state.value,
            "state_label": flag.state_label, "note": flag.note, "revised_to": flag.revised_to}


def _label(member: CommitteeMember, names: bool) -> str:
    from evaluation.report_data import member_name

    return member_name(member) if names else f"{member.kind_label}{member.position + 1}"


def state_for(evaluation: Evaluation, user: User) -> dict:
    names = evaluation.sees_names(user)
    me = evaluation.member_for(user)
    method = method_of(evaluation)
    stage = current_stage(evaluation)
    submitted = {(s.member_id, s.stage_id) for s in db.session.scalars(
        sa.select(StageSubmission).where(StageSubmission.evaluation_id == evaluation.id))}
    answered = {r.member_id: r.decision.value for r in db.session.scalars(
        sa.select(ReportSignature).where(ReportSignature.evaluation_id == evaluation.id))}
    votes = db.session.scalars(sa.select(ChairVote).where(ChairVote.evaluation_id == evaluation.id,
                                                          ChairVote.round == evaluation.election_round)).all()
    state = {
        "id": evaluation.id, "state": evaluation.state.value, "state_label": evaluation.state_label,
        "server_time": now().isoformat(),
        "section": {"id": evaluation.section.id, "code": evaluation.section.code, "name": evaluation.section.name},
        "method": {"id": method.id, "name": method.name_zh},
        "stages": [{"id": s.id, "name": s.name_zh, "decided": i < evaluation.stage_index
                    or evaluation.state not in (EvaluationState.SEATING, EvaluationState.ELECTING,
                                                EvaluationState.REVIEW)} for i, s in enumerate(method.stages)],
        "stage": None if stage is None else {"index": evaluation.stage_index, "id": stage.id, "name": stage.name_zh,
                                             "items": [{"id": i.id, "label": i.label_zh, "computed": i.computed}
                                                       for i in stage.items]},
        "members": [{"id": m.id, "position": m.position + 1, "name": _label(m, names), "kind": m.kind.value,
                     "venue": m.venue_name, "seat": m.seat, "status": m.status.value, "status_label": m.status_label,
                     "chair": m.is_chair, "signed_in_at": m.signed_in_at.isoformat() if m.signed_in_at else None,
                     "finished": sorted(sid for mid, sid in submitted if mid == m.id),
                     "scores_submitted": m.scores_submitted_at is not None, "report": answered.get(m.id)}
                    for m in evaluation.members],
        "election": {"round": evaluation.election_round, "votes": len(votes)},
        "bidders": [{"id": b.id, "name": b.name, "credit_code": b.organisation.credit_code,
                     "failed_stage": b.failed_stage} for b in evaluation.bidders],
        "tie_commitment": evaluation.tie_commitment,
        "report": {"digest": evaluation.report_digest, "generated": evaluation.report_key is not None,
                   "sha256": evaluation.report_sha256},
    }
    committee_view = names and (me is not None or user.is_(Role.SUPERVISOR))
    if evaluation.state in (EvaluationState.SIGNING, EvaluationState.SIGNED, EvaluationState.PUBLISHED) and (
            committee_view or evaluation.state is not EvaluationState.SIGNING):
        state["result"] = json.loads(evaluation.result or "{}")
    if committee_view:
        state["items"] = [{"id": i.id, "label": i.label_zh, "kind": i.kind.value, "category": i.category,
                           "min": float(i.minimum), "max": float(i.maximum),
                           "step": float(i.step) if i.step else None, "guidance": i.guidance_zh}
                          for i in method.items]
        state["chat"] = [chat_json(m, True) for m in db.session.scalars(
            sa.select(ChatMessage).where(ChatMessage.evaluation_id == evaluation.id)
            .order_by(ChatMessage.id.desc()).limit(100))][::-1]
        state["clarifications"] = [_clarification_json(c) for c in db.session.scalars(
            sa.select(EvaluationClarification).where(EvaluationClarification.evaluation_id == evaluation.id)
            .order_by(EvaluationClarification.number))]
        if evaluation.state is EvaluationState.SCORING:
            state["computed"] = _computed_json(evaluation, method)
    if committee_view and evaluation.oversees(user):
        state["flags"] = _flags(evaluation, None, names)
    if me is not None:
        state["me"] = _me(evaluation, me, stage, names)
    return state


def _computed_json(evaluation: Evaluation, method) -> dict:
    computed = computed_scores(evaluation, method)
    columns = np.flatnonzero(~method.subjective_mask)
    return {str(b.id): {method.items[i].id: float(computed.item_scores[b.position, i]) for i in columns}
            for b in evaluation.bidders if b.failed_stage is None}


def _clarification_json(c: EvaluationClarification) -> dict:
    return {"id": c.id, "number": c.number, "bidder": c.bidder.name, "question": c.question,
            "deadline": c.deadline.isoformat(), "answer": c.answer,
            "answered_at": c.answered_at.isoformat() if c.answered_at else None}


def _flags(evaluation: Evaluation, member: CommitteeMember | None, names: bool) -> list[dict]:
    members = {m.id: m for m in evaluation.members}
    bidders = {b.id: b for b in evaluation.bidders}
    query = sa.select(ScoreFlag).where(ScoreFlag.evaluation_id == evaluation.id)
    if member is not None:
        query = query.where(ScoreFlag.member_id == member.id)
    return [_flag_json(f, members, bidders, names) for f in db.session.scalars(query.order_by(ScoreFlag.id))]


def _me(evaluation: Evaluation, me: CommitteeMember, stage, names: bool) -> dict:
    mine = {"member": me.id, "status": me.status.value, "chair": me.is_chair, "sign_in_method": me.sign_in_method,
            "seat": me.seat_label, "recused": me.status is MemberStatus.RECUSED}
    if me.status is MemberStatus.SEATED:
        mine["declaration"] = committee_ops.declaration_payload(evaluation, me, [], "")
    if evaluation.state is EvaluationState.ELECTING:
        mine["voted"] = db.session.scalar(sa.select(ChairVote.id).where(
            ChairVote.evaluation_id == evaluation.id, ChairVote.round == evaluation.election_round,
            ChairVote.voter_id == me.id)) is not None
    if stage is not None:
        mine["votes"] = [{"bidder_id": v.bidder_id, "item_id": v.item_id, "passed": v.passed, "reason": v.reason}
                         for v in db.session.scalars(sa.select(StageVote).where(
                             StageVote.member_id == me.id, StageVote.stage_id == stage.id))]
        mine["stage_submitted"] = db.session.scalar(sa.select(StageSubmission.id).where(
            StageSubmission.member_id == me.id, StageSubmission.stage_id == stage.id)) is not None
    if evaluation.state in (EvaluationState.SCORING, EvaluationState.SIGNING, EvaluationState.SIGNED):
        mine["scores"] = [{"bidder_id": e.bidder_id, "item_id": e.item_id, "value": float(e.value),
                           "comment": e.comment} for e in db.session.scalars(
                               sa.select(ScoreEntry).where(ScoreEntry.member_id == me.id))]
        mine["flags"] = _flags(evaluation, me, names)
        mine["scores_submitted"] = me.scores_submitted_at is not None
    if evaluation.state is EvaluationState.SIGNING:
        from evaluation.ranking_operations import signature_payload

        mine["signature_payload"] = signature_payload(evaluation, me.id)
        mine["report_answered"] = db.session.scalar(sa.select(ReportSignature.decision).where(
            ReportSignature.member_id == me.id)) is not None
    return mine
