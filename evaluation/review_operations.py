"""The pass/fail stages (初步评审: 资格、符合性...) and the facts the method's rules read.

Each stage is decided by the scoring core (``decide_stage``): items with a rule or a built-in check from the
bid data, the others by the members' votes, a bidder failing an item when more than half of the committee
votes fail, every fail vote with its written reason. A member finishes a stage (its votes are then locked);
once everyone has, the chair decides it. A bidder that fails leaves the evaluation: it enters neither the next
stage nor the scoring, and the reasons go into the report.
"""
from __future__ import annotations

import hashlib

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationError
from crypto.canonical import canonical_json
from evaluation import media_roster
from evaluation.committee import CommitteeRefused, active_member, require_chair
from evaluation.evaluation_data import (
    all_bidder_facts,
    computed_scores,
    facts_missing,
    method_of,
    parse_fact,
    required_facts,
    section_facts,
)
from evaluation.evaluation_models import (
    EVALUATION_STATES,
    EvaluatedBid,
    Evaluation,
    EvaluationState,
    StageOutcome,
    StageSubmission,
    StageVote,
)
from evaluation.scoring import (
    IncompleteVotes,
    MissingFact,
    PassFailVote,
    RuleError,
    Stage,
    VoteRejected,
    decide_stage,
    validate_vote,
)

#: Until the scoring starts the agent may still record facts; afterwards the computed scores stand.
FACT_STATES = (EvaluationState.SEATING, EvaluationState.ELECTING, EvaluationState.REVIEW)


def record_facts(evaluation: Evaluation, agent: User, bidder: EvaluatedBid, values: dict,
                 small_enterprise: bool) -> EvaluatedBid:
    """The agent records what the method's rules read about a bidder (credit checks, certificates, counts)."""
    if not evaluation.is_hosted_by(agent):
        raise Forbidden("只有本项目的招标代理可以录入投标人数据 (only the agent records bidders' data)")
    if evaluation.state not in FACT_STATES:
        raise CommitteeRefused("详细评审开始后不能再修改投标人数据 (the data is fixed once the scoring starts)",
                               code="facts_fixed")
    kinds = required_facts(method_of(evaluation))
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ValidationError(f"评标办法不读取这些数据：{', '.join(unknown)} (the method reads no such fact)",
                              field=unknown[0])
    facts = bidder.facts_dict
    for name, raw in values.items():
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            facts.pop(name, None)
        else:
            facts[name] = parse_fact(name, kinds[name], raw)
    before = {"facts": bidder.facts_dict, "small_enterprise": bidder.small_enterprise}
    bidder.facts, bidder.small_enterprise = canonical_json(facts).decode(), bool(small_enterprise)
    audit.record("evaluation.facts_recorded", evaluation, actor=agent, bidder=bidder.organisation.credit_code,
                 before=before, after={"facts": facts, "small_enterprise": bidder.small_enterprise})
    return bidder


def current_stage(evaluation: Evaluation) -> Stage | None:
    method = method_of(evaluation)
    if evaluation.state is not EvaluationState.REVIEW or evaluation.stage_index >= len(method.stages):
        return None
    return method.stages[evaluation.stage_index]


def entered(evaluation: Evaluation) -> list[EvaluatedBid]:
    return [b for b in evaluation.bidders if b.failed_stage is None]


def voted_items(stage: Stage) -> list:
    return [item for item in stage.items if not item.computed]


def _require_review(evaluation: Evaluation) -> Stage:
    stage = current_stage(evaluation)
    if stage is None:
        raise CommitteeRefused(f"评标当前处于“{evaluation.state_label}”阶段，不在初步评审中 (not in a review stage)",
                               code="wrong_stage")
    return stage


def submitted(evaluation: Evaluation, stage_id: str) -> set[int]:
    return set(db.session.scalars(sa.select(StageSubmission.member_id).where(
        StageSubmission.evaluation_id == evaluation.id, StageSubmission.stage_id == stage_id)))


