"""Data the scoring core reads and returns: evaluation methods, bidders' facts, outliers.

These are plain frozen dataclasses so the Flask layer can persist them field by field; nothing here
touches a database. A ``Method`` is built by ``methods.parse_method`` from a template and is already
validated when it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

import numpy as np

from .price import BenchmarkParams
from .rounding import Rounding
from .rules import Condition, FactValue, ObjectiveRule


@dataclass(frozen=True)
class BidderFacts:
    """What the method's rules may read about one bid.

    ``price`` is the read-out bid price (投标报价); ``corrected_price`` the price after arithmetic
    correction, when the committee made one. ``price_form`` holds the other read-out fields of the
    opening record (开标一览表); ``facts`` structured facts such as credit checks.
    """

    bidder_id: str
    price: Decimal
    small_enterprise: bool = False
    corrected_price: Decimal | None = None
    price_form: Mapping[str, FactValue] = field(default_factory=dict)
    facts: Mapping[str, FactValue] = field(default_factory=dict)

    @property
    def reviewed_price(self) -> Decimal:
        """The price after arithmetic correction, the starting point of every evaluated price."""
        return self.price if self.corrected_price is None else self.corrected_price


@dataclass(frozen=True)
class SectionFacts:
    """Section-level data: the ceiling price (最高投标限价 / 预算) and a K drawn at the opening."""

    ceiling_price: Decimal | None = None
    k_coefficient: Decimal | None = None


def _price_within_ceiling(bidder: BidderFacts, section: SectionFacts) -> bool:
    """The price after any accepted arithmetic correction is the one held against the ceiling."""
    return section.ceiling_price is None or bidder.reviewed_price <= section.ceiling_price


# Pass/fail checks the platform decides itself. A bid above the ceiling price or budget is rejected
# (实施条例第51条(五), 87号令第63条) [recalled]; with no ceiling set the check passes.
BUILTIN_CHECKS: Mapping[str, Callable[[BidderFacts, SectionFacts], bool]] = MappingProxyType({
    "price_within_ceiling": _price_within_ceiling,
})


@dataclass(frozen=True)
class PassFailItem:
    """One item of a pass/fail stage; computed when it has a condition or a built-in check."""

    id: str
    label_zh: str
    label_en: str
    condition: Condition | None = None
    check: str | None = None

    @property
    def computed(self) -> bool:
        return self.condition is not None or self.check is not None

    def decide(self, bidder: BidderFacts, section: SectionFacts) -> bool:
        if self.check is not None:
            return BUILTIN_CHECKS[self.check](bidder, section)
        if self.condition is None:
            raise ValueError(f"pass/fail item {self.id} is decided by the experts' votes")
        return self.condition.holds(bidder)


@dataclass(frozen=True)
class Stage:
    """A pass/fail stage: qualification review (资格审查) or compliance review (符合性审查)."""

    id: str
    name_zh: str
    name_en: str
    items: tuple[PassFailItem, ...]


class ItemKind(StrEnum):
    SUBJECTIVE = "subjective"
    OBJECTIVE = "objective"
    PRICE = "price"


@dataclass(frozen=True)
class Category:
    """A group of scoring items with its points (the weight): 技术, 商务, 价格, ..."""

    id: str
    label_zh: str
    label_en: str
    weight: Decimal


@dataclass(frozen=True)
class ScoringItem:
    """A detailed-scoring item. Only subjective items are typed by experts."""

    id: str
    category: str
    label_zh: str
    label_en: str
    kind: ItemKind
    maximum: Decimal
    minimum: Decimal = Decimal(0)
    step: Decimal | None = None
    rule: ObjectiveRule | None = None
    guidance_zh: str = ""


@dataclass(frozen=True)
class PriceAdjustment:
    """A quantified price adjustment of 经评审的最低投标价法: per unit of a numeric field."""

    id: str
    label_zh: str
    label_en: str
    unit_field: str
    percent_per_unit: Decimal | None = None
    amount_per_unit: Decimal | None = None


@dataclass(frozen=True)
class PriceSpec:
    """The price formula and its parameters."""

    formula: str
    deduction_rate: Decimal | None = None
    benchmark: BenchmarkParams | None = None
    k_range: tuple[Decimal, Decimal] | None = None
    adjustments: tuple[PriceAdjustment, ...] = ()
    price_unit: Decimal = Decimal(10000)
    quotient_places: int = 4


class Aggregation(StrEnum):
    MEAN = "mean"
    TRIMMED_MEAN = "trimmed_mean"


@dataclass(frozen=True)
class AggregationRule:
    """Arithmetic mean across experts, or the trimmed mean (drop the highest and the lowest)
    once the committee has ``trim_min_experts`` members (rules.md §3, seen-2nd: 7 or more).
    ``level`` says what is trimmed: each expert's category subtotal (``category``) or each item
    score (``item``)."""

    rule: Aggregation = Aggregation.MEAN
    trim_min_experts: int = 7
    level: str = "category"


@dataclass(frozen=True)
class OutlierPolicy:
    """Deviation flags (rules.md §3, seen-2nd): beyond ``sigma_multiplier`` σ of the others, or more
    than ``max_fraction`` of the item's maximum from the others' mean. σ is the sample standard
    deviation of the other experts' scores and is used only with ``min_others_for_sigma`` of them; a
    σ flag also needs a deviation above ``min_deviation_steps`` item steps, so one step away from
    unanimous colleagues (σ = 0) is not flagged [inferred]."""

    sigma_multiplier: float = 2.0
    max_fraction: float = 0.2
    min_others_for_sigma: int = 3
    min_deviation_steps: float = 1.0


@dataclass(frozen=True)
class Formula:
    """What a price formula means for ranking."""

    name: str
    ranks_by: str            # "total", "quotient" or "evaluated_price"
    price_item: bool         # scored as a price item in the array
    allows_adjustments: bool
    source: str


FORMULAS: Mapping[str, Formula] = MappingProxyType({
    "lowest_price_base": Formula("lowest_price_base", "total", True, False,
                                 "87号令第55条 低价优先法 [seen-2nd]"),
    "benchmark_price": Formula("benchmark_price", "total", True, False,
                               "rules.md §3 works 综合评估法 benchmark price [seen]"),
    "lowest_evaluated_price": Formula("lowest_evaluated_price", "evaluated_price", False, False,
                                      "87号令第54条 最低评标价法 [recalled]"),
    "reviewed_lowest_bid_price": Formula(
        "reviewed_lowest_bid_price", "evaluated_price", False, True,
        "评标委员会和评标方法暂行规定第30–33条 [recalled]"),
    "cost_performance": Formula("cost_performance", "quotient", False, False,
                                "财政部令第18号第52条 性价比法 [recalled]"),
})

TIE_BREAKS = ("lower_bid_price", "lower_evaluated_price", "higher_technical", "draw")
TECHNICAL_CATEGORY = "technical"
PRICE_CATEGORY = "price"
PRICE_ITEM_ID = "price"


@dataclass(frozen=True)
class Method:
    """A validated evaluation method (评标办法); derived arrays index items in ``items`` order."""

    id: str
    name_zh: str
    name_en: str
    sector: str
    source: str
    certainty: str
    price: PriceSpec
    stages: tuple[Stage, ...] = ()
    categories: tuple[Category, ...] = ()
    items: tuple[ScoringItem, ...] = ()
    tie_breaks: tuple[str, ...] = ("draw",)
    candidates: int = 3
    aggregation: AggregationRule = AggregationRule()
    rounding: Rounding = Rounding()
    outliers: OutlierPolicy = OutlierPolicy()
    description: str = ""
    item_ids: tuple[str, ...] = field(init=False)
    item_index: Mapping[str, int] = field(init=False)
    category_ids: tuple[str, ...] = field(init=False)
    item_category: np.ndarray = field(init=False, repr=False, compare=False)
    subjective_mask: np.ndarray = field(init=False, repr=False, compare=False)
    maxima: np.ndarray = field(init=False, repr=False, compare=False)
    minima: np.ndarray = field(init=False, repr=False, compare=False)
    steps: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = tuple(item.id for item in self.items)
        categories = tuple(c.id for c in self.categories)
        put = object.__setattr__
        put(self, "item_ids", ids)
        put(self, "item_index", MappingProxyType({item_id: i for i, item_id in enumerate(ids)}))
        put(self, "category_ids", categories)
        put(self, "item_category",
            np.array([categories.index(item.category) for item in self.items], dtype=np.intp))
        put(self, "subjective_mask",
            np.array([item.kind is ItemKind.SUBJECTIVE for item in self.items], dtype=bool))
        put(self, "maxima", np.array([float(item.maximum) for item in self.items]))
        put(self, "minima", np.array([float(item.minimum) for item in self.items]))
        put(self, "steps", np.array([float(item.step or 0) for item in self.items]))
        for array in (self.item_category, self.subjective_mask, self.maxima, self.minima,
                      self.steps):
            array.setflags(write=False)

    @property
    def formula(self) -> Formula:
        return FORMULAS[self.price.formula]

    def item(self, item_id: str) -> ScoringItem:
        return self.items[self.item_index[item_id]]

    def category(self, category_id: str) -> Category:
        return self.categories[self.category_ids.index(category_id)]

    def empty_scores(self, n_experts: int, n_bidders: int) -> np.ndarray:
        """A fresh experts × bidders × items array, NaN meaning "not entered yet"."""
        return np.full((n_experts, n_bidders, len(self.items)), np.nan, dtype=np.float64)


@dataclass(frozen=True)
class Outlier:
    """A flagged score for the chair and the expert (评分偏离 and the 第64条 error classes).

    ``reason`` is one of: ``deviation_sigma``, ``deviation_max_fraction``, ``out_of_range``,
    ``off_step``, ``objective_inconsistent``, ``sum_error``. ``reference`` is what the score was
    compared with (mean of the others, the computed score, the true sum); ``threshold`` the limit
    that was exceeded, when there is one.
    """

    expert: int
    bidder: int
    item_id: str
    reason: str
    score: float
    reference: float
    threshold: float | None = None
