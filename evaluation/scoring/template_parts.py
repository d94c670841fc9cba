"""Readers for the tables of an evaluation-method template; ``methods.py`` assembles them.

Every reader refuses unknown keys and reports where a problem is ("items[3] tech_plan: ...") so a
template author can fix the file without reading code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TypeVar

from .model import (BUILTIN_CHECKS, FORMULAS, PRICE_ITEM_ID, Aggregation, AggregationRule,
                    Category, ItemKind, OutlierPolicy, PassFailItem, PriceAdjustment, PriceSpec,
                    ScoringItem, Stage)
from .price import BenchmarkParams, TrimRule
from .rounding import Rounding, to_decimal
from .rules import PER_UNIT, RULE_MODES, Clause, ObjectiveRule, RuleError, parse_condition

T = TypeVar("T")
CONDITION_KEYS = {"fact", "field", "op", "value"}


class MethodError(ValueError):
    """A template refused, with every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"evaluation method {source} refused:\n{lines}")


class Problem(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


class Problems:
    """Collects problems so a template author sees all of them at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.messages.append(f"{where}: {message}")

    @staticmethod
    def error(where: str, message: str) -> Problem:
        return Problem(where, message)

    @contextmanager
    def collect(self, where: str) -> Iterator[None]:
        try:
            yield
        except Problem as exc:
            self.messages.append(str(exc))
        except (RuleError, ValueError, TypeError) as exc:
            self.add(where, str(exc))

    def run(self, where: str, reader: Callable[..., T], *args: object) -> T | None:
        with self.collect(where):
            return reader(*args)
        return None

    def raise_if_any(self, source: str) -> None:
        if self.messages:
            raise MethodError(source, self.messages)


def table(raw: object, where: str, allowed: set[str], required: set[str] = frozenset()
          ) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise Problem(where, "must be a table")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise Problem(where, f"unknown keys {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(raw))
    if missing:
        raise Problem(where, f"missing keys {missing}")
    return raw


def text(raw: Mapping[str, object], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Problem(where, f"{key} must be non-empty text")
    return value


def identifier(raw: Mapping[str, object], key: str, where: str) -> str:
    value = text(raw, key, where)
    if not (value.isascii() and value.isidentifier()):
        raise Problem(where, f"{key} {value!r} must be an ASCII identifier (letters, digits, _)")
    return value


def number(raw: Mapping[str, object], key: str, where: str,
           default: Decimal | None = None) -> Decimal:
    if key not in raw:
        if default is None:
            raise Problem(where, f"missing {key}")
        return default
    try:
        return to_decimal(raw[key])
    except (TypeError, ValueError) as exc:
        raise Problem(where, f"{key}: {exc}") from None


def integer(raw: Mapping[str, object], key: str, where: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(where, f"{key} must be a whole number, not {value!r}")
    return value


def each_table(raw: object, where: str) -> list[tuple[str, object]]:
    if not isinstance(raw, list):
        raise Problem(where, "must be a list of tables ([[...]])")
    return [(f"{where}[{i}]", entry) for i, entry in enumerate(raw)]


def parse_rounding(raw: object) -> Rounding:
    values = table(raw, "rounding", {"places", "mode"})
    return Rounding(places=integer(values, "places", "rounding", 2),
                    mode=str(values.get("mode", "ROUND_HALF_UP")))


def parse_aggregation(raw: object) -> AggregationRule:
    values = table(raw, "aggregation", {"rule", "trim_min_experts", "level"})
    rule = str(values.get("rule", "mean"))
    if rule not in set(Aggregation):
        known = [a.value for a in Aggregation]
        raise Problem("aggregation", f"unknown rule {rule!r}; known: {known}")
    trim_min = integer(values, "trim_min_experts", "aggregation", 7)
    if trim_min < 3:
        raise Problem("aggregation", "trim_min_experts must be at least 3: dropping the highest "
                      "and the lowest must leave a score to average")
    level = str(values.get("level", "category"))
    if level not in ("category", "item"):
        raise Problem("aggregation", f"level must be 'category' or 'item', not {level!r}")
    return AggregationRule(rule=Aggregation(rule), trim_min_experts=trim_min, level=level)


def parse_outliers(raw: object) -> OutlierPolicy:
    keys = {"sigma_multiplier", "max_fraction", "min_others_for_sigma", "min_deviation_steps"}
    values = table(raw, "outliers", keys)
    default = OutlierPolicy()
    policy = OutlierPolicy(
        sigma_multiplier=float(number(values, "sigma_multiplier", "outliers",
                                      to_decimal(default.sigma_multiplier))),
        max_fraction=float(number(values, "max_fraction", "outliers",
                                  to_decimal(default.max_fraction))),
        min_others_for_sigma=integer(values, "min_others_for_sigma", "outliers",
                                     default.min_others_for_sigma),
        min_deviation_steps=float(number(values, "min_deviation_steps", "outliers",
                                         to_decimal(default.min_deviation_steps))))
    if policy.sigma_multiplier <= 0 or not 0 < policy.max_fraction <= 1:
        raise Problem("outliers", "sigma_multiplier must be positive and max_fraction in (0, 1]")
    if policy.min_others_for_sigma < 2 or policy.min_deviation_steps < 0:
        raise Problem("outliers", "min_others_for_sigma must be at least 2 (a σ needs two "
                      "scores) and min_deviation_steps must not be negative")
    return policy


PRICE_KEYS = {
    "lowest_price_base": set(),
    "lowest_evaluated_price": set(),
    "benchmark_price": {"k", "k_range", "a", "b", "smax", "smin", "trim", "trim_percent",
                        "trim_percent_min_bids"},
    "reviewed_lowest_bid_price": {"adjustments"},
    "cost_performance": {"price_unit", "quotient_places"},
}


def parse_price(raw: object) -> PriceSpec:
    if not isinstance(raw, Mapping):
        raise Problem("price", "missing [price] table")
    formula = text(raw, "formula", "price")
    if formula not in FORMULAS:
        raise Problem("price", f"unknown formula {formula!r}; known: {sorted(FORMULAS)}")
    allowed = {"formula", "small_enterprise_deduction"} | PRICE_KEYS[formula]
    if formula == "lowest_evaluated_price" and "adjustments" in raw:
        raise Problem("price", "最低评标价法 allows no price adjustment except arithmetic "
                      "correction and policy deductions (87号令第54条)")
    values = table(raw, "price", allowed)
    rate = number(values, "small_enterprise_deduction", "price") \
        if "small_enterprise_deduction" in values else None
    if rate is not None and not Decimal(0) < rate < Decimal(1):
        raise Problem("price", "small_enterprise_deduction is a fraction, e.g. 0.10 for 10%")
    spec = PriceSpec(formula=formula, deduction_rate=rate)
    if formula == "benchmark_price":
        return _benchmark(values, spec)
    if formula == "reviewed_lowest_bid_price":
        adjustments = tuple(_adjustment(entry, where)
                            for where, entry in each_table(values.get("adjustments", []),
                                                           "price.adjustments"))
        return PriceSpec(formula=formula, deduction_rate=rate, adjustments=adjustments)
    if formula == "cost_performance":
        unit = number(values, "price_unit", "price", Decimal(10000))
        places = integer(values, "quotient_places", "price", 4)
        if unit <= 0 or not 0 <= places <= 8:
            raise Problem("price", "price_unit must be positive and quotient_places 0–8")
        return PriceSpec(formula=formula, deduction_rate=rate, price_unit=unit,
                         quotient_places=places)
    return spec


def _benchmark(values: Mapping[str, object], spec: PriceSpec) -> PriceSpec:
    if ("k" in values) == ("k_range" in values):
        raise Problem("price", "give exactly one of k (fixed) or k_range (drawn at the opening)")
    k_range = None
    if "k_range" in values:
        bounds = values["k_range"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise Problem("price", "k_range must be [lowest, highest]")
        k_range = (to_decimal(bounds[0]), to_decimal(bounds[1]))
        if not Decimal(0) < k_range[0] <= k_range[1]:
            raise Problem("price", f"k_range {bounds} must be positive and ascending")
    trim = str(values.get("trim", TrimRule.ONE_EACH_ABOVE_THREE.value))
    if trim not in set(TrimRule):
        raise Problem("price", f"unknown trim {trim!r}; known: {[t.value for t in TrimRule]}")
    params = BenchmarkParams(
        k=number(values, "k", "price") if "k" in values else None,
        a=number(values, "a", "price"), b=number(values, "b", "price"),
        smax=number(values, "smax", "price"), smin=number(values, "smin", "price"),
        trim=TrimRule(trim), trim_percent=number(values, "trim_percent", "price", Decimal(20)),
        trim_percent_min_bids=integer(values, "trim_percent_min_bids", "price", 7))
    return PriceSpec(formula=spec.formula, deduction_rate=spec.deduction_rate, benchmark=params,
                     k_range=k_range)


def _adjustment(raw: object, where: str) -> PriceAdjustment:
    values = table(raw, where, {"id", "label_zh", "label_en", "unit_field", "percent_per_unit",
                                "amount_per_unit"}, {"id", "label_zh", "label_en", "unit_field"})
    if ("percent_per_unit" in values) == ("amount_per_unit" in values):
        raise Problem(where, "give exactly one of percent_per_unit or amount_per_unit")
    parse_condition({"field": values["unit_field"], "op": ">=", "value": 0}, where)
    return PriceAdjustment(
        id=identifier(values, "id", where), label_zh=text(values, "label_zh", where),
        label_en=text(values, "label_en", where), unit_field=str(values["unit_field"]),
        percent_per_unit=number(values, "percent_per_unit", where)
        if "percent_per_unit" in values else None,
        amount_per_unit=number(values, "amount_per_unit", where)
        if "amount_per_unit" in values else None)


def parse_stages(raw: object, problems: Problems) -> tuple[Stage, ...]:
    stages = []
    for where, entry in each_table(raw, "stages"):
        with problems.collect(where):
            stages.append(_stage(entry, where))
    return tuple(stages)


def _stage(entry: object, where: str) -> Stage:
    values = table(entry, where, {"id", "name_zh", "name_en", "items"},
                   {"id", "name_zh", "name_en", "items"})
    items = []
    for item_where, item in each_table(values["items"], f"{where}.items"):
        fields = table(item, item_where, {"id", "label_zh", "label_en", "check"} | CONDITION_KEYS,
                       {"id", "label_zh", "label_en"})
        has_condition = bool(CONDITION_KEYS & set(fields))
        check = fields.get("check")
        if check is not None and (has_condition or check not in BUILTIN_CHECKS):
            raise Problem(item_where, f"check must be one of {sorted(BUILTIN_CHECKS)} and "
                          "cannot be combined with a condition")
        condition = parse_condition(fields, item_where) if has_condition else None
        items.append(PassFailItem(id=identifier(fields, "id", item_where),
                                  label_zh=text(fields, "label_zh", item_where),
                                  label_en=text(fields, "label_en", item_where),
                                  condition=condition, check=check))
    if not items:
        raise Problem(where, "a stage needs at least one item")
    return Stage(id=identifier(values, "id", where), name_zh=text(values, "name_zh", where),
                 name_en=text(values, "name_en", where), items=tuple(items))


def parse_categories(raw: object, problems: Problems) -> tuple[Category, ...]:
    categories = []
    for where, entry in each_table(raw, "categories"):
        with problems.collect(where):
            categories.append(_category(entry, where))
    return tuple(categories)


def _category(entry: object, where: str) -> Category:
    values = table(entry, where, {"id", "label_zh", "label_en", "weight"},
                   {"id", "label_zh", "label_en", "weight"})
    weight = number(values, "weight", where)
    if weight <= 0:
        raise Problem(where, f"weight must be positive, not {weight}")
    return Category(id=identifier(values, "id", where), label_zh=text(values, "label_zh", where),
                    label_en=text(values, "label_en", where), weight=weight)


ITEM_KEYS = {"id", "category", "label_zh", "label_en", "type", "max", "min", "step", "guidance_zh",
             "mode", "clauses", "unit_field", "points_per_unit"}
SUBJECTIVE_KEYS = {"id", "category", "label_zh", "label_en", "type", "max", "min", "step",
                   "guidance_zh"}


def parse_items(raw: object, problems: Problems) -> tuple[ScoringItem, ...]:
    items = []
    for where, entry in each_table(raw, "items"):
        with problems.collect(where):
            items.append(_item(entry, where))
    return tuple(items)


def _item(raw: object, where: str) -> ScoringItem:
    values = table(raw, where, ITEM_KEYS, {"id", "category", "label_zh", "label_en", "type", "max"})
    item_id = identifier(values, "id", where)
    where = f"{where} {item_id}"
    if item_id == PRICE_ITEM_ID:
        raise Problem(where, f"id {PRICE_ITEM_ID!r} is reserved for the price score")
    kind = values["type"]
    maximum = number(values, "max", where)
    if maximum <= 0:
        raise Problem(where, f"max must be positive, not {maximum}")
    common = dict(id=item_id, category=identifier(values, "category", where),
                  label_zh=text(values, "label_zh", where),
                  label_en=text(values, "label_en", where),
                  maximum=maximum, guidance_zh=str(values.get("guidance_zh", "")))
    if kind == ItemKind.SUBJECTIVE.value:
        table(values, where, SUBJECTIVE_KEYS)
        minimum = number(values, "min", where, Decimal(0))
        step = number(values, "step", where)
        if step <= 0 or not Decimal(0) <= minimum < maximum:
            raise Problem(where, f"need step > 0 and 0 ≤ min < max (min {minimum}, max {maximum},"
                          f" step {step})")
        if (maximum - minimum) % step != 0:
            raise Problem(where, f"step {step} does not divide the range {minimum}–{maximum}")
        return ScoringItem(kind=ItemKind.SUBJECTIVE, minimum=minimum, step=step, **common)
    if kind != ItemKind.OBJECTIVE.value:
        raise Problem(where, f"type must be 'subjective' or 'objective', not {kind!r}")
    if "min" in values or "step" in values:
        raise Problem(where, "an objective item is computed: it has no min or step")
    mode = str(values.get("mode", ""))
    if mode not in RULE_MODES:
        raise Problem(where, f"mode must be one of {RULE_MODES}, not {mode!r}")
    clauses = tuple(_clause(entry, clause_where)
                    for clause_where, entry in each_table(values.get("clauses", []),
                                                          f"{where}.clauses"))
    try:
        rule = ObjectiveRule(
            mode=mode, maximum=maximum, clauses=clauses,
            unit_field=str(values["unit_field"]) if "unit_field" in values else None,
            points_per_unit=number(values, "points_per_unit", where)
            if mode == PER_UNIT and "points_per_unit" in values else None)
    except RuleError as exc:
        raise Problem(where, str(exc)) from None
    return ScoringItem(kind=ItemKind.OBJECTIVE, rule=rule, **common)


def _clause(raw: object, where: str) -> Clause:
    values = table(raw, where, CONDITION_KEYS | {"points"}, {"points"})
    return Clause(condition=parse_condition(values, where), points=number(values, "points", where))
