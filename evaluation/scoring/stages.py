"""Pass/fail stages: qualification review (资格审查) and compliance review (符合性审查).

Items with a condition or a built-in check are decided by the platform from the bid data. Every
other item is voted on by each committee member; a bidder fails an item when more than half of the
committee votes "fail" (the committee decides by majority, 招标投标法实施条例 and 87号令 [recalled]),
and every fail vote carries a written reason, which goes into the report. A bidder that fails a
stage does not enter the next one, nor the scoring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .model import BidderFacts, Method, SectionFacts, Stage


class VoteRejected(ValueError):
    """A vote that cannot be recorded; the message says why."""


class IncompleteVotes(ValueError):
    """A stage cannot be decided while votes are missing."""

    def __init__(self, stage_id: str, missing: list[tuple[int, int, str]]) -> None:
        shown = ", ".join(f"expert {e} / bidder {b} / {i}" for e, b, i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(f"stage {stage_id}: {len(missing)} votes missing: {shown}{more}")
        self.stage_id = stage_id
        self.missing = missing


@dataclass(frozen=True)
class PassFailVote:
    """One expert's vote on one item for one bidder (indices into committee and bidder lists)."""

    expert: int
    bidder: int
    item_id: str
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class FailReason:
    """Why a bidder failed an item, or, in ``dissents``, the minority that voted fail."""

    stage_id: str
    item_id: str
    bidder: int
    label_zh: str
    label_en: str
    computed: bool
    experts: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageResult:
    stage_id: str
    entered: tuple[int, ...]
    passed: tuple[int, ...]
    failed: Mapping[int, tuple[FailReason, ...]]
    dissents: tuple[FailReason, ...]


@dataclass(frozen=True)
class ReviewResult:
    """All stages in order; ``passing`` bidders go on to detailed scoring."""

    stages: tuple[StageResult, ...]
    passing: tuple[int, ...]
    failed: Mapping[int, tuple[FailReason, ...]]


def validate_vote(stage: Stage, vote: PassFailVote, n_experts: int, n_bidders: int) -> None:
    """Refuse a vote the stage cannot take: unknown item, computed item, fail without a reason."""
    if not 0 <= vote.expert < n_experts:
        raise VoteRejected(f"expert index {vote.expert} is not on the committee")
    if not 0 <= vote.bidder < n_bidders:
        raise VoteRejected(f"bidder index {vote.bidder} is not in this section")
    item = next((i for i in stage.items if i.id == vote.item_id), None)
    if item is None:
        raise VoteRejected(f"stage {stage.id} has no item {vote.item_id!r}")
    if item.computed:
        raise VoteRejected(f"item {item.id} is decided from the bid data, not by vote")
    if not vote.passed and not vote.reason.strip():
        raise VoteRejected(f"a fail vote on {item.id} needs a written reason")


def decide_stage(stage: Stage, bidders: Sequence[BidderFacts], section: SectionFacts,
                 votes: Sequence[PassFailVote], n_experts: int,
                 entered: Sequence[int] | None = None) -> StageResult:
    """Decide one stage for the ``entered`` bidders (default: all). Votes about bidders that did not
    enter (they failed an earlier stage) are ignored; a duplicate vote is refused."""
    entered = tuple(range(len(bidders)) if entered is None else entered)
    entered_set = set(entered)
    ballot: dict[tuple[int, int, str], PassFailVote] = {}
    for vote in votes:
        if vote.item_id not in {i.id for i in stage.items} or vote.bidder not in entered_set:
            continue
        validate_vote(stage, vote, n_experts, len(bidders))
        key = (vote.expert, vote.bidder, vote.item_id)
        if key in ballot:
            raise VoteRejected(f"expert {vote.expert} voted twice on {vote.item_id} for bidder "
                               f"{vote.bidder}")
        ballot[key] = vote
    missing = [(e, b, item.id) for b in entered for item in stage.items if not item.computed
               for e in range(n_experts) if (e, b, item.id) not in ballot]
    if missing:
        raise IncompleteVotes(stage.id, missing)

    failed: dict[int, list[FailReason]] = {}
    dissents: list[FailReason] = []
    for b in entered:
        for item in stage.items:
            if item.computed:
                if not item.decide(bidders[b], section):
                    failed.setdefault(b, []).append(FailReason(
                        stage.id, item.id, b, item.label_zh, item.label_en, computed=True))
                continue
            against = [ballot[(e, b, item.id)] for e in range(n_experts)
                       if not ballot[(e, b, item.id)].passed]
            if not against:
                continue
            reason = FailReason(stage.id, item.id, b, item.label_zh, item.label_en, computed=False,
                                experts=tuple(v.expert for v in against),
                                reasons=tuple(v.reason for v in against))
            if 2 * len(against) > n_experts:
                failed.setdefault(b, []).append(reason)
            else:
                dissents.append(reason)
    return StageResult(stage_id=stage.id, entered=entered,
                       passed=tuple(b for b in entered if b not in failed),
                       failed=MappingProxyType({b: tuple(r) for b, r in failed.items()}),
                       dissents=tuple(dissents))


def review(method: Method, bidders: Sequence[BidderFacts], section: SectionFacts,
           votes: Sequence[PassFailVote], n_experts: int) -> ReviewResult:
    """Run every stage of the method in order; each stage sees only the previous stage's passes."""
    entered: tuple[int, ...] = tuple(range(len(bidders)))
    results = []
    failed: dict[int, tuple[FailReason, ...]] = {}
    for stage in method.stages:
        result = decide_stage(stage, bidders, section, votes, n_experts, entered)
        results.append(result)
        failed.update(result.failed)
        entered = result.passed
    return ReviewResult(stages=tuple(results), passing=entered,
                        failed=MappingProxyType(failed))
