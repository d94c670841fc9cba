"""Recusal (回避) before an expert draw: configurable rules over plain facts, fast enough for 100,000 experts.

Why: rules.md §2 lists who may not evaluate a section: employees, now or within the previous 3 years, of a
party (政府采购法实施条例第9条; 评标专家暂行规定第12条 for works), experts with a declared interest, the
penalised, and experts drawn too often. The web layer loads ``ExpertCandidate`` facts, builds an
``ExpertIndex`` once per pool version, and each draw is then a handful of numpy operations and dictionary
look-ups. Every exclusion keeps its rule code and a Chinese and English reason, for supervisors only.
The committee composition check (招标投标法第37条 and its procurement counterparts) lives here too: both
decide who may sit on the committee before the draw runs.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from crypto.draw import PoolEntry, region_prefix


class ExpertStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENALISED = "penalised"


@dataclass(frozen=True)
class PastEmployment:
    credit_code: str
    end: date
    start: date | None = None


@dataclass(frozen=True)
class ExpertCandidate:
    """The facts recusal needs about one expert, read from the pool; no ORM object crosses this line."""

    expert_id: str
    specialties: tuple[str, ...]
    region: str
    status: ExpertStatus = ExpertStatus.ACTIVE
    employer_credit_code: str = ""
    past_employers: tuple[PastEmployment, ...] = ()
    declared_relations: frozenset[str] = frozenset()
    recent_draw_dates: tuple[date, ...] = ()
    unavailable_dates: frozenset[date] = frozenset()


@dataclass(frozen=True)
class DrawContext:
    """One section's draw: its parties, dates, requested specialties and the configured limits."""

    tenderee_credit_code: str
    draw_date: date
    evaluation_date: date
    agency_credit_code: str = ""
    bidder_credit_codes: frozenset[str] = frozenset()
    supervisor_credit_codes: frozenset[str] = frozenset()
    specialties: tuple[str, ...] = ()
    regions_allowed: tuple[str, ...] = ()
    regions_excluded: tuple[str, ...] = ()
    max_draws: int = 3
    window_days: int = 30

    def parties(self) -> Iterator[tuple[str, str, str]]:
        """(credit code, role in Chinese, role in English) for every organisation an expert must not serve."""
        yield self.tenderee_credit_code, "招标人", "the tenderee"
        if self.agency_credit_code:
            yield self.agency_credit_code, "招标代理机构", "the agency"
        for code in sorted(self.bidder_credit_codes):
            yield code, "投标人", "bidder"
        for code in sorted(self.supervisor_credit_codes):
            yield code, "监督部门", "the supervisory authority"


@dataclass(frozen=True)
class Exclusion:
    expert_id: str
    rule: str
    reason_zh: str
    reason_en: str


_STATUS_CODES = {ExpertStatus.ACTIVE: 0, ExpertStatus.SUSPENDED: 1, ExpertStatus.PENALISED: 2}


def _region_int(code: str) -> int:
    return int(code) if len(code) == 6 and code.isdigit() else -1


