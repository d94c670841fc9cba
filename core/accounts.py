"""Organisations, users, roles and API tokens, with permissions that read as sentences."""
from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, IdMixin, enum_column, utcnow
from core.sealing_box import open_secret, seal_secret

_hasher = PasswordHasher()


class OrgKind(enum.Enum):
    TENDEREE = "tenderee"
    AGENCY = "agency"
    BIDDER = "bidder"
    ISSUER = "issuer"
    SUPERVISORY_AUTHORITY = "supervisory_authority"
    TRADING_CENTRE = "trading_centre"


ORG_KIND_LABELS = {
    OrgKind.TENDEREE: "招标人", OrgKind.AGENCY: "招标代理机构", OrgKind.BIDDER: "投标人",
    OrgKind.ISSUER: "担保机构", OrgKind.SUPERVISORY_AUTHORITY: "行政监督部门", OrgKind.TRADING_CENTRE: "公共资源交易中心",
}


class Role(enum.Enum):
    BIDDER = "bidder"          # a member user of a bidder organisation
    AGENT = "agent"            # staff of a tendering agency
    TENDEREE = "tenderee"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"
    ISSUER = "issuer"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.BIDDER: "投标人", Role.AGENT: "招标代理", Role.TENDEREE: "招标人", Role.EXPERT: "评标专家",
    Role.SUPERVISOR: "监督人员", Role.ISSUER: "担保机构", Role.ADMIN: "系统管理员",
}

#: The organisation kind a member of each role belongs to (experts and admins may belong to none).
ROLE_ORG_KIND = {
    Role.BIDDER: OrgKind.BIDDER, Role.AGENT: OrgKind.AGENCY, Role.TENDEREE: OrgKind.TENDEREE,
    Role.SUPERVISOR: OrgKind.SUPERVISORY_AUTHORITY, Role.ISSUER: OrgKind.ISSUER,
}

#: Roles whose accounts must have a second factor before they can act (issue: supervisors and admins).
TOTP_REQUIRED = {Role.SUPERVISOR, Role.ADMIN}


class Organisation(IdMixin, Base):
    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[OrgKind] = enum_column(OrgKind)
    credit_code: Mapped[str] = mapped_column(sa.String(18), unique=True)
    region_code: Mapped[str] = mapped_column(sa.String(6))
    legal_representative: Mapped[str | None] = mapped_column(sa.String(100))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list["User"]] = relationship(back_populates="organisation")

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS[self.kind]

    def __repr__(self) -> str:
        return f"<Organisation {self.credit_code} {self.name}>"


class User(IdMixin, UserMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[Role] = enum_column(Role)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_secret_sealed: Mapped[str | None] = mapped_column(sa.String(200))
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation | None] = relationship(back_populates="members")

    # -- credentials ---------------------------------------------------------------------------
    def set_password(self, password: str) -> None:
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_sealed is not None

    def totp_secret(self) -> str | None:
        return open_secret(self.totp_secret_sealed) if self.totp_secret_sealed else None

    def enable_totp(self, secret: str) -> None:
        self.totp_secret_sealed = seal_secret(secret)

    def check_totp(self, code: str, at: datetime | None = None) -> bool:
        """A code is accepted once: a replay of the same 30-second step is refused."""
        secret = self.totp_secret()
        if not secret or not code:
            return False
        totp = pyotp.TOTP(secret)
        moment = at or utcnow()
        for offset in (0, -1, 1):
            step = int(moment.timestamp()) // 30 + offset
            if secrets.compare_digest(totp.at(step * 30), code.strip()):
                if self.totp_last_step is not None and step <= self.totp_last_step:
                    return False
                self.totp_last_step = step
                return True
        return False

    @property
    def needs_totp(self) -> bool:
        return self.role in TOTP_REQUIRED

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    # -- permissions that read as sentences -------------------------------------------------------
    def is_(self, *roles: Role) -> bool:
        return self.role in roles

    def belongs_to(self, organisation: Organisation | int | None) -> bool:
        org_id = organisation.id if isinstance(organisation, Organisation) else organisation
        return org_id is not None and self.organisation_id == org_id

    def can_administer_accounts(self) -> bool:
        return self.role is Role.ADMIN

    def can_browse_audit_log(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role.value}>"


class ApiToken(IdMixin, Base):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
