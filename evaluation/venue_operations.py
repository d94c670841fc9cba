"""Evaluation venues (评标场地) of the trading centres, for remote evaluation across main and secondary venues."""
from __future__ import annotations

import re

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, OrgKind, User
from core.db import db
from core.errors import ValidationError
from core.validators import validate_region
from evaluation.draw_models import Venue

VENUE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,23}$")


def create_venue(*, code: str, name: str, region_code: str, seats, neighbour_regions: str = "",
                 organisation: Organisation | None = None, actor: User | None = None) -> Venue:
    """A venue's neighbours are the regions whose experts may sit there in 2+X mode; no public text fixes them
    (rules.md §2), so each centre configures its own."""
    code = (code or "").strip().upper()
    if not VENUE_CODE.match(code):
        raise ValidationError("场地编号为2–24位大写字母、数字或连字符 (venue code: 2–24 of A–Z, 0–9, -)", field="code")
    if db.session.scalar(sa.select(Venue.id).where(Venue.code == code)):
        raise ValidationError(f"场地编号 {code} 已存在 (duplicate venue code)", field="code")
    name = (name or "").strip()
    if not name:
        raise ValidationError("请填写场地名称 (venue name required)", field="name")
    region = validate_region(region_code)
    try:
        seat_count = int(str(seats).strip())
    except ValueError:
        raise ValidationError("席位数应为整数 (seats: a whole number)", field="seats") from None
    if not 1 <= seat_count <= 200:
        raise ValidationError("席位数应为1–200 (seats: 1–200)", field="seats")
    neighbours = [validate_region(c, field="neighbour_regions") for c in re.split(r"[\s,，;；]+", neighbour_regions or "")
                  if c]
    if organisation is not None and organisation.kind is not OrgKind.TRADING_CENTRE:
        raise ValidationError("场地须属于公共资源交易中心 (a venue belongs to a trading centre)", field="organisation_id")
    venue = Venue(code=code, name=name[:200], region_code=region, seats=seat_count,
                  neighbour_regions=" ".join(n for n in dict.fromkeys(neighbours) if n != region),
                  organisation=organisation)
    db.session.add(venue)
    db.session.flush()
    audit.record("venue.created", venue, actor=actor, code=code, region_code=region, seats=seat_count,
                 neighbour_regions=venue.neighbour_regions)
    return venue
