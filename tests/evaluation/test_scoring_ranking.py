"""Ranking: primary key per method, tie-breaks in order, a recorded draw, 1–3 candidates."""

from decimal import Decimal

import numpy as np
import pytest

from evaluation.scoring import (Aggregate, BidderFacts, PriceRow, PriceTable, SectionFacts,
                                compute_scores, evaluate, load_methods, parse_method, rank)
from evaluation.scoring.computed import ComputedScores

D = Decimal


def method(tie_breaks=("lower_bid_price", "higher_technical", "draw"), candidates=3):
    return parse_method({
        "id": "rank_demo", "name_zh": "演示", "name_en": "Demo", "sector": "goods",
        "source": "test", "certainty": "inferred", "candidates": candidates,
        "tie_breaks": list(tie_breaks), "price": {"formula": "lowest_price_base"},
        "categories": [
            {"id": "technical", "label_zh": "技术", "label_en": "Technical", "weight": 70},
            {"id": "price", "label_zh": "价格", "label_en": "Price", "weight": 30}],
        "items": [{"id": "t", "category": "technical", "type": "subjective", "label_zh": "方案",
                   "label_en": "Plan", "max": 70, "step": 1}]})


def setting(rows):
    """rows: (total, technical, bid price) per bidder → aggregate, computed, bidders."""
    n = len(rows)
    totals = np.array([r[0] for r in rows], dtype=float)
    technical = np.array([r[1] for r in rows], dtype=float)
    result = Aggregate(bidders=tuple(range(n)), trimmed=False, item_means=np.zeros((n, 2)),
                       expert_subtotals=np.zeros((1, n, 2)),
                       category_scores=np.column_stack([technical, totals - technical]),
                       totals=totals)
    bidders = [BidderFacts(f"B{i}", D(r[2])) for i, r in enumerate(rows)]
    table = PriceTable("lowest_price_base", tuple(
        PriceRow(i, D(r[2]), D(r[2]), D(r[2]), None, ()) for i, r in enumerate(rows)))
    computed = ComputedScores(tuple(range(n)), np.zeros((n, 2)), table)
    return result, computed, bidders


def order(ranking):
    return [(r.bidder_id, r.rank, r.decided_by) for r in ranking.order]


def test_higher_total_ranks_first():
    ranking = rank(method(), *setting([(80, 50, 100), (90, 60, 110), (70, 45, 90)]))
    assert order(ranking) == [("B1", 1, None), ("B0", 2, "total"), ("B2", 3, "total")]
    assert ranking.candidates == (1, 0, 2)


def test_equal_totals_go_to_the_lower_bid_price_then_the_higher_technical_score():
    ranking = rank(method(), *setting([(85, 50, 100), (85, 55, 100), (85, 60, 95)]))
    assert order(ranking) == [("B2", 1, None), ("B1", 2, "lower_bid_price"),
                              ("B0", 3, "higher_technical")]


def test_a_tie_on_every_key_is_settled_by_the_callers_recorded_draw():
    calls = []

    def draw(ids):
        calls.append(tuple(ids))
        return list(reversed(ids))

    ranking = rank(method(), *setting([(85, 50, 100), (85, 50, 100), (60, 30, 90)]), draw=draw)
    assert calls == [("B0", "B1")]
    assert order(ranking) == [("B1", 1, None), ("B0", 2, "draw"), ("B2", 3, "total")]
    assert ranking.draws == ((("B0", "B1"), ("B1", "B0")),)


def test_without_a_draw_hook_a_tie_across_the_last_candidate_place_is_unresolved():
    ranking = rank(method(candidates=2),
                   *setting([(90, 50, 100), (85, 50, 100), (85, 50, 100), (60, 30, 90)]))
    assert [(r.bidder_id, r.rank) for r in ranking.order] == \
        [("B0", 1), ("B1", 2), ("B2", 2), ("B3", 4)]
    assert ranking.unresolved == (1, 2)
    assert ranking.candidates == (0,)


def test_ties_below_the_candidate_places_stay_shared_and_are_not_drawn():
    def draw(ids):
        raise AssertionError("no draw is needed")

    ranking = rank(method(candidates=1),
                   *setting([(90, 50, 100), (85, 50, 100), (85, 50, 100)]), draw=draw)
    assert [r.rank for r in ranking.order] == [1, 2, 2]
    assert ranking.candidates == (0,) and ranking.unresolved == ()


def test_methods_without_a_draw_keep_ties_shared():
    ranking = rank(method(tie_breaks=()), *setting([(85, 50, 100), (85, 50, 100)]),
                   draw=lambda ids: ids)
    assert [r.rank for r in ranking.order] == [1, 1]
    assert ranking.draws == ()


def test_a_draw_that_is_not_an_ordering_of_the_tied_bidders_is_refused():
    with pytest.raises(ValueError, match="not an ordering"):
        rank(method(), *setting([(85, 50, 100), (85, 50, 100)]), draw=lambda ids: ["B0", "B0"])


def test_lowest_evaluated_price_ranks_by_the_deducted_price():
    gp = load_methods()["gp_lowest_evaluated_price"]
    bidders = [BidderFacts("large", D("1000000")),
               BidderFacts("small", D("1080000"), small_enterprise=True)]  # 972,000 evaluated
    computed = compute_scores(gp, bidders, SectionFacts(), [0, 1])
    result = evaluate(gp, gp.empty_scores(5, 2), computed, bidders)
    assert [r.bidder_id for r in result.ranking.order] == ["small", "large"]
    assert result.ranking.order[0].evaluated_price == D("972000.00")
    assert result.ranking.order[0].total is None


def test_reviewed_lowest_bid_price_adds_the_quantified_deviations():
    works = load_methods()["works_reviewed_lowest_bid_price"]
    bidders = [BidderFacts("A", D("1000000"), facts={"uncorrected_minor_deviations": 3}),
               BidderFacts("B", D("1010000"), facts={"uncorrected_minor_deviations": 0})]
    computed = compute_scores(works, bidders, SectionFacts(), [0, 1])
    assert computed.evaluated_price(0) == D("1015000")  # + 3 × 0.5%
    result = evaluate(works, works.empty_scores(5, 2), computed, bidders)
    assert [r.bidder_id for r in result.ranking.order] == ["B", "A"]


def test_cost_performance_ranks_by_score_per_price():
    gp = load_methods()["gp_cost_performance"]
    facts = {"similar_contracts": 5, "unqualified_audit": True}
    bidders = [BidderFacts("dear", D("2000000"), facts=facts),
               BidderFacts("cheap", D("1500000"), facts=facts)]
    computed = compute_scores(gp, bidders, SectionFacts(), [0, 1])
    scores = gp.empty_scores(3, 2)
    subjective = np.flatnonzero(gp.subjective_mask)
    scores[:, 0, subjective] = [40, 20, 15]  # 100 in total with the computed 25
    scores[:, 1, subjective] = [30, 15, 10]  # 80
    ranking = evaluate(gp, scores, computed, bidders).ranking
    # dear: 100 / 200 = 0.5000; cheap: 80 / 150 = 0.5333.
    assert [(r.bidder_id, r.quotient) for r in ranking.order] == \
        [("cheap", D("0.5333")), ("dear", D("0.5000"))]
