"""The numpy path and the plain-Python yardstick agree on random committees."""

import tomllib
from decimal import Decimal

import numpy as np
import pytest

from evaluation.scoring import (METHODS_DIR, BidderFacts, SectionFacts, compute_scores, evaluate,
                                load_methods, parse_method)
from evaluation.scoring.reference import reference_rank

FACT_KEYS = {"negative_deviations": (0, 7), "similar_contracts": (0, 6),
             "pm_similar_projects": (0, 4), "uncorrected_minor_deviations": (0, 3)}


def random_bidders(rng, n):
    bidders = []
    for i in range(n):
        facts = {key: int(rng.integers(*bounds)) for key, bounds in FACT_KEYS.items()}
        facts.update({name: bool(rng.integers(2)) for name in
                      ("iso9001", "iso14001", "iso45001", "not_dishonest_entity",
                       "technical_lead_senior_title", "unqualified_audit")})
        facts["pm_registration_grade"] = str(rng.choice(["一级", "二级", "无"]))
        facts["credit_grade"] = str(rng.choice(["AAA", "AA", "A", "B"]))
        # Few distinct prices so that equal totals, and equal prices, happen.
        price = Decimal(int(rng.choice([900000, 950000, 1000000, 1050000])))
        bidders.append(BidderFacts(f"B{i:03d}", price, small_enterprise=bool(rng.integers(2)),
                                   price_form={"delivery_days": int(rng.integers(20, 60))},
                                   facts=facts))
    return bidders


def random_scores(rng, method, n_experts, n_bidders):
    scores = method.empty_scores(n_experts, n_bidders)
    for i in np.flatnonzero(method.subjective_mask):
        steps = int(round((method.maxima[i] - method.minima[i]) / method.steps[i]))
        picks = rng.integers(0, steps + 1, size=(n_experts, n_bidders))
        scores[:, :, i] = method.minima[i] + picks * method.steps[i]
    return scores


def variants():
    library = load_methods()
    yield library["gp_comprehensive_lowest_price_base"]
    yield library["works_comprehensive_benchmark"]
    yield library["works_comprehensive_benchmark_mean"]
    yield library["gp_cost_performance"]
    yield library["works_reviewed_lowest_bid_price"]
    with (METHODS_DIR / "works_comprehensive_benchmark.toml").open("rb") as handle:
        raw = tomllib.load(handle)
    raw["aggregation"]["level"] = "item"
    yield parse_method(raw)


@pytest.mark.parametrize("method", list(variants()), ids=lambda m: f"{m.id}-{m.aggregation.level}")
@pytest.mark.parametrize(("seed", "n_experts"), [(1, 5), (2, 7), (3, 9)])
def test_numpy_and_plain_python_agree(method, seed, n_experts):
    rng = np.random.default_rng(seed)
    bidders = random_bidders(rng, 60)
    passing = sorted(rng.choice(60, size=50, replace=False).tolist())
    computed = compute_scores(method, bidders, SectionFacts(k_coefficient=Decimal("0.96")),
                              passing)
    scores = random_scores(rng, method, n_experts, 60)

    def draw(ids):
        return sorted(ids, reverse=True)

    fast = evaluate(method, scores, computed, bidders, draw=draw).ranking
    slow = reference_rank(method, scores.tolist(), computed, bidders, draw=draw)
    fast_rows = [(r.bidder, r.rank, r.total if r.total is not None else 0.0) for r in fast.order]
    assert fast_rows == slow
