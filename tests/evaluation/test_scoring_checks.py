"""Live checks: deviations from the other experts, range and step, objective items, sums."""

from decimal import Decimal

import numpy as np
import pytest

from evaluation.scoring import (BidderFacts, SectionFacts, check_sums, compute_scores,
                                fill_computed, find_outliers, parse_method)

NAN = np.nan


def small_method():
    return parse_method({
        "id": "check_demo", "name_zh": "演示", "name_en": "Demo", "sector": "goods",
        "source": "test", "certainty": "inferred",
        "price": {"formula": "lowest_price_base"},
        "categories": [
            {"id": "technical", "label_zh": "技术", "label_en": "Technical", "weight": 20},
            {"id": "commercial", "label_zh": "商务", "label_en": "Commercial", "weight": 10},
            {"id": "price", "label_zh": "价格", "label_en": "Price", "weight": 70}],
        "items": [
            {"id": "t", "category": "technical", "type": "subjective", "label_zh": "方案",
             "label_en": "Plan", "max": 20, "step": "0.5"},
            {"id": "c", "category": "commercial", "type": "objective", "label_zh": "业绩",
             "label_en": "Record", "max": 10, "mode": "per_unit",
             "unit_field": "facts.contracts", "points_per_unit": 5}]})


METHOD = small_method()


def sheet(values):
    """Scores of one bidder on item t, one value per expert."""
    scores = METHOD.empty_scores(len(values), 1)
    scores[:, 0, 0] = values
    return scores


def flags(values):
    return sorted((o.expert, o.reason) for o in find_outliers(METHOD, sheet(values)))


def test_far_from_unanimous_colleagues_is_flagged_by_both_rules():
    # Others of expert 4 average 15 with σ ≈ 0.41; 8 is 7 away: > 2σ and > 20% × 20 = 4.
    assert flags([15, 15.5, 14.5, 15, 8]) == [(4, "deviation_max_fraction"), (4, "deviation_sigma")]


def test_beyond_two_sigma_but_within_20_percent_is_flagged_by_sigma_only():
    found = find_outliers(METHOD, sheet([10, 10.5, 9.5, 10, 12]))
    assert [(o.expert, o.reason) for o in found] == [(4, "deviation_sigma")]
    assert found[0].reference == pytest.approx(10.0)
    assert found[0].threshold == pytest.approx(2 * np.std([10, 10.5, 9.5, 10], ddof=1))


def test_one_step_from_unanimous_colleagues_is_not_an_outlier():
    assert flags([10, 10, 10, 10, 10.5]) == []
    assert flags([10, 10, 10, 10, 11]) == [(4, "deviation_sigma")]


def test_with_three_experts_only_the_20_percent_rule_applies():
    assert flags([10, 10.5, 15]) == [(2, "deviation_max_fraction")]
    assert flags([10, 10.5, 13.5]) == []


def test_scores_not_yet_entered_are_ignored():
    assert flags([10, NAN, 10, 10, 16]) == [(4, "deviation_max_fraction"), (4, "deviation_sigma")]
    assert flags([NAN, NAN, 12, NAN, NAN]) == []


def test_out_of_range_and_off_step_scores():
    found = find_outliers(METHOD, sheet([21, 10.3, 10, 10, 10]))
    assert (0, "out_of_range") in [(o.expert, o.reason) for o in found]
    off = next(o for o in found if o.reason == "off_step")
    assert off.expert == 1 and off.reference == pytest.approx(10.5)


def test_stored_objective_scores_must_match_the_computed_ones():
    bidders = [BidderFacts("B0", Decimal(100), facts={"contracts": 1}),
               BidderFacts("B1", Decimal(120), facts={"contracts": 3})]
    computed = compute_scores(METHOD, bidders, SectionFacts(), [0, 1])
    scores = fill_computed(METHOD, METHOD.empty_scores(3, 2), computed)
    scores[:, :, 0] = 15
    assert find_outliers(METHOD, scores, computed) == []
    scores[2, 1, 1] = 5  # the computed score is 10 (3 contracts × 5, capped)
    (found,) = find_outliers(METHOD, scores, computed)
    assert (found.expert, found.bidder, found.item_id, found.reason, found.reference) == \
        (2, 1, "c", "objective_inconsistent", 10.0)


def test_flags_can_be_limited_to_the_passing_bidders():
    scores = METHOD.empty_scores(3, 2)
    scores[:, 0, 0] = [10, 10, 18]
    scores[:, 1, 0] = [10, 10, 18]
    assert {o.bidder for o in find_outliers(METHOD, scores, bidders=[1])} == {1}


def test_sum_errors_on_an_expert_sheet():
    scores = METHOD.empty_scores(2, 1)
    scores[:, 0, :] = [[15, 5, 70], [14.5, 5, 70]]
    totals = np.array([[90.0], [90.0]])
    (found,) = check_sums(METHOD, scores, totals)
    assert (found.expert, found.reason, found.reference) == (1, "sum_error", 89.5)


def test_sum_check_reads_computed_columns_from_the_computed_scores():
    computed = compute_scores(METHOD, [BidderFacts("B0", Decimal(100), facts={"contracts": 1})],
                              SectionFacts(), [0])
    scores = METHOD.empty_scores(2, 1)
    scores[:, 0, 0] = [15, 14.5]  # the store keeps typed cells only
    totals = np.array([[90.0], [90.0]])  # 15 + 5 + 70 and a wrong 90 instead of 89.5
    assert [o.expert for o in check_sums(METHOD, scores, totals, computed=computed)] == [1]
