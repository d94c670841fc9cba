"""A small, safe rule language for objective items and computed pass/fail items.

Rules read structured bid data, never code: a condition names a field, an operator from a fixed
table and a literal value, e.g. ``{field = "price_form.duration_days", op = "<=", value = 365}``.
``{fact = "not_dishonest_entity"}`` is shorthand for ``facts.not_dishonest_entity == true``.

Fields:
- ``price_form.<name>``: a field read out from the opening record (开标一览表);
- ``facts.<name>``: a structured fact the platform or the agent established (credit checks,
  certificates, counts of similar contracts, ...);
- ``bid_price``: the read-out price; ``small_enterprise``: the declared small-enterprise status.

A field missing from a bidder's data is an error naming the bidder and the field, never a silent 0.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from typing import TYPE_CHECKING

from .rounding import to_decimal

if TYPE_CHECKING:
    from .model import BidderFacts

FactValue = bool | int | float | str | Decimal

ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EQUALITY = {"==": operator.eq, "!=": operator.ne}
MEMBERSHIP = {"in", "not_in"}
OPERATORS = frozenset(ORDERING) | frozenset(EQUALITY) | MEMBERSHIP
NAMESPACES = ("price_form.", "facts.")
PLAIN_FIELDS = ("bid_price", "small_enterprise")


class RuleError(ValueError):
    """A rule that cannot be read; the message names the rule and what is wrong."""


class MissingFact(KeyError):
    """A bidder lacks a field a rule reads."""

    def __init__(self, bidder_id: str, field_name: str) -> None:
        super().__init__(f"bidder {bidder_id}: no value for {field_name!r}, which a rule of the "
                         "evaluation method reads")
        self.bidder_id = bidder_id
        self.field_name = field_name

    def __str__(self) -> str:
        return str(self.args[0])


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def check_field_name(name: object) -> str:
    if not isinstance(name, str):
        raise RuleError(f"a field name must be text, not {name!r}")
    if name in PLAIN_FIELDS:
        return name
    for prefix in NAMESPACES:
        if name.startswith(prefix) and name[len(prefix):].isidentifier():
            return name
    raise RuleError(f"unknown field {name!r}; use price_form.<name>, facts.<name>, bid_price or "
                    "small_enterprise")


def read_field(facts: BidderFacts, name: str) -> FactValue:
    if name == "bid_price":
        return facts.price
    if name == "small_enterprise":
        return facts.small_enterprise
    prefix, key = name.split(".", 1)
    source: Mapping[str, FactValue] = facts.price_form if prefix == "price_form" else facts.facts
    if key not in source:
        raise MissingFact(facts.bidder_id, name)
    return source[key]


@dataclass(frozen=True)
class Condition:
    """``field op value``; the value's type fixes the comparison (number, text or yes/no)."""

    field: str
    op: str
    value: FactValue | tuple[FactValue, ...]

    def __post_init__(self) -> None:
        check_field_name(self.field)
        if self.op not in OPERATORS:
            raise RuleError(f"unknown operator {self.op!r}; known: {', '.join(sorted(OPERATORS))}")
        if self.op in MEMBERSHIP:
            if not isinstance(self.value, tuple) or not self.value:
                raise RuleError(f"operator {self.op!r} needs a non-empty list of values")
            if not all(isinstance(v, str) or _is_number(v) for v in self.value):
                raise RuleError(f"operator {self.op!r} takes a list of texts or numbers")
        elif isinstance(self.value, bool) or isinstance(self.value, str):
            if self.op not in EQUALITY:
                raise RuleError(f"{self.value!r} can only be compared with == or !=")
        elif not _is_number(self.value):
            raise RuleError(f"cannot compare {self.field} with {self.value!r}")

    def holds(self, facts: BidderFacts) -> bool:
        actual = read_field(facts, self.field)
        if self.op in MEMBERSHIP:
            found = any(_same(actual, v) for v in self.value)  # type: ignore[union-attr]
            return found if self.op == "in" else not found
        expected = self.value
        if isinstance(expected, bool):
            return EQUALITY[self.op](_as_bool(actual, facts, self.field), expected)
        if isinstance(expected, str):
            return EQUALITY[self.op](str(actual), expected)
        number = _as_number(actual, facts, self.field)
        compare: Callable[[Decimal, Decimal], bool] = ORDERING.get(self.op) or EQUALITY[self.op]
        return compare(number, to_decimal(expected))

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