def cast_votes(evaluation: Evaluation, user: User, votes: list[dict]) -> int:
    """Record (or change, until the member finishes the stage) pass/fail votes; a fail needs its reason."""
    stage = _require_review(evaluation)
    member = active_member(evaluation, user)
    if member.id in submitted(evaluation, stage.id):
        raise CommitteeRefused("您已提交本阶段评审结论，不能再修改 (you finished this stage: your votes are locked)",
                               code="stage_submitted")
    bidders = {b.id: b for b in entered(evaluation)}
    n_members = len(evaluation.active_members)
    existing = {(v.bidder_id, v.item_id): v for v in db.session.scalars(sa.select(StageVote).where(
        StageVote.member_id == member.id, StageVote.stage_id == stage.id))}
    recorded = []
    for index, raw in enumerate(votes):
        try:
            bidder = bidders[int(raw["bidder_id"])]
            vote = PassFailVote(expert=0, bidder=bidder.position, item_id=str(raw["item_id"]),
                                passed=bool(raw["passed"]), reason=str(raw.get("reason") or "").strip())
        except (KeyError, TypeError, ValueError):
            raise ValidationError(f"第{index + 1}项表决无效：须指明本阶段的投标人、评审项和结论 (vote {index + 1}: "
                                  "name a bidder of this stage, an item and pass or fail)", field="votes") from None
        try:
            validate_vote(stage, vote, n_members, len(evaluation.bidders))
        except VoteRejected as exc:
            message = "不通过须书面说明理由" if "reason" in str(exc) else "该项不由专家表决"
            raise ValidationError(f"{message}（{bidder.name}，{vote.item_id}）({exc})", field="reason"
                                  if "reason" in str(exc) else "item_id") from None
        row = existing.get((bidder.id, vote.item_id))
        if row is None:
            row = StageVote(evaluation_id=evaluation.id, member_id=member.id, bidder_id=bidder.id, stage_id=stage.id,
                            item_id=vote.item_id, passed=vote.passed, reason=vote.reason, at=now())
            db.session.add(row)
            existing[(bidder.id, vote.item_id)] = row
        else:
            row.passed, row.reason, row.at = vote.passed, vote.reason, now()
        recorded.append({"bidder": bidder.organisation.credit_code, "item": vote.item_id, "passed": vote.passed,
                         "reason": vote.reason})
    audit.record("evaluation.votes_cast", evaluation, actor=user, member_id=member.id, stage=stage.id, votes=recorded)
    return len(recorded)


def submit_stage(evaluation: Evaluation, user: User) -> StageSubmission:
    """The member finished this stage: every voted item for every bidder in it has the member's vote."""
    from evaluation.ranking_operations import contribute_tie_break

    stage = _require_review(evaluation)
    member = active_member(evaluation, user)
    if member.id in submitted(evaluation, stage.id):
        raise CommitteeRefused("您已提交本阶段评审结论 (already submitted)", code="stage_submitted")
    votes = db.session.scalars(sa.select(StageVote).where(StageVote.member_id == member.id,
                                                          StageVote.stage_id == stage.id)).all()
    have = {(v.bidder_id, v.item_id) for v in votes}
    missing = [(b.name, i.label_zh) for b in entered(evaluation) for i in voted_items(stage)
               if (b.id, i.id) not in have]
    if missing:
        shown = "；".join(f"{name}：{label}" for name, label in missing[:5])
        raise ValidationError(f"还有{len(missing)}项未表决：{shown} ({len(missing)} votes missing)", field="votes")
    entry = StageSubmission(evaluation_id=evaluation.id, member_id=member.id, stage_id=stage.id, at=now())
    db.session.add(entry)
    digest = hashlib.sha256(canonical_json(sorted([[v.bidder_id, v.item_id, v.passed, v.reason]
                                                   for v in votes]))).hexdigest()
    audit.record("evaluation.stage_submitted", evaluation, actor=user, member_id=member.id, stage=stage.id,
                 votes_sha256=digest)
    contribute_tie_break(evaluation, f"member:{member.position + 1}:{stage.id}", digest)
    return entry