class ExpertIndex:
    """Column arrays and inverted indexes over the pool, so a rule touches only the experts it concerns."""

    def __init__(self, candidates: Sequence[ExpertCandidate]):
        self.ids = [c.expert_id for c in candidates]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("expert ids in the pool must be unique")
        self.size = len(candidates)
        self.entries = [PoolEntry(c.expert_id, c.specialties, c.employer_credit_code, c.region) for c in candidates]
        for entry in self.entries:
            entry.canonical  # noqa: B018  (encoded once here, so no draw pays for it)
        self.order_by_id = np.array(sorted(range(self.size), key=self.ids.__getitem__), dtype=np.int64)
        self.rank_by_id = np.empty(self.size, dtype=np.int64)
        self.rank_by_id[self.order_by_id] = np.arange(self.size)
        self.status = np.array([_STATUS_CODES[c.status] for c in candidates], dtype=np.int8)
        self.region = np.array([_region_int(c.region) for c in candidates], dtype=np.int64)
        specialty, current, relation, unavailable = (defaultdict(list) for _ in range(4))
        past: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        draw_index: list[int] = []
        draw_day: list[int] = []
        for i, c in enumerate(candidates):
            for code in c.specialties:
                specialty[code].append(i)
            if c.employer_credit_code:
                current[c.employer_credit_code].append(i)
            for job in c.past_employers:
                past[job.credit_code].append((i, job.end.toordinal()))
            for code in c.declared_relations:
                relation[code].append(i)
            for day in c.unavailable_dates:
                unavailable[day.toordinal()].append(i)
            draw_index += [i] * len(c.recent_draw_dates)
            draw_day += [d.toordinal() for d in c.recent_draw_dates]
        def as_array(table: dict[Any, list[int]]) -> dict[Any, np.ndarray]:
            return {key: np.array(positions, dtype=np.int64) for key, positions in table.items()}

        self.by_specialty, self.by_employer = as_array(specialty), as_array(current)
        self.by_relation, self.unavailable_on = as_array(relation), as_array(unavailable)
        self.past_by_employer = {k: np.array(v, dtype=np.int64).reshape(-1, 2) for k, v in past.items()}
        self.draw_index = np.array(draw_index, dtype=np.int64)
        self.draw_day = np.array(draw_day, dtype=np.int64)

    def specialty_mask(self, prefixes: Sequence[str]) -> np.ndarray:
        """Experts holding a code under any requested prefix; no prefixes means the whole pool."""
        if not prefixes:
            return np.ones(self.size, dtype=bool)
        mask = np.zeros(self.size, dtype=bool)
        for code, members in self.by_specialty.items():
            if code.startswith(tuple(prefixes)):
                mask[members] = True
        return mask

    def region_mask(self, codes: Sequence[str]) -> np.ndarray:
        """Experts whose GB/T 2260 region lies under any of the codes (350900 covers 3509xx)."""
        mask = np.zeros(self.size, dtype=bool)
        for code in codes:
            prefix = region_prefix(code)
            if not prefix.isdigit() or len(code) != 6:
                raise ValueError(f"region filter {code!r} is not a 6-digit GB/T 2260 code")
            mask |= (self.region // 10 ** (6 - len(prefix))) == int(prefix)
        return mask


Hit = tuple[np.ndarray, str, str]


class RecusalRule(Protocol):
    code: str

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        """Groups of excluded expert positions sharing one reason (Chinese, English)."""
        ...


@dataclass(frozen=True)
class PartyEmployee:
    """Current employees, and those who left within ``lookback_years``, of the tenderee, agency, bidders or
    supervisor (实施条例第9条: 参加采购活动前3年内与供应商存在劳动关系)."""

    lookback_years: int = 3
    code: str = "PARTY_EMPLOYEE"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        cutoff = _years_before(context.draw_date, self.lookback_years).toordinal()
        for credit_code, role_zh, role_en in context.parties():
            if credit_code in index.by_employer:
                yield (index.by_employer[credit_code], f"现为{role_zh}（{credit_code}）员工",
                       f"currently employed by {role_en} ({credit_code})")
            for position, end in index.past_by_employer.get(credit_code, np.empty((0, 2), np.int64)).tolist():
                if end >= cutoff:
                    left = date.fromordinal(end).isoformat()
                    yield (np.array([position]), f"{self.lookback_years}年内曾为{role_zh}（{credit_code}）员工，至{left}",
                           f"employed by {role_en} ({credit_code}) until {left}, within {self.lookback_years} years")


@dataclass(frozen=True)
class DeclaredRelation:
    """Relations the expert declared to an organisation (利害关系, 暂行规定第12条第3项)."""

    code: str = "DECLARED_RELATION"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        for credit_code, role_zh, role_en in context.parties():
            if credit_code in index.by_relation:
                yield (index.by_relation[credit_code], f"申报与{role_zh}（{credit_code}）存在利害关系",
                       f"declared a relation to {role_en} ({credit_code})")


@dataclass(frozen=True)
class InactiveStatus:
    """Suspended experts, and those penalised for illegal acts in bidding (暂行规定第12条第4项)."""

    code: str = "EXPERT_STATUS"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        yield np.flatnonzero(index.status == 1), "暂停评标资格", "suspended from evaluation"
        yield np.flatnonzero(index.status == 2), "受过处罚", "penalised"


@dataclass(frozen=True)
class DrawFrequency:
    """At most ``context.max_draws`` draws in ``context.window_days`` days: an expert already drawn that
    often in the window ending on the draw date is left out, so nobody becomes a fixture on committees."""

    code: str = "DRAW_FREQUENCY"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        today = context.draw_date.toordinal()
        recent = (index.draw_day > today - context.window_days) & (index.draw_day <= today)
        counts = np.bincount(index.draw_index[recent], minlength=index.size)
        over = np.flatnonzero(counts >= context.max_draws)
        for times in np.unique(counts[over]).tolist():
            yield (over[counts[over] == times],
                   f"近{context.window_days}天内已被抽取{times}次（上限{context.max_draws}次）",
                   f"drawn {times} times in the last {context.window_days} days (limit {context.max_draws})")


@dataclass(frozen=True)
class Unavailable:
    """Experts who marked the evaluation date as unavailable in their calendar."""

    code: str = "UNAVAILABLE"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        day = context.evaluation_date
        members = index.unavailable_on.get(day.toordinal())
        if members is not None:
            yield members, f"评标日{day.isoformat()}不能参加", f"not available on the evaluation date {day.isoformat()}"


@dataclass(frozen=True)
class RegionFilter:
    """The request's allowed and excluded regions (GB/T 2260 codes, a city code covering its districts)."""

    code: str = "REGION"

    def hits(self, index: ExpertIndex, context: DrawContext) -> Iterator[Hit]:
        if context.regions_allowed:
            allowed = "、".join(context.regions_allowed)
            yield (np.flatnonzero(~index.region_mask(context.regions_allowed)), f"不在允许的地区（{allowed}）",
                   f"outside the allowed regions ({', '.join(context.regions_allowed)})")
        if context.regions_excluded:
            excluded = "、".join(context.regions_excluded)
            yield (np.flatnonzero(index.region_mask(context.regions_excluded)), f"属于排除的地区（{excluded}）",
                   f"in an excluded region ({', '.join(context.regions_excluded)})")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class RuleSet:
    """The configured rules; ``one_per_employer`` is honoured by the draw itself (crypto.draw)."""

    rules: tuple[RecusalRule, ...] = field(default_factory=lambda: (
        PartyEmployee(), DeclaredRelation(), InactiveStatus(), DrawFrequency(), Unavailable(), RegionFilter()))
    one_per_employer: bool = True


@dataclass(frozen=True)
class RecusalResult:
    eligible: tuple[PoolEntry, ...]
    exclusions: tuple[Exclusion, ...]
    candidates: int
    one_per_employer: bool


def apply_recusal(index: ExpertIndex, context: DrawContext, rule_set: RuleSet | None = None) -> RecusalResult:
    """The eligible pool in canonical order (ascending id) and every exclusion among the candidates, i.e.
    the experts holding a requested specialty; experts outside the specialties are simply not candidates."""
    rule_set = rule_set or RuleSet()
    candidate = index.specialty_mask(context.specialties)
    excluded = np.zeros(index.size, dtype=bool)
    reasons: dict[tuple[str, str, str], int] = {}
    keys: list[np.ndarray] = []
    for rule in rule_set.rules:
        for members, reason_zh, reason_en in rule.hits(index, context):
            members = members[candidate[members]]
            if members.size:
                excluded[members] = True
                reason = reasons.setdefault((rule.code, reason_zh, reason_en), len(reasons))
                keys.append(index.rank_by_id[members] * _MAX_REASONS + reason)
    keep = candidate & ~excluded
    order = index.order_by_id[keep[index.order_by_id]]
    return RecusalResult(tuple(index.entries[i] for i in order.tolist()), _exclusions(index, reasons, keys),
                         int(candidate.sum()), rule_set.one_per_employer)


_MAX_REASONS = 1 << 20


def _exclusions(index: ExpertIndex, reasons: dict[tuple[str, str, str], int],
                keys: list[np.ndarray]) -> tuple[Exclusion, ...]:
    """One exclusion per expert and distinct reason, ordered by expert id, then by rule order."""
    if not keys:
        return ()
    by_number = list(reasons)
    unique = np.unique(np.concatenate(keys))
    positions = index.order_by_id[unique // _MAX_REASONS].tolist()
    return tuple(Exclusion(index.ids[p], *by_number[r]) for p, r in zip(positions, (unique % _MAX_REASONS).tolist()))


def recheck(candidates: Sequence[ExpertCandidate], context: DrawContext,
            rule_set: RuleSet | None = None) -> tuple[Exclusion, ...]:
    """Re-run the rules over drawn experts, e.g. once the bidders are known after the deadline (issue 6);
    an exclusion found here leads to a replacement with reason "recused"."""
    unrestricted = replace(context, specialties=())
    return apply_recusal(ExpertIndex(candidates), unrestricted, rule_set).exclusions


# --- committee composition (rules.md §2) ------------------------------------------------------------------

@dataclass(frozen=True)
class CommitteeRule:
    name: str
    min_members: int
    source: str
    odd: bool = True
    expert_share: Fraction = Fraction(2, 3)


ENGINEERING = CommitteeRule("engineering", 5, "招标投标法第37条")
WATER_WORKS = CommitteeRule("water_works", 7, "水利工程评标委员会 7人以上单数 (rules.md §2)")
GOVERNMENT_PROCUREMENT = CommitteeRule("government_procurement", 5, "87号令第47条")
GOVERNMENT_PROCUREMENT_LARGE = CommitteeRule("government_procurement_large", 7, "87号令第47条 (预算≥1000万元或技术复杂)")
NEGOTIATION = CommitteeRule("negotiation", 3, "竞争性谈判/磋商/询价 3人以上单数 (rules.md §2, recalled)")


def committee_rule_for(procedure: str, *, budget: Decimal | None = None, complex_project: bool = False,
                       large_budget: Decimal = Decimal(10000000)) -> CommitteeRule:
    """procedure: "engineering", "water_works", "government_procurement", or "negotiation" / "consultation" /
    "inquiry" (谈判, 磋商, 询价)."""
    if procedure == "government_procurement":
        large = complex_project or (budget is not None and budget >= large_budget)
        return GOVERNMENT_PROCUREMENT_LARGE if large else GOVERNMENT_PROCUREMENT
    rules = {"engineering": ENGINEERING, "water_works": WATER_WORKS, "negotiation": NEGOTIATION,
             "consultation": NEGOTIATION, "inquiry": NEGOTIATION}
    if procedure not in rules:
        raise ValueError(f"unknown procedure {procedure!r}; expected one of {', '.join(sorted(rules))}, "
                         "government_procurement")
    return rules[procedure]


class CommitteeCompositionError(ValueError):
    """A refused committee; the web layer shows ``message`` as a rule violation (core.errors.RuleViolation).
    Not a subclass of it: importing ``core`` would pull in Flask and SQLAlchemy."""

    code = "committee_composition"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def check_committee_composition(experts: int, tenderee_representatives: int, rule: CommitteeRule) -> None:
    """Refuse a committee that is too small, even-sized, or has too few experts (n − reps ≥ 2/3 · n)."""
    members = experts + tenderee_representatives
    if experts < 0 or tenderee_representatives < 0:
        raise CommitteeCompositionError("人数不能为负 / member counts cannot be negative")
    if members < rule.min_members or (rule.odd and members % 2 == 0):
        raise CommitteeCompositionError(
            f"委员会须为{rule.min_members}人以上单数，现为{members}人（{rule.source}） / the committee must have "
            f"an odd number of at least {rule.min_members} members; {members} requested ({rule.name})")
    if experts < rule.expert_share * members:
        raise CommitteeCompositionError(
            f"专家不得少于成员总数的{rule.expert_share}：{members}人中专家{experts}人（{rule.source}） / experts must "
            f"be at least {rule.expert_share} of the members: {experts} of {members} ({rule.name})")
