"""Builders for expert-pool and draw tests: experts with valid identity numbers, venues, sections past their deadline,
supervisors holding encryption keys, and the drawn list opened as a supervisor opens it."""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import sqlalchemy as sa

from core.accounts import OrgKind, Role, User
from core.clock import now
from core.db import db
from core.validators import make_credit_code
from evaluation import draw_operations as draws
from evaluation import expert_operations as ops
from evaluation.draw_models import ListKeyRecipient
from evaluation.draw_sealing import OpenedList, open_sealed_list, sealed_list_package
from evaluation.expert_identity import make_id_number
from evaluation.experts import Expert
from evaluation.venue_operations import create_venue
from tests.pki_helpers import ENCRYPTION_KEYS, enrol_directly

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


def supervisor(factory, organisation=None) -> User:
    """A supervisor holding a personal encryption certificate, its private key kept by the test
    (tests.pki_helpers.ENCRYPTION_KEYS): a draw's list is sealed to it at the reveal."""
    user = factory.user(Role.SUPERVISOR, organisation=organisation)
    enrol_directly(user)
    db.session.commit()
    return user


def key_of(user: User):
    """The encryption private key the test holds for the user's current encryption certificate."""
    from core.pki import Purpose, current_certificate

    return ENCRYPTION_KEYS[current_certificate(user, Purpose.ENCRYPTION).fingerprint]


def opened_list(draw, supervisor: User | None = None) -> OpenedList:
    """The drawn list as a supervisor of the draw opens it, with bidtool's procedure (draw_sealing.open_sealed_list)
    over the package the sealed-list endpoint sends, and the supervisor's own key."""
    rows = [k for k in draw.list_keys if k.recipient is ListKeyRecipient.SUPERVISION
            and k.recipient_fingerprint in ENCRYPTION_KEYS and (supervisor is None or k.user_id == supervisor.id)]
    assert rows, f"draw {draw.id} is sealed to no supervisor whose key this test holds"
    package = json.loads(json.dumps(sealed_list_package(draw, db.session.get(User, rows[0].user_id))))
    return open_sealed_list(package, ENCRYPTION_KEYS[rows[0].recipient_fingerprint], draw_id=draw.id)


def members(draw) -> dict[str, object]:
    """Expert code → the current assignment, unsealed on the test's side as a supervisor does (opened_list)."""
    by_id = {a.id: a for a in draw.assignments}
    return {code: by_id[seat.assignment] for code, seat in opened_list(draw).members().items()}


def experts_by_code(codes) -> dict[str, Expert]:
    return {e.code: e for e in db.session.scalars(sa.select(Expert).where(Expert.code.in_(list(codes))))}
