"""The rule language of objective items reads bid data safely and scores as written."""

from decimal import Decimal

import pytest

from evaluation.scoring.model import BidderFacts
from evaluation.scoring.rules import (FIRST, PER_UNIT, SUM, Clause, Condition, MissingFact,
                                      ObjectiveRule, RuleError, parse_condition)

D = Decimal


def bidder(**facts):
    return BidderFacts(bidder_id="B1", price=D("1000000"), small_enterprise=True,
                       price_form={"duration_days": 330, "quality": "合格"}, facts=facts)


def test_fact_shorthand_means_the_fact_is_true():
    condition = parse_condition({"fact": "not_dishonest_entity"}, "here")
    assert condition.holds(bidder(not_dishonest_entity=True))
    assert not condition.holds(bidder(not_dishonest_entity=False))


def test_numeric_comparison_on_the_price_form():
    assert Condition("price_form.duration_days", "<=", 365).holds(bidder())
    assert not Condition("price_form.duration_days", "<", 300).holds(bidder())
    assert Condition("bid_price", ">=", 999999.5).holds(bidder())
    assert Condition("small_enterprise", "==", True).holds(bidder())


def test_text_and_membership():
    assert Condition("price_form.quality", "==", "合格").holds(bidder())
    assert Condition("facts.grade", "in", ("AA", "AAA")).holds(bidder(grade="AA"))
    assert Condition("facts.grade", "not_in", ("AA", "AAA")).holds(bidder(grade="B"))


def test_tiers_take_the_first_clause_that_holds():
    rule = ObjectiveRule(mode=FIRST, maximum=D(5), clauses=(
        Clause(Condition("price_form.duration_days", "<=", 300), D(5)),
        Clause(Condition("price_form.duration_days", "<=", 340), D(3)),
        Clause(Condition("price_form.duration_days", "<=", 365), D(1))))
    assert rule.score(bidder()) == D(3)


def test_sum_adds_every_clause_that_holds_capped_at_the_maximum():
    rule = ObjectiveRule(mode=SUM, maximum=D(5), clauses=(
        Clause(Condition("facts.iso9001", "==", True), D(3)),
        Clause(Condition("facts.iso14001", "==", True), D(3))))
    assert rule.score(bidder(iso9001=True, iso14001=False)) == D(3)
    assert rule.score(bidder(iso9001=True, iso14001=True)) == D(5)


def test_per_unit_counts_and_caps():
    rule = ObjectiveRule(mode=PER_UNIT, maximum=D(8), unit_field="facts.similar_contracts",
                         points_per_unit=D(2))
    assert rule.score(bidder(similar_contracts=3)) == D(6)
    assert rule.score(bidder(similar_contracts=9)) == D(8)
    with pytest.raises(RuleError, match="negative"):
        rule.score(bidder(similar_contracts=-1))


def test_a_missing_fact_names_the_bidder_and_the_field():
    with pytest.raises(MissingFact, match="B1.*facts.iso9001"):
        Condition("facts.iso9001", "==", True).holds(bidder())


def test_a_fact_of_the_wrong_type_is_an_error_not_a_zero():
    with pytest.raises(RuleError, match="yes/no"):
        Condition("facts.iso9001", "==", True).holds(bidder(iso9001="yes"))
    with pytest.raises(RuleError, match="number"):
        Condition("facts.count", ">", 1).holds(bidder(count="many"))


@pytest.mark.parametrize("raw", [
    {"field": "price_form.duration_days", "op": "=~", "value": 1},
    {"field": "__import__('os')", "op": "==", "value": 1},
    {"field": "facts.x", "op": "<", "value": "text"},
    {"field": "facts.x", "op": "in", "value": []},
    {"field": "facts.x", "op": "<"},
    {"fact": "not an identifier"},
])
def test_bad_conditions_are_refused_when_read(raw):
    with pytest.raises(RuleError):
        parse_condition(raw, "items[0]")


def test_clause_points_must_fit_the_item():
    with pytest.raises(RuleError, match="outside"):
        ObjectiveRule(mode=FIRST, maximum=D(3),
                      clauses=(Clause(Condition("facts.x", "==", True), D(4)),))