def _same(actual: FactValue, expected: FactValue) -> bool:
    if _is_number(expected) and _is_number(actual):
        return to_decimal(actual) == to_decimal(expected)
    return str(actual) == str(expected)


def _as_bool(actual: FactValue, facts: BidderFacts, name: str) -> bool:
    if not isinstance(actual, bool):
        raise RuleError(f"bidder {facts.bidder_id}: {name} should be yes/no, got {actual!r}")
    return actual


def _as_number(actual: FactValue, facts: BidderFacts, name: str) -> Decimal:
    if not _is_number(actual) and not isinstance(actual, str):
        raise RuleError(f"bidder {facts.bidder_id}: {name} should be a number, got {actual!r}")
    try:
        return to_decimal(actual)
    except (TypeError, ValueError):
        raise RuleError(f"bidder {facts.bidder_id}: {name} should be a number, "
                        f"got {actual!r}") from None


def parse_condition(raw: Mapping[str, object], where: str) -> Condition:
    """Read a condition from a template table: either ``fact = "key"`` or field/op/value."""
    try:
        if "fact" in raw:
            key = raw["fact"]
            if not isinstance(key, str) or not key.isidentifier():
                raise RuleError(f"fact must be an identifier, not {key!r}")
            return Condition(field=f"facts.{key}", op="==", value=True)
        missing = [k for k in ("field", "op", "value") if k not in raw]
        if missing:
            raise RuleError(f"a condition needs 'fact', or 'field', 'op' and 'value' "
                            f"(missing: {', '.join(missing)})")
        value = raw["value"]
        if isinstance(value, list):
            value = tuple(value)
        return Condition(field=str(raw["field"]), op=str(raw["op"]), value=value)  # type: ignore[arg-type]
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None


# How the clauses of an objective item combine.
SUM = "sum"            # every clause that holds adds its points
FIRST = "first"        # tiers: the first clause that holds gives its points
PER_UNIT = "per_unit"  # points per unit of a numeric field
RULE_MODES = (SUM, FIRST, PER_UNIT)


@dataclass(frozen=True)
class Clause:
    condition: Condition
    points: Decimal


@dataclass(frozen=True)
class ObjectiveRule:
    """The computed score of an objective item, capped at the item's maximum."""

    mode: str
    maximum: Decimal
    clauses: tuple[Clause, ...] = ()
    unit_field: str | None = None
    points_per_unit: Decimal | None = None
    fields: tuple[str, ...] = dataclass_field(init=False)

    def __post_init__(self) -> None:
        if self.mode not in RULE_MODES:
            raise RuleError(f"unknown rule mode {self.mode!r}; known: {', '.join(RULE_MODES)}")
        if self.mode == PER_UNIT:
            if self.unit_field is None or self.points_per_unit is None or self.clauses:
                raise RuleError("per_unit needs unit_field and points_per_unit, and no clauses")
            check_field_name(self.unit_field)
            if self.points_per_unit <= 0:
                raise RuleError("points_per_unit must be positive")
            names: tuple[str, ...] = (self.unit_field,)
        else:
            if not self.clauses:
                raise RuleError(f"mode {self.mode!r} needs at least one clause")
            for clause in self.clauses:
                if not Decimal(0) <= clause.points <= self.maximum:
                    raise RuleError(f"clause {clause.condition.describe()} gives "
                                    f"{clause.points} points, outside 0–{self.maximum}")
            names = tuple(dict.fromkeys(c.condition.field for c in self.clauses))
        object.__setattr__(self, "fields", names)

    def score(self, facts: BidderFacts) -> Decimal:
        if self.mode == PER_UNIT:
            units = _as_number(read_field(facts, self.unit_field or ""), facts,
                               self.unit_field or "")
            if units < 0:
                raise RuleError(f"bidder {facts.bidder_id}: {self.unit_field} is negative")
            points = units * (self.points_per_unit or Decimal(0))
        elif self.mode == FIRST:
            points = next((c.points for c in self.clauses if c.condition.holds(facts)), Decimal(0))
        else:
            points = sum((c.points for c in self.clauses if c.condition.holds(facts)), Decimal(0))
        return min(points, self.maximum)