def decide_current_stage(evaluation: Evaluation, user: User) -> StageOutcome:
    """The chair closes the stage once every member finished it; the scoring core decides by majority."""
    from evaluation.price_corrections import require_settled

    stage = _require_review(evaluation)
    require_chair(evaluation, user)
    require_settled(evaluation, user)  # a price correction is answered (or expired) before any decision
    members = evaluation.active_members
    if voted_items(stage) and entered(evaluation):
        waiting = [m for m in members if m.id not in submitted(evaluation, stage.id)]
        if waiting:
            raise CommitteeRefused(f"还有{len(waiting)}名成员未提交本阶段评审结论 (members still reviewing)",
                                   code="members_reviewing")
    rows = {m.id: i for i, m in enumerate(members)}
    votes = [PassFailVote(expert=rows[v.member_id], bidder=_position(evaluation, v.bidder_id), item_id=v.item_id,
                          passed=v.passed, reason=v.reason)
             for v in db.session.scalars(sa.select(StageVote).where(StageVote.evaluation_id == evaluation.id,
                                                                    StageVote.stage_id == stage.id))
             if v.member_id in rows]
    bidders = all_bidder_facts(evaluation)
    try:
        result = decide_stage(stage, bidders, section_facts(evaluation), votes, len(members),
                              [b.position for b in entered(evaluation)])
    except MissingFact as exc:
        raise facts_missing(evaluation, exc) from None
    except (IncompleteVotes, VoteRejected, RuleError) as exc:
        raise RuleViolation(f"本阶段无法判定 (the stage cannot be decided): {exc}", code="stage_undecidable") from None
    by_position = {b.position: b for b in evaluation.bidders}
    outcome = StageOutcome(evaluation_id=evaluation.id, stage_id=stage.id, position=evaluation.stage_index,
                           decided_by_id=user.id, decided_at=now(),
                           outcome=canonical_json(_outcome_json(stage, result, by_position, members)).decode())
    db.session.add(outcome)
    for position in result.failed:
        by_position[position].failed_stage = stage.id
    audit.record("evaluation.stage_decided", evaluation, actor=user, stage=stage.id,
                 passed=[by_position[p].organisation.credit_code for p in result.passed],
                 failed=[by_position[p].organisation.credit_code for p in result.failed])
    _advance(evaluation, user)
    return outcome


def _position(evaluation: Evaluation, bidder_id: int) -> int:
    return next(b.position for b in evaluation.bidders if b.id == bidder_id)


def _outcome_json(stage: Stage, result, by_position: dict, members) -> dict:
    def reason(r) -> dict:
        return {"bidder": by_position[r.bidder].organisation.credit_code, "name": by_position[r.bidder].name,
                "item": r.item_id, "label": r.label_zh, "computed": r.computed,
                "members": [members[e].position + 1 for e in r.experts], "reasons": list(r.reasons)}

    return {"stage": stage.id, "name": stage.name_zh,
            "entered": [by_position[p].organisation.credit_code for p in result.entered],
            "passed": [by_position[p].organisation.credit_code for p in result.passed],
            "failed": [reason(r) for reasons in result.failed.values() for r in reasons],
            "dissents": [reason(r) for r in result.dissents]}


def _advance(evaluation: Evaluation, user: User) -> None:
    """Next stage; after the last, the scoring (or, for a price-ranked method, straight to the ranking)."""
    from evaluation.ranking_operations import close_evaluation

    method = method_of(evaluation)
    evaluation.stage_index += 1
    if evaluation.stage_index < len(method.stages) and entered(evaluation):
        media_roster.stage(evaluation, method.stages[evaluation.stage_index].name_zh)
        return
    if method.items and entered(evaluation):
        computed_scores(evaluation, method)  # a missing fact refuses the move, naming what to record
        EVALUATION_STATES.check(evaluation.state, EvaluationState.SCORING)
        evaluation.state, evaluation.scoring_started_at = EvaluationState.SCORING, now()
        audit.record("evaluation.scoring_started", evaluation, actor=user, bidders=len(entered(evaluation)))
        media_roster.stage(evaluation, "详细评审")
        return
    close_evaluation(evaluation, user)
