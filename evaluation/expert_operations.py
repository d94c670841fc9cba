"""Every state change of the expert pool. Each checks its input, mutates, audits; the caller commits once.

Audit records name the expert by code and never carry the identity number, its hash or the phone number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from core import audit
from core.accounts import Role, User
from core.clock import local, now
from core.db import db
from core.errors import ValidationError
from core.validators import validate_credit_code, validate_region
from evaluation.expert_identity import (
    IdNumberHasher,
    seal_mobile,
    validate_id_number,
    validate_mobile,
)
from evaluation.experts import (
    EXPERT_STATES,
    DeclaredRelation,
    Expert,
    ExpertSpecialty,
    PastEmployment,
    RelationKind,
    Unavailability,
)
from evaluation.recusal import ExpertStatus
from evaluation.specialties import validate_specialty, validate_title

NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z·．. ]{2,50}$")
MAX_SPECIALTIES = 5
EARLIEST_EMPLOYMENT = date(1950, 1, 1)


def parse_date(value, field: str) -> date:
    """A date typed or imported as YYYY-MM-DD (also / or . separators), or a spreadsheet date cell."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    try:
        if not match:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValidationError(f"日期“{text}”无效，应为 YYYY-MM-DD (invalid date, expected YYYY-MM-DD)", field=field) from None


def today() -> date:
    return local(now()).date()


@dataclass
class PastEmploymentInput:
    employer_name: str
    credit_code: str
    end: date
    start: date | None = None


@dataclass
class ExpertInput:
    name: str
    id_number: str
    title: str
    region_code: str
    specialties: list[str]
    employer_name: str = ""
    employer_credit_code: str = ""
    mobile: str = ""
    past_employments: list[PastEmploymentInput] = field(default_factory=list)


def validate_past_employment(item: PastEmploymentInput, where: str) -> PastEmploymentInput:
    if not (item.employer_name or "").strip():
        raise ValidationError("请填写曾任职单位名称 (former employer name required)", field=f"{where}.employer_name")
    code = validate_credit_code(item.credit_code, field=f"{where}.credit_code")
    if item.end > today():
        raise ValidationError("离职日期不能晚于今天 (the end date is in the future)", field=f"{where}.end")
    if item.start is not None and not EARLIEST_EMPLOYMENT <= item.start <= item.end:
        raise ValidationError("入职日期应早于离职日期 (the start must precede the end)", field=f"{where}.start")
    return PastEmploymentInput(item.employer_name.strip()[:200], code, item.end, item.start)


def validate_expert(data: ExpertInput, hasher: IdNumberHasher) -> tuple[ExpertInput, str]:
    """The normalised input and the identity number's keyed hash; the first bad field raises."""
    name = (data.name or "").strip()
    if not NAME.match(name):
        raise ValidationError("姓名应为2–50个汉字或字母 (name: 2–50 Chinese characters or letters)", field="name")
    number = validate_id_number(data.id_number)
    title = validate_title(data.title)
    region = validate_region(data.region_code)
    codes = sorted({validate_specialty(c, field="specialties", leaf=True) for c in data.specialties if c.strip()})
    if not 1 <= len(codes) <= MAX_SPECIALTIES:
        raise ValidationError(f"专业应为1–{MAX_SPECIALTIES}个 (1–{MAX_SPECIALTIES} specialties)", field="specialties")
    employer, credit = (data.employer_name or "").strip(), (data.employer_credit_code or "").strip()
    if employer or credit:
        if not employer:
            raise ValidationError("请填写工作单位名称 (employer name required)", field="employer_name")
        credit = validate_credit_code(credit, field="employer_credit_code")
    mobile = validate_mobile(data.mobile) if (data.mobile or "").strip() else ""
    past = [validate_past_employment(p, f"past_employments[{i}]") for i, p in enumerate(data.past_employments)]
    clean = ExpertInput(name, number, title, region, codes, employer[:200], credit, mobile, past)
    return clean, hasher(number)


def next_code() -> str:
    last = db.session.scalar(sa.select(sa.func.max(Expert.code)))
    return f"E{int(last[1:]) + 1 if last else 1:07d}"


def create_expert(data: ExpertInput, *, actor: User | None, hasher: IdNumberHasher | None = None,
                  code: str | None = None) -> Expert:
    clean, digest = validate_expert(data, hasher or IdNumberHasher())
    if db.session.scalar(sa.select(Expert.id).where(Expert.id_number_hash == digest)):
        raise ValidationError("该身份证号已在专家库中 (this identity number is already in the pool)", field="id_number")
    expert = Expert(code=code or next_code(), name=clean.name, id_number_hash=digest, id_number_last4=clean.id_number[-4:],
                    mobile_sealed=seal_mobile(clean.mobile) if clean.mobile else None, title=clean.title,
                    region_code=clean.region_code, employer_name=clean.employer_name,
                    employer_credit_code=clean.employer_credit_code,
                    specialties=[ExpertSpecialty(code=c) for c in clean.specialties],
                    past_employments=[PastEmployment(employer_name=p.employer_name, credit_code=p.credit_code,
                                                     start=p.start, end=p.end) for p in clean.past_employments])
    db.session.add(expert)
    db.session.flush()
    audit.record("expert.created", expert, actor=actor, code=expert.code, specialties=clean.specialties,
                 region_code=clean.region_code, title=clean.title, employer_credit_code=clean.employer_credit_code)
    return expert


