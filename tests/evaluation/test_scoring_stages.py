"""Pass/fail stages: majority decides, fails carry reasons, failed bidders leave the scoring."""

from decimal import Decimal

import pytest

from evaluation.scoring import (IncompleteVotes, PassFailVote, SectionFacts, VoteRejected,
                                load_methods, review)
from evaluation.scoring.model import BidderFacts

D = Decimal
N_EXPERTS = 5


@pytest.fixture(scope="module")
def method():
    return load_methods()["gp_comprehensive_lowest_price_base"]


def bidders():
    return [BidderFacts(bidder_id=f"B{i}", price=D(price), facts={"not_dishonest_entity": honest})
            for i, (price, honest) in enumerate([("900000", True), ("950000", True),
                                                 ("1200000", True), ("980000", False)])]


def all_pass(method, n_bidders, skip=()):
    votes = []
    for stage in method.stages:
        for item in stage.items:
            if item.computed:
                continue
            for b in range(n_bidders):
                for e in range(N_EXPERTS):
                    if (e, b, item.id) not in skip:
                        votes.append(PassFailVote(e, b, item.id, passed=True))
    return votes


def test_majority_fail_rejects_with_the_experts_reasons(method):
    votes = [v for v in all_pass(method, 4) if not (v.bidder == 1 and v.item_id == "c_validity"
                                                    and v.expert < 3)]
    votes += [PassFailVote(e, 1, "c_validity", passed=False, reason=f"有效期仅60天 ({e})")
              for e in range(3)]
    result = review(method, bidders(), SectionFacts(ceiling_price=D("1000000")), votes, N_EXPERTS)
    assert 1 not in result.passing
    (reason,) = result.failed[1]
    assert reason.item_id == "c_validity" and reason.experts == (0, 1, 2)
    assert reason.reasons[0].startswith("有效期仅60天")


def test_a_minority_fail_is_kept_as_a_dissent_and_the_bidder_passes(method):
    votes = [v for v in all_pass(method, 4) if not (v.bidder == 0 and v.item_id == "c_validity"
                                                    and v.expert < 2)]
    votes += [PassFailVote(e, 0, "c_validity", passed=False, reason="存疑") for e in range(2)]
    result = review(method, bidders(), SectionFacts(ceiling_price=D("1000000")), votes, N_EXPERTS)
    assert 0 in result.passing
    compliance = result.stages[1]
    assert [(d.bidder, d.item_id, d.experts) for d in compliance.dissents] == \
        [(0, "c_validity", (0, 1))]


def test_computed_items_reject_without_votes(method):
    result = review(method, bidders(), SectionFacts(ceiling_price=D("1000000")),
                    all_pass(method, 4), N_EXPERTS)
    assert result.passing == (0, 1)
    assert [r.item_id for r in result.failed[3]] == ["q_credit"]      # on the dishonest list
    assert [r.item_id for r in result.failed[2]] == ["c_within_budget"]  # above the ceiling
    assert result.failed[2][0].computed


def test_a_bidder_failing_qualification_never_enters_compliance(method):
    result = review(method, bidders(), SectionFacts(ceiling_price=D("1000000")),
                    all_pass(method, 4), N_EXPERTS)
    assert 3 not in result.stages[1].entered


def test_a_stage_with_missing_votes_cannot_be_decided(method):
    votes = all_pass(method, 4, skip={(4, 0, "q_civil_capacity")})
    with pytest.raises(IncompleteVotes) as caught:
        review(method, bidders(), SectionFacts(), votes, N_EXPERTS)
    assert caught.value.missing == [(4, 0, "q_civil_capacity")]


@pytest.mark.parametrize(("vote", "message"), [
    (PassFailVote(0, 0, "c_validity", passed=False, reason=" "), "written reason"),
    (PassFailVote(0, 0, "c_within_budget", passed=True), "decided from the bid data"),
    (PassFailVote(9, 0, "c_validity", passed=True), "not on the committee"),
])
def test_bad_votes_are_refused(method, vote, message):
    votes = all_pass(method, 4) + [vote]
    with pytest.raises(VoteRejected, match=message):
        review(method, bidders(), SectionFacts(), votes, N_EXPERTS)


def test_a_duplicate_vote_is_refused(method):
    votes = all_pass(method, 4)
    with pytest.raises(VoteRejected, match="twice"):
        review(method, bidders(), SectionFacts(), votes + votes[:1], N_EXPERTS)
