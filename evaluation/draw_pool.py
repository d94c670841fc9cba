"""From the database to the pure recusal core: the candidates of a draw, its context and the configured rules.

Only experts holding a requested specialty are loaded (recusal reports on candidates only, so the outcome is
the same as loading the whole pool), with plain Core queries rather than ORM objects, since a provincial pool
holds 100,000 experts. Recent draws are read from the sealed assignments of draws in the frequency window.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from core.accounts import Organisation
from core.clock import local, now
from core.db import db
from evaluation.draw_models import DRAWN_STATES, Draw, DrawAssignment
from evaluation.draw_sealing import keys_of
from evaluation.experts import (
    DeclaredRelation,
    Expert,
    ExpertSpecialty,
    PastEmployment,
    Unavailability,
)
from evaluation.recusal import ExpertStatus, DeclaredRelation as DeclaredRelationRule
from evaluation.recusal import (
    DrawContext,
    DrawFrequency,
    ExpertCandidate,
    InactiveStatus,
    PartyEmployee,
    RegionFilter,
    RuleSet,
    Unavailable,
)
from evaluation.recusal import PastEmployment as PastJob


@dataclass(frozen=True)
class DrawSettings:
    """Platform rules that vary by province; override any of them in ``app.config["EXPERT_DRAW"]``."""

    #: Minutes a drawn expert has to confirm before the seat is redrawn.
    confirmation_minutes: int = 30
    #: At most ``max_draws`` draws in ``window_days`` days (DRAW_FREQUENCY, docs/draw.md §6).
    max_draws: int = 3
    window_days: int = 30
    #: Former employees of a party are recused for this many years (实施条例第9条: 3 years).
    lookback_years: int = 3
    one_per_employer: bool = True
    #: The list may be opened to the committee this many minutes before the evaluation starts (sign-in).
    sign_in_minutes: int = 60
    #: GP budgets at or above this need 7 members (87号令第47条).
    large_procurement_budget: int = 10_000_000

    @classmethod
    def current(cls) -> "DrawSettings":
        overrides = current_app.config.get("EXPERT_DRAW") or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in overrides.items() if k in known})

    def rule_set(self) -> RuleSet:
        return RuleSet(rules=(PartyEmployee(lookback_years=self.lookback_years), DeclaredRelationRule(),
                              InactiveStatus(), DrawFrequency(), Unavailable(), RegionFilter()),
                       one_per_employer=self.one_per_employer)


def split_codes(text: str | None) -> tuple[str, ...]:
    return tuple(code for code in (text or "").split() if code)


def draw_context(draw: Draw, bidder_credit_codes: Iterable[str], settings: DrawSettings,
                 draw_date: date | None = None) -> DrawContext:
    project = draw.section.project
    supervisors = frozenset({draw.supervisor_org.credit_code}) if draw.supervisor_org else frozenset()
    return DrawContext(
        tenderee_credit_code=project.tenderee.credit_code, agency_credit_code=project.agency.credit_code,
        draw_date=draw_date or local(now()).date(), evaluation_date=draw.evaluation_date,
        bidder_credit_codes=frozenset(bidder_credit_codes), supervisor_credit_codes=supervisors,
        specialties=tuple(q.specialty for q in draw.quotas), regions_allowed=split_codes(draw.regions_allowed),
        regions_excluded=split_codes(draw.regions_excluded), max_draws=settings.max_draws,
        window_days=settings.window_days)


def recent_draw_dates(window_days: int, today: date, *, exclude_draw_id: int | None = None) -> dict[str, list[date]]:
    """Expert code → the days they were drawn (each seat offered counts) in the window ending ``today``;
    a re-check leaves out the draw it checks, whose own seats must not count against its members."""
    since = now() - timedelta(days=window_days + 1)
    draws = db.session.scalars(sa.select(Draw).where(Draw.state.in_(DRAWN_STATES), Draw.drawn_at >= since,
                                                     Draw.id != (exclude_draw_id or 0))
                               .options(selectinload(Draw.list_keys))).all()
    seen: dict[str, list[date]] = defaultdict(list)
    for draw in draws:
        keys = keys_of(draw)
        for assignment in db.session.scalars(sa.select(DrawAssignment).where(DrawAssignment.draw_id == draw.id)):
            day = local(assignment.notified_at).date()
            if day <= today:
                seen[keys.expert_of(assignment)].append(day)
    return seen


def load_candidates(specialties: Sequence[str], evaluation_date: date, recent: dict[str, list[date]],
                    *, codes: Sequence[str] | None = None) -> list[ExpertCandidate]:
    """The recusal facts of every expert holding a code under ``specialties`` (or of the given ``codes``)."""
    if codes is not None:
        ids = sa.select(Expert.id).where(Expert.code.in_(list(codes)))
    else:
        ids = sa.select(ExpertSpecialty.expert_id).where(
            sa.or_(*[ExpertSpecialty.code.startswith(prefix, autoescape=True) for prefix in specialties])).distinct()
    ids = ids.scalar_subquery()
    rows = db.session.execute(sa.select(Expert.id, Expert.code, Expert.region_code, Expert.status,
                                        Expert.employer_credit_code).where(Expert.id.in_(ids))).all()
    held: dict[int, list[str]] = defaultdict(list)
    for expert_id, code in db.session.execute(sa.select(ExpertSpecialty.expert_id, ExpertSpecialty.code)
                                              .where(ExpertSpecialty.expert_id.in_(ids))):
        held[expert_id].append(code)
    past: dict[int, list[PastJob]] = defaultdict(list)
    for expert_id, credit_code, start, end in db.session.execute(
            sa.select(PastEmployment.expert_id, PastEmployment.credit_code, PastEmployment.start, PastEmployment.end)
            .where(PastEmployment.expert_id.in_(ids))):
        past[expert_id].append(PastJob(credit_code, end, start))
    relations: dict[int, set[str]] = defaultdict(set)
    for expert_id, credit_code in db.session.execute(
            sa.select(DeclaredRelation.expert_id, DeclaredRelation.credit_code).where(DeclaredRelation.expert_id.in_(ids))):
        relations[expert_id].add(credit_code)
    # Penalties and dishonest-list entries kept as credit records (信用) exclude as the expert's own status does.
    from supervision.credit import penalised_expert_ids

    penalised = penalised_expert_ids(on=evaluation_date)
    away = set(db.session.scalars(sa.select(Unavailability.expert_id).where(
        Unavailability.expert_id.in_(ids), Unavailability.start <= evaluation_date,
        Unavailability.end >= evaluation_date)))
    return [ExpertCandidate(
        expert_id=code, specialties=tuple(held[expert_id]), region=region,
        status=ExpertStatus.PENALISED if expert_id in penalised else status,
        employer_credit_code=employer or "", past_employers=tuple(past[expert_id]),
        declared_relations=frozenset(relations[expert_id]), recent_draw_dates=tuple(recent.get(code, ())),
        unavailable_dates=frozenset({evaluation_date}) if expert_id in away else frozenset(),
    ) for expert_id, code, region, status, employer in rows]


def supervisory_authority_for(region_code: str) -> Organisation | None:
    """The supervising authority by default: the one whose region is the project's, or its city, or province."""
    from core.accounts import OrgKind

    authorities = db.session.scalars(sa.select(Organisation).where(
        Organisation.kind == OrgKind.SUPERVISORY_AUTHORITY).order_by(Organisation.id)).all()
    for prefix in (region_code, region_code[:4] + "00", region_code[:2] + "0000"):
        for org in authorities:
            if org.region_code == prefix:
                return org
    return None
