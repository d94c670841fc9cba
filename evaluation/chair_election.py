"""推选主任委员: the seated committee elects its chair by a majority of its members.

A candidate with more than half of the members' votes is elected; a round in which everyone voted without a
majority starts a new round. The election opens the review: the tie-break draw's secret is committed then,
before anything is scored, and the chair becomes the media room's moderator.
"""
from __future__ import annotations

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import ValidationError
from evaluation import media_roster
from evaluation.committee import CommitteeRefused, active_member, require_state
from evaluation.evaluation_data import method_for
from evaluation.evaluation_models import (
    EVALUATION_STATES,
    ChairVote,
    CommitteeMember,
    Evaluation,
    EvaluationState,
)


def vote_for_chair(evaluation: Evaluation, user: User, candidate_id: int) -> ChairVote:
    """推选主任委员: a candidate with more than half of the members' votes is elected; a round in which everyone
    voted without a majority starts a new round."""
    voter = active_member(evaluation, user)
    require_state(evaluation, EvaluationState.ELECTING)
    candidate = next((m for m in evaluation.active_members if m.id == candidate_id), None)
    if candidate is None:
        raise ValidationError("请选择一名本委员会成员 (choose a member of this committee)", field="candidate_id")
    votes = db.session.scalars(sa.select(ChairVote).where(ChairVote.evaluation_id == evaluation.id,
                                                          ChairVote.round == evaluation.election_round)).all()
    if any(v.voter_id == voter.id for v in votes):
        raise CommitteeRefused("本轮您已投票 (you already voted in this round)", code="already_voted")
    vote = ChairVote(evaluation_id=evaluation.id, round=evaluation.election_round, voter_id=voter.id,
                     candidate_id=candidate.id, at=now())
    db.session.add(vote)
    votes = [*votes, vote]
    audit.record("evaluation.chair_vote", evaluation, actor=user, round=vote.round, voter=voter.id,
                 candidate=candidate.id)
    members = len(evaluation.active_members)
    tally = {c: sum(v.candidate_id == c for v in votes) for c in {v.candidate_id for v in votes}}
    winner = next((c for c, n in tally.items() if 2 * n > members), None)
    if winner is not None:
        _elect(evaluation, next(m for m in evaluation.active_members if m.id == winner), tally)
    elif len(votes) == members:
        audit.record("evaluation.chair_election_repeated", evaluation, round=evaluation.election_round, tally=tally)
        evaluation.election_round += 1
    return vote


def _elect(evaluation: Evaluation, chair: CommitteeMember, tally: dict) -> None:
    from evaluation.ranking_operations import commit_tie_break

    chair.is_chair = True
    EVALUATION_STATES.check(evaluation.state, EvaluationState.REVIEW)
    evaluation.state, evaluation.chair_elected_at, evaluation.stage_index = EvaluationState.REVIEW, now(), 0
    audit.record("evaluation.chair_elected", evaluation, chair=chair.id, round=evaluation.election_round,
                 tally={str(k): v for k, v in tally.items()})
    commit_tie_break(evaluation)
    media_roster.make_chair(evaluation, chair)
    method = method_for(evaluation.method_id)
    media_roster.stage(evaluation, method.stages[0].name_zh if method.stages else "详细评审")
