"""The expert pool (评标专家库): profiles, specialties, employment, declared relations, availability, status.

An expert's identity number is never stored in clear (evaluation.expert_identity). The status follows one
transition table: a suspension can be lifted, a penalty cannot, since anyone once punished for illegal acts in
bidding may not evaluate again (评标专家和评标专家库管理暂行办法第12条第4项, rules.md §2). Recusal reads these
facts as plain dataclasses (evaluation.recusal.ExpertCandidate); nothing here decides who is eligible.
"""
from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Role, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from evaluation.recusal import ExpertStatus
from evaluation.specialties import specialty_name, title_name

EXPERT_STATES = StateMachine(
    "评标专家",
    {
        ExpertStatus.ACTIVE: {ExpertStatus.SUSPENDED, ExpertStatus.PENALISED},
        ExpertStatus.SUSPENDED: {ExpertStatus.ACTIVE, ExpertStatus.PENALISED},
    },
    {ExpertStatus.ACTIVE: "正常", ExpertStatus.SUSPENDED: "暂停", ExpertStatus.PENALISED: "已处罚"},
)


class RelationKind(enum.Enum):
    RELATIVE_EMPLOYED = "relative_employed"   # 近亲属在该单位任职
    SHAREHOLDING = "shareholding"             # 本人或近亲属持股
    ADVISER = "adviser"                       # 曾任顾问或提供咨询服务
    OTHER = "other"                           # 其他可能影响公正评审的关系


RELATION_LABELS = {RelationKind.RELATIVE_EMPLOYED: "近亲属在该单位任职", RelationKind.SHAREHOLDING: "本人或近亲属持股",
                   RelationKind.ADVISER: "曾任顾问或提供咨询服务", RelationKind.OTHER: "其他利害关系"}


class Expert(IdMixin, Base):
    """评标专家. ``code`` is the expert's public pseudonym: draw records name experts by it."""

    __tablename__ = "experts"

    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    id_number_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    id_number_last4: Mapped[str] = mapped_column(sa.String(4))
    mobile_sealed: Mapped[str | None] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.String(32))
    region_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    employer_name: Mapped[str] = mapped_column(sa.String(200), default="")
    employer_credit_code: Mapped[str] = mapped_column(sa.String(18), default="", index=True)
    status: Mapped[ExpertStatus] = enum_column(ExpertStatus, default=ExpertStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    status_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()
    specialties: Mapped[list["ExpertSpecialty"]] = relationship(back_populates="expert", cascade="all, delete-orphan",
                                                                order_by="ExpertSpecialty.code")
    past_employments: Mapped[list["PastEmployment"]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="PastEmployment.end.desc()")
    relations: Mapped[list["DeclaredRelation"]] = relationship(back_populates="expert", cascade="all, delete-orphan",
                                                               order_by="DeclaredRelation.id")
    unavailability: Mapped[list["Unavailability"]] = relationship(back_populates="expert",
                                                                  cascade="all, delete-orphan",
                                                                  order_by="Unavailability.start")

    @property
    def status_label(self) -> str:
        return EXPERT_STATES.labels[self.status]

    @property
    def title_label(self) -> str:
        return title_name(self.title)

    @property
    def specialty_codes(self) -> list[str]:
        return [s.code for s in self.specialties]

    @property
    def masked_id_number(self) -> str:
        return "*" * 14 + self.id_number_last4

    # -- permissions that read as sentences ------------------------------------------------------------------
    @staticmethod
    def can_be_browsed_by(user: User) -> bool:
        """The pool is for the platform administrators who keep it and the supervisors who oversee it."""
        return user.is_authenticated and user.is_(Role.ADMIN, Role.SUPERVISOR)

    @staticmethod
    def can_be_edited_by(user: User) -> bool:
        return user.is_authenticated and user.is_(Role.ADMIN)

    @staticmethod
    def status_can_be_changed_by(user: User) -> bool:
        """Supervisors suspend and penalise (监督部门处理); administrators apply their decisions."""
        return user.is_authenticated and user.is_(Role.ADMIN, Role.SUPERVISOR)

    def is_self(self, user: User) -> bool:
        return user.is_authenticated and user.is_(Role.EXPERT) and self.user_id == user.id

    def __repr__(self) -> str:
        return f"<Expert {self.code} {self.status.value}>"


class ExpertSpecialty(IdMixin, Base):
    __tablename__ = "expert_specialties"
    __table_args__ = (sa.UniqueConstraint("expert_id", "code"),)

    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(8), index=True)

    expert: Mapped[Expert] = relationship(back_populates="specialties")

    @property
    def label(self) -> str:
        return specialty_name(self.code)


class PastEmployment(IdMixin, Base):
    """A former employer with its credit code and dates: the 3-year look-back of 实施条例第9条 reads ``end``."""

    __tablename__ = "expert_past_employments"

    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    employer_name: Mapped[str] = mapped_column(sa.String(200))
    credit_code: Mapped[str] = mapped_column(sa.String(18), index=True)
    start: Mapped[date | None] = mapped_column(sa.Date)
    end: Mapped[date] = mapped_column(sa.Date)

    expert: Mapped[Expert] = relationship(back_populates="past_employments")


class DeclaredRelation(IdMixin, Base):
    """A relation the expert declared to an organisation (利害关系申报); it recuses the expert from that party."""

    __tablename__ = "expert_relations"

    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    organisation_name: Mapped[str] = mapped_column(sa.String(200))
    credit_code: Mapped[str] = mapped_column(sa.String(18), index=True)
    kind: Mapped[RelationKind] = enum_column(RelationKind)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)

    expert: Mapped[Expert] = relationship(back_populates="relations")

    @property
    def kind_label(self) -> str:
        return RELATION_LABELS[self.kind]


class Unavailability(IdMixin, Base):
    """A period in the expert's availability calendar when they cannot evaluate (both days included)."""

    __tablename__ = "expert_unavailability"

    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    start: Mapped[date] = mapped_column(sa.Date)
    end: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")

    expert: Mapped[Expert] = relationship(back_populates="unavailability")

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end
