"""Load and validate evaluation-method templates (evaluation/methods/*.toml).

A template that would score wrongly is refused before anyone uses it: unknown formula, weights
that do not total 100, item maxima that do not add up to their category, a step that does not divide
an item's range, duplicate ids, unknown keys (a typo must not silently drop a rule), a price weight
below the 87号令第55条 floor, a deduction rate outside its policy range. Problems are collected and
reported together, each prefixed with where it is in the file. docs/methods.md describes the format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from .template_parts import (MethodError, Problems, parse_aggregation, parse_categories,
                            parse_items, parse_outliers, parse_price, parse_rounding, parse_stages,
                            text)
from .model import (FORMULAS, PRICE_CATEGORY, PRICE_ITEM_ID, TECHNICAL_CATEGORY, TIE_BREAKS,
                    ItemKind, Method, ScoringItem)

__all__ = ["METHODS_DIR", "MethodError", "load_method", "load_methods", "parse_method"]

METHODS_DIR = Path(__file__).resolve().parent.parent / "methods"
SECTORS = ("goods", "services", "works")
CERTAINTIES = ("seen", "seen-2nd", "recalled", "inferred")
TOP_KEYS = {"id", "name_zh", "name_en", "sector", "source", "certainty", "description",
            "candidates", "tie_breaks", "rounding", "aggregation", "outliers", "price", "stages",
            "categories", "items"}
# 87号令第55条 [seen-2nd]: the price weight is at least 30% for goods and 10% for services.
MIN_PRICE_WEIGHT = {"goods": Decimal(30), "services": Decimal(10)}
# 财库〔2020〕46号 and its 2022 update [seen-2nd]: the small-enterprise deduction rate by sector.
DEDUCTION_RANGE = {"goods": (Decimal("0.10"), Decimal("0.20")),
                   "services": (Decimal("0.10"), Decimal("0.20")),
                   "works": (Decimal("0.03"), Decimal("0.05"))}
HUNDRED = Decimal(100)


def load_method(path: str | Path) -> Method:
    """Read and validate one template file; raises ``MethodError`` listing every problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(path.name, [f"not valid TOML: {exc}"]) from None
    return parse_method(raw, source_name=path.name)


def load_methods(directory: str | Path = METHODS_DIR) -> dict[str, Method]:
    """Every template in ``directory`` by method id; two files with one id are refused."""
    methods: dict[str, Method] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        method = load_method(path)
        if method.id in methods:
            raise MethodError(path.name, [f"method id {method.id!r} is used by another template"])
        methods[method.id] = method
    return methods


def parse_method(raw: Mapping[str, object], source_name: str = "<template>") -> Method:
    """Build a validated ``Method`` from a parsed template (a dict as tomllib returns it)."""
    problems = Problems()
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        problems.add("template", f"unknown keys {unknown}; allowed: {sorted(TOP_KEYS)}")
    with problems.collect("template"):
        method_id = text(raw, "id", "template")
        if not method_id.replace("_", "").isalnum() or not method_id.isascii():
            raise problems.error("template",
                                 f"id {method_id!r} must be ASCII letters, digits and _")
    header = {key: problems.run("template", text, raw, key, "template")
              for key in ("name_zh", "name_en", "sector", "source", "certainty")}
    if header["sector"] is not None and header["sector"] not in SECTORS:
        problems.add("template", f"sector {header['sector']!r} is not one of {SECTORS}")
    if header["certainty"] is not None and header["certainty"] not in CERTAINTIES:
        problems.add("template", f"certainty {header['certainty']!r} is not one of {CERTAINTIES}")
    candidates = raw.get("candidates", 3)
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 3:
        problems.add("candidates", f"must be 1, 2 or 3 (第45条), not {candidates!r}")
    tie_breaks = _tie_breaks(raw.get("tie_breaks", ["draw"]), problems)

    rounding = problems.run("rounding", parse_rounding, raw.get("rounding", {}))
    aggregation = problems.run("aggregation", parse_aggregation, raw.get("aggregation", {}))
    outliers = problems.run("outliers", parse_outliers, raw.get("outliers", {}))
    price = problems.run("price", parse_price, raw.get("price"))
    stages = problems.run("stages", parse_stages, raw.get("stages", []), problems)
    categories = problems.run("categories", parse_categories, raw.get("categories", []), problems)
    items = problems.run("items", parse_items, raw.get("items", []), problems)
    problems.raise_if_any(source_name)

    assert price is not None and categories is not None and items is not None
    formula = FORMULAS[price.formula]
    if formula.price_item:
        weight = next((c.weight for c in categories if c.id == PRICE_CATEGORY), None)
        if weight is None:
            problems.add("categories", f"formula {price.formula} needs a category with id "
                         f"{PRICE_CATEGORY!r} holding the price points")
        else:
            items = (*items, ScoringItem(id=PRICE_ITEM_ID, category=PRICE_CATEGORY,
                                         label_zh="价格分", label_en="Price score",
                                         kind=ItemKind.PRICE, maximum=weight))
    _cross_check(header["sector"], price, stages or (), categories, items, tie_breaks, problems)
    problems.raise_if_any(source_name)
    return Method(id=method_id, name_zh=header["name_zh"], name_en=header["name_en"],
                  sector=header["sector"], source=header["source"],
                  certainty=header["certainty"], description=str(raw.get("description", "")),
                  candidates=candidates, tie_breaks=tie_breaks, rounding=rounding,
                  aggregation=aggregation, outliers=outliers, price=price, stages=stages,
                  categories=categories, items=items)


