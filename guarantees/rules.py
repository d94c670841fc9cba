"""The rules of bid security that vary by place and time, as configuration: rates, waivers, windows.

Defaults follow rules.md §4. Override them in the app config (``GUARANTEE_RULES``: a :class:`SecurityRules`)
or, for the demand-deposit rate, with ``BIDHALL_DEMAND_DEPOSIT_RATE`` (e.g. ``0.0035``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from core.clock import local
from trading.models import PROJECT_TYPE_LABELS, ProjectType, Section

FEN = Decimal("0.01")


@dataclass(frozen=True)
class WaiverRule:
    """Sections a waiver of the bid security may be granted for (e.g. 南平: 政府投资工程 under 10M yuan).

    Every condition left as ``None`` is not checked. :meth:`breaches` names each condition a section fails.
    """

    key: str
    description: str
    project_type: ProjectType | None = None
    government_invested: bool | None = None
    ceiling_below: Decimal | None = None
    source: str = ""

    def breaches(self, section: Section) -> list[str]:
        project, problems = section.project, []
        if self.project_type is not None and project.type is not self.project_type:
            problems.append(f"项目类型应为{PROJECT_TYPE_LABELS[self.project_type]} (the project must be "
                            f"{self.project_type.value})")
        if self.government_invested is not None and project.government_invested is not self.government_invested:
            problems.append("项目应为政府投资项目 (the project must be government-invested)")
        if self.ceiling_below is not None and section.ceiling_price >= self.ceiling_below:
            problems.append(f"标段最高投标限价应低于 {self.ceiling_below:,.0f} 元 (the section ceiling must be below "
                            f"{self.ceiling_below:,.0f} CNY)")
        return problems


GOVERNMENT_WORKS_UNDER_10M = WaiverRule(
    key="government_works_under_10m", description="政府投资工程建设项目，标段最高投标限价低于1000万元，免收投标保证金",
    project_type=ProjectType.WORKS, government_invested=True, ceiling_below=Decimal("10000000"),
    source="rules.md §4; seed excerpt 001 [366]")


@dataclass(frozen=True)
class SecurityRules:
    #: Annual demand-deposit (活期) rate paid on refunded cash deposits; PBOC benchmark 0.35% since 2015-10-24.
    demand_deposit_rate: Decimal = Decimal("0.0035")
    #: Interest day count: Chinese banks quote a daily rate of annual ÷ 360.
    day_count_basis: int = 360
    #: Refund deadline after contract signing or withdrawal (rules.md §4, 5 days).
    refund_within_days: int = 5
    #: A request's timestamp may differ from the server clock by at most this many seconds.
    request_window_seconds: int = 300
    #: Default guarantee validity when nothing else is known (rules.md §4: 180 days).
    default_validity_days: int = 180
    #: Minutes to wait before each retry of an issuer notice; after the last, the notice is marked failed.
    notice_retry_minutes: tuple[int, ...] = (1, 5, 15, 60, 240, 720)
    #: The bank account under which each section gets a virtual sub-account (prefix + section id).
    deposit_account_prefix: str = "35050100000059"
    waiver_rules: dict[str, WaiverRule] = field(
        default_factory=lambda: {GOVERNMENT_WORKS_UNDER_10M.key: GOVERNMENT_WORKS_UNDER_10M})


def rules() -> SecurityRules:
    configured = current_app.config.get("GUARANTEE_RULES")
    if isinstance(configured, SecurityRules):
        return configured
    rate = os.environ.get("BIDHALL_DEMAND_DEPOSIT_RATE")
    return SecurityRules(demand_deposit_rate=Decimal(rate)) if rate else SecurityRules()


def premium_for(amount: Decimal, rate: Decimal, minimum: Decimal) -> Decimal:
    """Premium = amount × rate, at least the product's minimum, rounded half-up to the fen."""
    return max((amount * rate).quantize(FEN, rounding=ROUND_HALF_UP), minimum)


def days_held(received_on: date, refunded_on: date) -> int:
    """Calendar days the money was held: the day received counts, the day refunded does not (算头不算尾)."""
    return max((refunded_on - received_on).days, 0)


def refund_interest(principal: Decimal, days: int, annual_rate: Decimal, basis: int = 360) -> Decimal:
    """Interest = principal × annual rate × days ÷ basis, rounded half-up (ROUND_HALF_UP) to the fen.

    Worked example: 300,000.00 held 17 days at 0.35% → 300000 × 0.0035 × 17 ÷ 360 = 49.5833… → 49.58.
    """
    return (principal * annual_rate * days / basis).quantize(FEN, rounding=ROUND_HALF_UP)


def minimum_valid_until(section: Section) -> date:
    """The latest day the guarantee must still cover: the deadline's date (Beijing) plus the bid validity.

    实施条例第26条: the bid security's validity equals the bid validity, which runs from the deadline.
    """
    return local(section.deadline).date() + timedelta(days=section.bid_validity_days)
