"""A template that would score wrongly is refused with a message naming the problem."""

import copy
import tomllib

import pytest

from evaluation.scoring import METHODS_DIR, MethodError, load_method, load_methods, parse_method


def template(name="gp_comprehensive_lowest_price_base"):
    with (METHODS_DIR / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def item(raw, item_id):
    return next(i for i in raw["items"] if i["id"] == item_id)


def refused(raw, *fragments):
    with pytest.raises(MethodError) as caught:
        parse_method(raw, source_name="t.toml")
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


def edit(change, name="gp_comprehensive_lowest_price_base"):
    raw = copy.deepcopy(template(name))
    change(raw)
    return raw


def test_the_unedited_template_is_accepted():
    assert parse_method(template()).id == "gp_comprehensive_lowest_price_base"


def test_unknown_formula():
    refused(edit(lambda r: r["price"].update(formula="lowest_price_bse")),
            "unknown formula 'lowest_price_bse'", "benchmark_price")


def test_weights_not_totalling_100():
    def change(raw):
        raw["categories"][0]["weight"] = 55
        item(raw, "t_solution")["max"] = 25
    refused(edit(change), "weights total 105, not 100")


def test_item_maxima_not_matching_the_category_weight():
    refused(edit(lambda r: item(r, "t_after_sales").update(max=12)),
            "categories.technical: item maxima total 52")


def test_step_that_does_not_divide_the_range():
    refused(edit(lambda r: item(r, "t_solution").update(step="0.3")),
            "t_solution", "step 0.3 does not divide the range 0–20")


def test_duplicate_item_ids():
    refused(edit(lambda r: item(r, "t_after_sales").update(id="t_solution")),
            "duplicate ids ['t_solution']")


def test_an_item_id_equal_to_a_stage_item_id():
    refused(edit(lambda r: item(r, "t_after_sales").update(id="c_validity")),
            "duplicate ids ['c_validity']")


def test_unknown_keys_are_typos_not_ignored():
    refused(edit(lambda r: item(r, "t_solution").update(stpe="0.5")), "unknown keys ['stpe']")
    refused(edit(lambda r: r.update(tie_break=["draw"])), "unknown keys ['tie_break']")


def test_price_weight_below_the_87_floor_for_goods():
    def change(raw):
        weights = {"technical": 60, "commercial": 20, "price": 20}
        for category in raw["categories"]:
            category["weight"] = weights[category["id"]]
        item(raw, "t_solution")["max"] = 30
    refused(edit(change), "price weight 20 is below the minimum 30 for goods (87号令第55条)")


def test_deduction_rate_outside_the_sector_range():
    refused(edit(lambda r: r["price"].update(small_enterprise_deduction="0.06")),
            "small-enterprise deduction 0.06 is outside 0.10–0.20 for goods")


def test_benchmark_smax_must_be_the_price_weight():
    refused(edit(lambda r: r["price"].update(smax=50), "works_comprehensive_benchmark"),
            "smax 50 must equal the price weight 60")


def test_benchmark_k_given_twice():
    refused(edit(lambda r: r["price"].update(k="0.97"), "works_comprehensive_benchmark"),
            "exactly one of k (fixed) or k_range")


def test_lowest_evaluated_price_allows_no_adjustment():
    adjustment = {"id": "x", "label_zh": "x", "label_en": "x", "unit_field": "facts.x",
                  "percent_per_unit": 1}
    refused(edit(lambda r: r["price"].update(adjustments=[adjustment]),
                 "gp_lowest_evaluated_price"), "87号令第54条")


def test_lowest_price_methods_have_no_scoring_items():
    raw = edit(lambda r: r.update(categories=template()["categories"],
                                  items=template()["items"]), "gp_lowest_evaluated_price")
    refused(raw, "ranks by evaluated price alone")


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda r: r.update(candidates=4), "candidates: must be 1, 2 or 3"),
    (lambda r: r.update(tie_breaks=["draw", "lower_bid_price"]), "'draw' decides"),
    (lambda r: r.update(tie_breaks=["coin_toss"]), "unknown tie-break 'coin_toss'"),
    (lambda r: r["rounding"].update(mode="ROUND_UP"), "unknown rounding mode"),
    (lambda r: r.update(aggregation={"rule": "median"}), "unknown rule 'median'"),
    (lambda r: r.update(aggregation={"rule": "trimmed_mean", "trim_min_experts": 2}),
     "at least 3"),
    (lambda r: r["stages"][0]["items"][0].update(check="price_ok"), "check must be one of"),
    (lambda r: r["stages"][0].update(items=[]), "a stage needs at least one item"),
    (lambda r: item(r, "b_delivery_time")["clauses"][0].update(op="=<"),
     "unknown operator '=<'"),
    (lambda r: item(r, "b_delivery_time")["clauses"][0].update(field="delivery_days"),
     "unknown field 'delivery_days'"),
    (lambda r: item(r, "b_delivery_time")["clauses"][0].update(points=7), "outside 0–6"),
    (lambda r: item(r, "b_delivery_time").update(step=1), "has no min or step"),
    (lambda r: item(r, "t_solution").update(id="price"), "reserved for the price score"),
    (lambda r: item(r, "t_solution").update(min=20), "0 ≤ min < max"),
    (lambda r: item(r, "t_solution").update(type="essay"), "type must be"),
    (lambda r: item(r, "t_solution").update(category="design"), "unknown category 'design'"),
    (lambda r: r.pop("price"), "missing [price] table"),
])
def test_other_refusals(change, fragment):
    refused(edit(change), fragment)


def test_every_problem_is_reported_at_once():
    def change(raw):
        raw["candidates"] = 0
        item(raw, "t_solution")["step"] = "0.3"
        item(raw, "b_delivery_time")["clauses"][0]["op"] = "=<"
    error = refused(edit(change), "t_solution", "=<", "candidates")
    assert len(error.problems) == 3


def test_files_that_are_not_toml_or_reuse_an_id(tmp_path):
    (tmp_path / "broken.toml").write_text("id = ", encoding="utf-8")
    with pytest.raises(MethodError, match=r"broken.toml(.|\n)*not valid TOML"):
        load_method(tmp_path / "broken.toml")
    (tmp_path / "broken.toml").unlink()
    source = (METHODS_DIR / "gp_cost_performance.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(source, encoding="utf-8")
    (tmp_path / "b.toml").write_text(source, encoding="utf-8")
    with pytest.raises(MethodError, match="used by another template"):
        load_methods(tmp_path)
