"""The whole scoring flow the evaluation room runs, on a shipped template."""

from decimal import Decimal

import numpy as np

from evaluation.scoring import (BidderFacts, PassFailVote, SectionFacts, compute_scores, evaluate,
                                fill_computed, find_outliers, load_methods, review,
                                validate_subjective_score)

D = Decimal
PRICES = (920, 950, 980, 1000, 1050, 1200)  # the last is above the ceiling
FACTS = {"not_dishonest_entity": True, "pm_registration_grade": "一级", "pm_similar_projects": 2,
         "technical_lead_senior_title": True, "credit_grade": "A"}


def test_review_compute_score_check_and_rank_a_works_section():
    method = load_methods()["works_comprehensive_benchmark"]
    bidders = [BidderFacts(f"B{i}", D(p), price_form={"duration_days": 300}, facts=FACTS)
               for i, p in enumerate(PRICES)]
    section = SectionFacts(ceiling_price=D(1100), k_coefficient=D("0.97"))
    n_experts = 7
    votes = [PassFailVote(e, b, item.id, passed=True) for stage in method.stages
             for item in stage.items if not item.computed
             for b in range(len(bidders)) for e in range(n_experts)]
    reviewed = review(method, bidders, section, votes, n_experts)
    assert reviewed.passing == (0, 1, 2, 3, 4)
    assert [r.item_id for r in reviewed.failed[5]] == ["c_within_ceiling"]

    computed = compute_scores(method, bidders, section, reviewed.passing)
    table = computed.price_table
    assert (table.benchmark.average, table.benchmark.benchmark) == (D("976.67"), D("947.37"))
    assert [row.score for row in table.rows] == \
        [D("59.13"), D("59.83"), D("57.93"), D("56.67"), D("53.50")]

    scores = method.empty_scores(n_experts, len(bidders))
    subjective = [item for item in method.items if item.kind.value == "subjective"]
    for e in range(n_experts):
        for b in reviewed.passing:
            for item in subjective:
                value = item.maximum - item.step * ((e + b) % 2)
                accepted = validate_subjective_score(method, item.id, value, comment="完整")
                scores[e, b, method.item_index[item.id]] = float(accepted.value)
    scores[6, 0, method.item_index["t_method_statement"]] = 2.0  # one expert far below the others
    outliers = find_outliers(method, scores, computed, reviewed.passing)
    assert {(o.expert, o.bidder, o.item_id) for o in outliers} == {(6, 0, "t_method_statement")}

    result = evaluate(method, fill_computed(method, scores, computed), computed, bidders)
    assert result.aggregate.trimmed  # 7 experts: the highest and lowest subtotals are dropped
    assert [r.bidder_id for r in result.ranking.order] == ["B1", "B0", "B2", "B3", "B4"]
    assert len(result.ranking.candidates) == 3
    assert 5 not in result.aggregate.bidders
    assert np.all(result.aggregate.totals <= 100)
