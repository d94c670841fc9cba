"""Builders for expert-pool and draw tests: experts with valid identity numbers, venues, sections past their deadline."""
from __future__ import annotations

import itertools
from datetime import timedelta

import sqlalchemy as sa

from core.accounts import OrgKind, Role
from core.clock import now
from core.db import db
from core.validators import make_credit_code
from evaluation import draw_operations as draws
from evaluation import expert_operations as ops
from evaluation.draw_confirmations import current_assignments
from evaluation.draw_sealing import keys_of
from evaluation.expert_identity import make_id_number
from evaluation.experts import Expert
from evaluation.venue_operations import create_venue

_serial = itertools.count(1)


def id_number(region: str = "350902", born: str = "19750615") -> str:
    return make_id_number(f"{region}{born}{next(_serial) % 1000:03d}")


def employer_code(n: int | None = None) -> str:
    return make_credit_code(f"91350100MA{(n if n is not None else next(_serial)) % 10**7:07d}")


def expert(specialty: str = "A0401", region: str = "350902", *, employer: str | None = None, user=None,
           past=(), name: str | None = None, born: str = "19750615") -> Expert:
    n = next(_serial)
    created = ops.create_expert(ops.ExpertInput(
        name=name or f"测试专家{'甲乙丙丁戊己庚辛壬癸'[n % 10]}{'子丑寅卯辰巳午未申酉戌亥'[n // 10 % 12]}",
        id_number=make_id_number(f"{region}{born}{n % 1000:03d}"), title="senior_engineer", region_code=region,
        specialties=[specialty], employer_name=f"单位{n}" if employer != "" else "",
        employer_credit_code=employer if employer is not None else employer_code(n + 5000000),
        mobile=f"139{n:08d}", past_employments=list(past)), actor=None)
    if user is not None:
        ops.link_user(created, user, actor=None)
    return created


def pool(groups: dict[tuple[str, str], int], factory=None) -> list[Expert]:
    """{(specialty, region): count} → experts; with ``factory`` each gets an expert sign-in."""
    made = []
    for (specialty, region), count in groups.items():
        for _ in range(count):
            user = factory.user(Role.EXPERT) if factory else None
            made.append(expert(specialty, region, user=user))
    db.session.commit()
    return made


def venue(code: str = "NDGGZY-01", region: str = "350900", seats: int = 9, neighbours: str = ""):
    made = create_venue(code=code, name=f"{code}评标室", region_code=region, seats=seats, neighbour_regions=neighbours)
    db.session.commit()
    return made


def past_deadline(section) -> None:
    """The bid deadline passes (tests move the clock by moving the deadline)."""
    section.deadline = now() - timedelta(minutes=1)
    db.session.commit()


def sign_in_time(draw) -> None:
    """The evaluation is about to start (tests move the clock by moving the evaluation time)."""
    draw.evaluation_at = now() + timedelta(minutes=10)
    db.session.commit()


def request(section, agent, venues, *, quotas=(("A04", 5, 1), ("B01", 1, 1)), reps: int = 1, minutes_ahead: int = 30,
            **kwargs):
    made = draws.request_draw(
        section, agent=agent, quotas=[draws.QuotaInput(*q) for q in quotas], tenderee_representatives=reps,
        evaluation_at=max(now(), section.deadline) + timedelta(minutes=minutes_ahead),
        venues=[draws.VenueInput(v, v.seats) for v in venues], **kwargs)
    db.session.commit()
    return made


def supervisor_org(factory):
    return factory.org(OrgKind.SUPERVISORY_AUTHORITY)


def members(draw) -> dict[str, object]:
    """Expert code → the current assignment (test-side unsealing, as a supervisor's page does)."""
    keys = keys_of(draw)
    return {keys.open("assignment", a.expert_sealed).decode(): a for a in current_assignments(draw).values()}


def experts_by_code(codes) -> dict[str, Expert]:
    return {e.code: e for e in db.session.scalars(sa.select(Expert).where(Expert.code.in_(list(codes))))}
