"""The shipped method templates load, cover the required methods and compute as documented."""

import tomllib
from decimal import Decimal

import pytest

from evaluation.scoring import (METHODS_DIR, BidderFacts, SectionFacts, compute_scores,
                                load_methods, parse_method)
from evaluation.scoring.model import FORMULAS

D = Decimal


@pytest.fixture(scope="module")
def library():
    return load_methods()


def test_at_least_five_methods_cover_every_formula(library):
    assert len(library) >= 5
    assert {m.price.formula for m in library.values()} == set(FORMULAS)


def test_benchmark_method_ships_in_both_variants(library):
    trimmed = library["works_comprehensive_benchmark"].price.benchmark
    mean = library["works_comprehensive_benchmark_mean"].price.benchmark
    assert trimmed.trim.value == "one_each_above_3" and trimmed.k is None  # K drawn at opening
    assert (mean.trim.value, mean.k, mean.smax, mean.a, mean.b, mean.smin) == \
        ("none", D(1), D(15), D("0.2"), D("0.1"), D(10))


def test_every_template_states_its_source_and_how_sure_it_is(library):
    for method in library.values():
        assert method.source and method.certainty in {"seen", "seen-2nd", "recalled", "inferred"}
        assert method.rounding.mode == "ROUND_HALF_UP" and method.rounding.places == 2
        assert 1 <= method.candidates <= 3


def test_scoring_templates_weigh_100_points(library):
    for method in library.values():
        if method.formula.ranks_by != "evaluated_price":
            assert sum(c.weight for c in method.categories) == 100


def test_gp_worked_example_through_the_template_with_a_20_point_price_weight():
    with (METHODS_DIR / "gp_comprehensive_lowest_price_base.toml").open("rb") as handle:
        raw = tomllib.load(handle)
    raw["sector"] = "services"  # the 2016 notice weighed price at 20 points
    weights = {"technical": 60, "commercial": 20, "price": 20}
    for category in raw["categories"]:
        category["weight"] = weights[category["id"]]
    next(i for i in raw["items"] if i["id"] == "t_solution")["max"] = 30
    method = parse_method(raw)
    prices = ["2288231.72", "2296472.00", "2299360.00", "2311110.40"]
    facts = {"negative_deviations": 0, "similar_contracts": 1, "iso9001": True,
             "iso14001": False, "iso45001": False}
    bidders = [BidderFacts(f"B{i}", D(p), price_form={"delivery_days": 30}, facts=facts)
               for i, p in enumerate(prices)]
    computed = compute_scores(method, bidders, SectionFacts(), range(4))
    assert [row.score for row in computed.price_table.rows] == \
        [D("20.00"), D("19.93"), D("19.90"), D("19.80")]
    assert computed.price_table.base == D("2288231.72")


def test_k_drawn_at_the_opening_must_be_recorded_and_within_range(library):
    method = library["works_comprehensive_benchmark"]
    facts = {"pm_registration_grade": "一级", "pm_similar_projects": 1,
             "technical_lead_senior_title": True, "credit_grade": "A"}
    bidders = [BidderFacts(f"B{i}", D(p), facts=facts) for i, p in enumerate((920, 950, 980))]
    with pytest.raises(ValueError, match="no K was recorded"):
        compute_scores(method, bidders, SectionFacts(), range(3))
    with pytest.raises(ValueError, match="outside the method's range"):
        compute_scores(method, bidders, SectionFacts(k_coefficient=D("0.90")), range(3))


def test_variant_template_reproduces_the_mean_benchmark(library):
    method = library["works_comprehensive_benchmark_mean"]
    facts = {"pm_registration_grade": "二级", "pm_similar_projects": 1,
             "technical_lead_senior_title": False, "credit_grade": "AAA"}
    bidders = [BidderFacts(f"B{i}", D(p), facts=facts)
               for i, p in enumerate((900, 1000, 1100, 1300))]
    computed = compute_scores(method, bidders, SectionFacts(), range(4))
    assert computed.price_table.benchmark.benchmark == D("1075.00")
    assert [row.score for row in computed.price_table.rows] == \
        [D("13.37"), D("14.30"), D("14.53"), D("10.81")]
    # Objective items: 二级 → 4, one project → 2, no senior title → 0, AAA → 5.
    management = [method.item_index[i] for i in ("m_project_manager_grade",
                                                 "m_project_manager_record", "m_technical_lead",
                                                 "c_credit_rating")]
    assert computed.item_scores[0, management].tolist() == [4.0, 2.0, 0.0, 5.0]


def test_a_passing_bid_above_the_ceiling_is_refused_by_the_price_computation(library):
    method = library["gp_comprehensive_lowest_price_base"]
    with pytest.raises(ValueError, match="above the ceiling"):
        compute_scores(method, [BidderFacts("B0", D(101))], SectionFacts(ceiling_price=D(100)),
                       [0])
