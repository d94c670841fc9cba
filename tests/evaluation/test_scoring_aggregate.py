"""Aggregation across experts: mean, trimmed mean, computed columns, rounding, completeness."""

from decimal import Decimal

import numpy as np
import pytest

from evaluation.scoring import (BidderFacts, IncompleteScores, SectionFacts, aggregate,
                                compute_scores, parse_method)


def demo_method(rule="mean", level="category"):
    return parse_method({
        "id": "aggregate_demo", "name_zh": "演示", "name_en": "Demo", "sector": "goods",
        "source": "test", "certainty": "inferred",
        "aggregation": {"rule": rule, "trim_min_experts": 7, "level": level},
        "price": {"formula": "lowest_price_base"},
        "categories": [
            {"id": "technical", "label_zh": "技术", "label_en": "Technical", "weight": 40},
            {"id": "commercial", "label_zh": "商务", "label_en": "Commercial", "weight": 30},
            {"id": "price", "label_zh": "价格", "label_en": "Price", "weight": 30}],
        "items": [
            {"id": "t1", "category": "technical", "type": "subjective", "label_zh": "方案",
             "label_en": "Plan", "max": 20, "step": "0.5"},
            {"id": "t2", "category": "technical", "type": "subjective", "label_zh": "服务",
             "label_en": "Service", "max": 20, "step": 1},
            {"id": "c1", "category": "commercial", "type": "objective", "label_zh": "业绩",
             "label_en": "Record", "max": 30, "mode": "per_unit",
             "unit_field": "facts.contracts", "points_per_unit": 10}]})


BIDDERS = [BidderFacts("B0", Decimal("1000000"), facts={"contracts": 2}),
           BidderFacts("B1", Decimal("1200000"), facts={"contracts": 1}),
           BidderFacts("B2", Decimal("1100000"), facts={"contracts": 0})]


def typed(method, per_expert):
    """per_expert[e][b] = (t1, t2); computed columns stay NaN as the store keeps them."""
    scores = method.empty_scores(len(per_expert), len(per_expert[0]))
    for e, row in enumerate(per_expert):
        for b, (t1, t2) in enumerate(row):
            scores[e, b, 0], scores[e, b, 1] = t1, t2
    return scores


def test_mean_of_experts_plus_computed_items_and_price():
    method = demo_method()
    computed = compute_scores(method, BIDDERS, SectionFacts(), [0, 1, 2])
    scores = typed(method, [[(15, 16), (12, 10), (10, 10)],
                            [(16, 17), (12.5, 11), (10, 10)],
                            [(15.5, 15), (13, 12), (10, 10)]])
    result = aggregate(method, scores, computed)
    # B0: technical = mean(31, 33, 30.5) = 31.50; commercial 20; price 30 (the base).
    # B1: technical = mean(22, 23.5, 25) = 23.50; commercial 10; price 1.0M/1.2M × 30 = 25.00.
    assert result.category_scores.tolist() == [[31.5, 20.0, 30.0], [23.5, 10.0, 25.0],
                                               [20.0, 0.0, 27.27]]
    assert result.totals.tolist() == [81.5, 58.5, 47.27]
    assert not result.trimmed


def test_category_scores_are_rounded_and_the_total_adds_them_up():
    method = demo_method()
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    scores = typed(method, [[(15, 16)], [(15.5, 16)], [(15.5, 16)]])
    result = aggregate(method, scores, computed)
    assert result.category_scores[0, 0] == 31.33  # 94 / 3 = 31.333…
    assert result.totals[0] == 81.33


def seven_experts(method):
    # Technical subtotals of bidder 0 by expert: 10, 11, 12, 13, 14, 15, 30.
    pairs = [(10, 0), (11, 0), (12, 0), (13, 0), (14, 0), (15, 0), (20, 10)]
    return typed(method, [[pair] for pair in pairs])


def test_trimmed_mean_drops_the_highest_and_lowest_subtotal_from_seven_experts():
    method = demo_method("trimmed_mean")
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    result = aggregate(method, seven_experts(method), computed)
    assert result.trimmed
    assert result.category_scores[0, 0] == 13.0  # mean of 11…15; 10 and 30 dropped


def test_trimming_waits_for_seven_members():
    method = demo_method("trimmed_mean")
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    result = aggregate(method, seven_experts(method)[1:], computed)
    assert not result.trimmed
    assert result.category_scores[0, 0] == pytest.approx(95 / 6, abs=0.005)


def test_item_level_trimming_trims_each_item_separately():
    method = demo_method("trimmed_mean", level="item")
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    scores = typed(method, [[(t1, t2)] for t1, t2 in
                            [(10, 20), (11, 0), (12, 5), (13, 5), (14, 5), (15, 5), (20, 5)]])
    result = aggregate(method, scores, computed)
    # t1: drop 10 and 20 → 13; t2: drop 20 and 0 → 5. (Category-level would drop experts 0 and 6.)
    assert result.category_scores[0, 0] == 18.0


def test_typed_values_in_computed_columns_do_not_count():
    method = demo_method()
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    scores = typed(method, [[(15, 16)], [(15, 16)], [(15, 16)]])
    scores[1, 0, 2] = 0.0  # a tampered objective cell
    assert aggregate(method, scores, computed).category_scores[0, 1] == 20.0


def test_failed_bidders_are_left_out_and_need_no_scores():
    method = demo_method()
    computed = compute_scores(method, BIDDERS, SectionFacts(), [1, 2])
    scores = typed(method, [[(0, 0), (12, 10), (10, 10)]] * 3)
    scores[:, 0, :] = np.nan
    result = aggregate(method, scores, computed)
    assert result.bidders == (1, 2)
    # B0 (the cheapest) failed, so B2's 1.1M is the base: B2 scores the full 30 price points
    # and B1 1.1/1.2 × 30 = 27.50.
    assert result.totals.tolist() == [59.5, 50.0]


def test_missing_scores_are_listed():
    method = demo_method()
    computed = compute_scores(method, BIDDERS[:1], SectionFacts(), [0])
    scores = typed(method, [[(15, 16)], [(15, 16)], [(15, 16)]])
    scores[2, 0, 1] = np.nan
    with pytest.raises(IncompleteScores) as caught:
        aggregate(method, scores, computed)
    assert caught.value.missing == [(2, 0, "t2")]
