"""What an expert may type: subjective items only, in range, on step, comments at the extremes."""

from decimal import Decimal

import pytest

from evaluation.scoring import ScoreRejected, load_methods, validate_subjective_score


@pytest.fixture(scope="module")
def method():
    return load_methods()["gp_comprehensive_lowest_price_base"]


def test_a_score_in_range_and_on_step_is_accepted_exactly(method):
    accepted = validate_subjective_score(method, "t_solution", "15.5")
    assert accepted.value == Decimal("15.5")


@pytest.mark.parametrize(("item", "value", "code"), [
    ("t_solution", "20.5", "out_of_range"),
    ("t_solution", -1, "out_of_range"),
    ("t_solution", "15.3", "off_step"),
    ("t_solution", "abc", "not_a_number"),
    ("t_solution", True, "not_a_number"),
    ("b_similar_contracts", 4, "computed_item"),
    ("price", 30, "computed_item"),
    ("no_such_item", 1, "unknown_item"),
])
def test_bad_scores_are_refused_with_a_code(method, item, value, code):
    with pytest.raises(ScoreRejected) as caught:
        validate_subjective_score(method, item, value, comment="reason")
    assert caught.value.code == code


@pytest.mark.parametrize("value", ["20", "0"])
def test_top_and_bottom_of_the_range_need_a_comment(method, value):
    with pytest.raises(ScoreRejected) as caught:
        validate_subjective_score(method, "t_solution", value, comment="  ")
    assert caught.value.code == "comment_required"
    accepted = validate_subjective_score(method, "t_solution", value, comment="方案完整")
    assert accepted.comment == "方案完整"