def change_employer(expert: Expert, *, actor: User, employer_name: str, credit_code: str, left_on: date) -> None:
    """A new employer: the current one moves to the past employments, ending on ``left_on``."""
    employer_name = (employer_name or "").strip()
    new_code = validate_credit_code(credit_code, field="employer_credit_code") if credit_code.strip() else ""
    if new_code and not employer_name:
        raise ValidationError("请填写工作单位名称 (employer name required)", field="employer_name")
    if expert.employer_credit_code:
        past = validate_past_employment(PastEmploymentInput(expert.employer_name, expert.employer_credit_code, left_on),
                                        "left_on")
        expert.past_employments.append(PastEmployment(employer_name=past.employer_name, credit_code=past.credit_code,
                                                      end=past.end))
    previous = expert.employer_credit_code
    expert.employer_name, expert.employer_credit_code = employer_name[:200], new_code
    audit.record("expert.employer_changed", expert, actor=actor, previous=previous, current=new_code,
                 left_on=left_on.isoformat())


def add_past_employment(expert: Expert, item: PastEmploymentInput, *, actor: User) -> PastEmployment:
    past = validate_past_employment(item, "past_employment")
    row = PastEmployment(employer_name=past.employer_name, credit_code=past.credit_code, start=past.start, end=past.end)
    expert.past_employments.append(row)
    db.session.flush()
    audit.record("expert.past_employment_added", expert, actor=actor, credit_code=past.credit_code,
                 end=past.end.isoformat())
    return row


def set_specialties(expert: Expert, codes: list[str], *, actor: User) -> None:
    clean = sorted({validate_specialty(c, field="specialties", leaf=True) for c in codes if c.strip()})
    if not 1 <= len(clean) <= MAX_SPECIALTIES:
        raise ValidationError(f"专业应为1–{MAX_SPECIALTIES}个 (1–{MAX_SPECIALTIES} specialties)", field="specialties")
    previous = expert.specialty_codes
    expert.specialties = [s for s in expert.specialties if s.code in clean] + [
        ExpertSpecialty(code=c) for c in clean if c not in previous]
    audit.record("expert.specialties_set", expert, actor=actor, previous=previous, current=clean)


def change_status(expert: Expert, target: ExpertStatus | str, *, actor: User, reason: str) -> None:
    """暂停 / 处罚 / 恢复: every change needs a reason; a penalty is final (see evaluation.experts)."""
    try:
        target = ExpertStatus(target)
    except ValueError:
        raise ValidationError("状态应为 active、suspended 或 penalised (invalid status)", field="status") from None
    EXPERT_STATES.check(expert.status, target)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写原因或处理决定文号 (give the reason or the decision's reference)", field="reason")
    previous = expert.status
    expert.status, expert.status_reason, expert.status_changed_at = target, reason[:1000], now()
    audit.record("expert.status_changed", expert, actor=actor, previous=previous.value, current=target.value,
                 reason=expert.status_reason)


def declare_relation(expert: Expert, *, actor: User, organisation_name: str, credit_code: str, kind: str,
                     note: str = "") -> DeclaredRelation:
    name = (organisation_name or "").strip()
    if not name:
        raise ValidationError("请填写单位名称 (organisation name required)", field="organisation_name")
    code = validate_credit_code(credit_code)
    try:
        kind_value = RelationKind(kind)
    except ValueError:
        raise ValidationError("请选择关系类型 (choose the kind of relation)", field="kind") from None
    if any(r.credit_code == code for r in expert.relations):
        raise ValidationError("已申报与该单位的关系 (already declared for this organisation)", field="credit_code")
    relation = DeclaredRelation(organisation_name=name[:200], credit_code=code, kind=kind_value, note=(note or "")[:1000])
    expert.relations.append(relation)
    db.session.flush()
    audit.record("expert.relation_declared", expert, actor=actor, credit_code=code, kind=kind_value.value)
    return relation


def add_unavailability(expert: Expert, *, actor: User, start: date, end: date, reason: str = "") -> Unavailability:
    if end < start:
        raise ValidationError("结束日期不能早于开始日期 (the end precedes the start)", field="end")
    if end < today():
        raise ValidationError("不能登记已过去的日期 (the period is over)", field="end")
    if (end - start).days > 366:
        raise ValidationError("一次最多登记一年 (at most one year at a time)", field="end")
    period = Unavailability(start=start, end=end, reason=(reason or "").strip()[:200])
    expert.unavailability.append(period)
    db.session.flush()
    audit.record("expert.unavailability_added", expert, actor=actor, start=start.isoformat(), end=end.isoformat())
    return period


def remove_unavailability(expert: Expert, period: Unavailability, *, actor: User) -> None:
    if period.expert_id != expert.id:
        raise ValidationError("该时段不属于此专家 (not this expert's period)", field="period")
    expert.unavailability.remove(period)
    audit.record("expert.unavailability_removed", expert, actor=actor, start=period.start.isoformat(),
                 end=period.end.isoformat())


def link_user(expert: Expert, user: User, *, actor: User | None) -> None:
    """Give the expert a sign-in: an account of the expert role, linked to one profile only."""
    if user.role is not Role.EXPERT:
        raise ValidationError("只能关联评标专家角色的账号 (link an account of the expert role)", field="user_id")
    other = db.session.scalar(sa.select(Expert.code).where(Expert.user_id == user.id, Expert.id != expert.id))
    if other:
        raise ValidationError(f"该账号已关联专家 {other} (already linked to another expert)", field="user_id")
    expert.user = user
    audit.record("expert.user_linked", expert, actor=actor, user_id=user.id)