def _tie_breaks(raw: object, problems: Problems) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        problems.add("tie_breaks", "must be a list of names")
        return ()
    for name in raw:
        if name not in TIE_BREAKS:
            problems.add("tie_breaks", f"unknown tie-break {name!r}; known: {TIE_BREAKS}")
    if len(set(raw)) != len(raw):
        problems.add("tie_breaks", "a tie-break is listed twice")
    if "draw" in raw and raw[-1] != "draw":
        problems.add("tie_breaks", "'draw' decides what nothing else can, so it must come last")
    return tuple(raw)


def _cross_check(sector, price, stages, categories, items, tie_breaks, problems) -> None:
    formula = FORMULAS[price.formula]
    ids = [s.id for s in stages] + [i.id for s in stages for i in s.items] + [i.id for i in items]
    duplicates = sorted({x for x in ids if ids.count(x) > 1})
    if duplicates:
        problems.add("template", f"duplicate ids {duplicates}: stage and item ids must be unique")
    category_ids = [c.id for c in categories]
    if len(set(category_ids)) != len(category_ids):
        problems.add("categories", "duplicate category ids")
    if formula.ranks_by == "evaluated_price":
        if categories or items:
            problems.add("categories", f"{price.formula} ranks by evaluated price alone; a "
                         "template for it has no categories and no scoring items")
    else:
        total = sum((c.weight for c in categories), Decimal(0))
        if total != HUNDRED:
            problems.add("categories", f"weights total {total}, not 100")
        if formula.ranks_by == "quotient" and PRICE_CATEGORY in category_ids:
            problems.add("categories", "性价比法 divides the non-price score by the price; "
                         "the price must not also be a scored category")
        for category in categories:
            maxima = sum((i.maximum for i in items if i.category == category.id), Decimal(0))
            if maxima != category.weight:
                problems.add(f"categories.{category.id}", f"item maxima total {maxima}, but the "
                             f"category weight is {category.weight}")
        for item in items:
            if item.category not in category_ids:
                problems.add(f"items.{item.id}", f"unknown category {item.category!r}")
            elif item.category == PRICE_CATEGORY and item.kind is not ItemKind.PRICE:
                problems.add(f"items.{item.id}", "the price category holds only the computed "
                             "price score")
        if not items:
            problems.add("items", f"{price.formula} needs scoring items")
    if "higher_technical" in tie_breaks and TECHNICAL_CATEGORY not in category_ids:
        problems.add("tie_breaks", f"'higher_technical' needs a category {TECHNICAL_CATEGORY!r}")
    if price.formula == "lowest_price_base" and sector in MIN_PRICE_WEIGHT:
        weight = next((c.weight for c in categories if c.id == PRICE_CATEGORY), None)
        if weight is not None and weight < MIN_PRICE_WEIGHT[sector]:
            problems.add("categories.price", f"price weight {weight} is below the minimum "
                         f"{MIN_PRICE_WEIGHT[sector]} for {sector} (87号令第55条)")
    if price.benchmark is not None:
        weight = next((c.weight for c in categories if c.id == PRICE_CATEGORY), None)
        if weight is not None and price.benchmark.smax != weight:
            problems.add("price", f"smax {price.benchmark.smax} must equal the price weight "
                         f"{weight}: a bid at the benchmark gets the full price points")
    if price.deduction_rate is not None and sector in DEDUCTION_RANGE:
        low, high = DEDUCTION_RANGE[sector]
        if not low <= price.deduction_rate <= high:
            problems.add("price", f"small-enterprise deduction {price.deduction_rate} is outside "
                         f"{low}–{high} for {sector} (财库〔2020〕46号 and the 2022 update)")
