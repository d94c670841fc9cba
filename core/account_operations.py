"""State changes of organisations and users. Each one writes its audit event; the caller commits once."""
from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from core import audit
from core.accounts import ROLE_ORG_KIND, Organisation, OrgKind, Role, User
from core.db import db
from core.errors import ValidationError
from core.validators import validate_credit_code, validate_region

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD = 10


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(f"密码至少{MIN_PASSWORD}位 (password: at least {MIN_PASSWORD} characters)", field="password")


def _check_username(username: str) -> str:
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise ValidationError("用户名为3–64位字母、数字或 _ . - (username: 3–64 letters, digits, _ . -)", field="username")
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise ValidationError("该用户名已被使用 (username taken)", field="username")
    return username


def create_organisation(*, name: str, kind: OrgKind, credit_code: str, region_code: str,
                        legal_representative: str | None = None, contact_phone: str | None = None,
                        actor: User | None = None) -> Organisation:
    name = (name or "").strip()
    if not name:
        raise ValidationError("请填写单位名称 (organisation name required)", field="name")
    credit_code = validate_credit_code(credit_code)
    region_code = validate_region(region_code)
    if db.session.scalar(sa.select(Organisation.id).where(Organisation.credit_code == credit_code)):
        raise ValidationError("该统一社会信用代码已注册 (credit code already registered)", field="credit_code")
    org = Organisation(name=name, kind=kind, credit_code=credit_code, region_code=region_code,
                       legal_representative=legal_representative, contact_phone=contact_phone)
    db.session.add(org)
    db.session.flush()
    audit.record("organisation.created", org, actor=actor, name=name, kind=kind.value, credit_code=credit_code)
    return org


def create_user(*, username: str, display_name: str, password: str, role: Role, organisation: Organisation | None,
                email: str | None = None, actor: User | None = None) -> User:
    username = _check_username(username)
    _check_password(password)
    if not (display_name or "").strip():
        raise ValidationError("请填写姓名 (name required)", field="display_name")
    expected_kind = ROLE_ORG_KIND.get(role)
    if expected_kind and (organisation is None or organisation.kind is not expected_kind):
        raise ValidationError(f"{role.value} 用户必须属于{expected_kind.value}类单位 (role needs an organisation of kind "
                              f"{expected_kind.value})", field="organisation_id")
    user = User(username=username, display_name=display_name.strip(), role=role, email=email,
                organisation=organisation)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, actor=actor, username=username, role=role.value,
                 organisation_id=organisation.id if organisation else None)
    return user


def register_bidder(*, org_name: str, credit_code: str, region_code: str, legal_representative: str,
                    username: str, display_name: str, password: str, email: str | None = None) -> User:
    """Self-registration of a bidder organisation with its first member user."""
    existing = db.session.scalar(sa.select(Organisation).where(
        Organisation.credit_code == (credit_code or "").strip().upper()))
    if existing is not None:
        raise ValidationError("该单位已注册，请联系本单位管理员添加账号 (organisation already registered)",
                              field="credit_code")
    _check_username(username)
    _check_password(password)
    org = create_organisation(name=org_name, kind=OrgKind.BIDDER, credit_code=credit_code, region_code=region_code,
                              legal_representative=legal_representative)
    return create_user(username=username, display_name=display_name, password=password, role=Role.BIDDER,
                       organisation=org, email=email)


def change_role(user: User, role: Role, organisation: Organisation | None, *, actor: User) -> None:
    expected_kind = ROLE_ORG_KIND.get(role)
    if expected_kind and (organisation is None or organisation.kind is not expected_kind):
        raise ValidationError(f"角色 {role.value} 需要{expected_kind.value}类单位 (role needs an organisation of kind "
                              f"{expected_kind.value})", field="organisation_id")
    before = user.role.value
    user.role, user.organisation = role, organisation
    audit.record("user.role_changed", user, actor=actor, before=before, after=role.value,
                 organisation_id=organisation.id if organisation else None)


def set_active(user: User, active: bool, *, actor: User) -> None:
    user.active = active
    audit.record("user.activated" if active else "user.deactivated", user, actor=actor)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def enrol_totp(user: User, secret: str, code: str) -> None:
    user.enable_totp(secret)
    if not user.check_totp(code):
        user.totp_secret_sealed = None
        raise ValidationError("动态口令不正确，请核对手机时间后重试 (wrong one-time code)", field="code")
    audit.record("user.totp_enrolled", user, actor=user)
