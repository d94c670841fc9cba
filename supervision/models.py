"""Supervision records: red/yellow warnings with their notes, bid-rigging analyses, credit records, archives.

The steps after the evaluation report (publicity, objections, complaints, award, contract) live in
``supervision.award_models``; importing this module imports both, so one line in ``core.all_models`` covers them.
"""
from __future__ import annotations

import enum
import json
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from evaluation import experts as _experts  # noqa: F401  (credit records refer to experts.id)


class WarningLight(enum.Enum):
    YELLOW = "yellow"    # at most the configured working days left
    RED = "red"          # overdue, or a gate broken


class WarningState(enum.Enum):
    OPEN = "open"
    CLEARED = "cleared"  # the point turned green again (by the engine)
    CLOSED = "closed"    # a supervisor closed it, with a reason


WARNING_STATES = StateMachine(
    "监督预警",
    {WarningState.OPEN: {WarningState.CLEARED, WarningState.CLOSED}},
    {WarningState.OPEN: "处理中", WarningState.CLEARED: "已消除", WarningState.CLOSED: "已关闭"},
)

LIGHT_LABELS = {WarningLight.YELLOW: "黄灯", WarningLight.RED: "红灯"}


class SupervisionWarning(IdMixin, Base):
    """One red or yellow light of one supervision point of one section, from raised to cleared or closed.

    ``open_key`` is set while the warning is open and NULL afterwards: the unique constraint allows one open
    warning per section and point on every database. ``signature`` (light and due day) tells whether a
    supervisor's close still covers the current finding or a new warning is due.
    """

    __tablename__ = "supervision_warnings"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    point: Mapped[str] = mapped_column(sa.String(32), index=True)
    light: Mapped[WarningLight] = enum_column(WarningLight)
    state: Mapped[WarningState] = enum_column(WarningState, default=WarningState.OPEN)
    open_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    signature: Mapped[str] = mapped_column(sa.String(64))
    reason_zh: Mapped[str] = mapped_column(sa.Text)
    reason_en: Mapped[str] = mapped_column(sa.Text)
    due: Mapped[str | None] = mapped_column(sa.String(32))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    close_reason: Mapped[str | None] = mapped_column(sa.Text)

    notes: Mapped[list[WarningNote]] = relationship(back_populates="warning", order_by="WarningNote.id")
    closed_by: Mapped[User | None] = relationship()

    @property
    def state_label(self) -> str:
        return WARNING_STATES.labels[self.state]

    @property
    def light_label(self) -> str:
        return LIGHT_LABELS[self.light]


class WarningNote(IdMixin, Base):
    """A supervisor's annotation on a warning (批注)."""

    __tablename__ = "supervision_warning_notes"

    warning_id: Mapped[int] = mapped_column(sa.ForeignKey("supervision_warnings.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    warning: Mapped[SupervisionWarning] = relationship(back_populates="notes")
    author: Mapped[User] = relationship()


class ClueReview(enum.Enum):
    NEW = "new"                # 待核查
    CONFIRMED = "confirmed"    # 经核查属实
    DISMISSED = "dismissed"    # 经核查排除


CLUE_REVIEWS = StateMachine(
    "串标线索核查",
    {ClueReview.NEW: {ClueReview.CONFIRMED, ClueReview.DISMISSED}, ClueReview.DISMISSED: {ClueReview.CONFIRMED}},
    {ClueReview.NEW: "待核查", ClueReview.CONFIRMED: "属实", ClueReview.DISMISSED: "已排除"},
)


class CollusionAnalysis(IdMixin, Base):
    """One run of the bid-rigging analysis over a section's opened bids: the clue list, for supervisors only.

    ``report`` is the canonical JSON of ``CollusionReport.to_dict()``; ``bidders`` maps each bid id to its
    bidder (name and credit code) as it stood at the run, so the report reads the same years later.
    """

    __tablename__ = "collusion_analyses"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    report: Mapped[str] = mapped_column(sa.Text)
    bidders: Mapped[str] = mapped_column(sa.Text)
    evidence_count: Mapped[int] = mapped_column(default=0)
    suspected: Mapped[bool] = mapped_column(default=False)
    review: Mapped[ClueReview] = enum_column(ClueReview, default=ClueReview.NEW)
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    attached_at: Mapped[datetime | None]
    attached_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    @property
    def data(self) -> dict:
        return json.loads(self.report)

    @property
    def bidder_map(self) -> dict[str, dict]:
        return json.loads(self.bidders)

    @property
    def review_label(self) -> str:
        return CLUE_REVIEWS.labels[self.review]


class CreditKind(enum.Enum):
    PENALTY = "penalty"          # 行政处罚
    DISHONEST = "dishonest"      # 失信主体名单（严重失信主体、失信被执行人）
    RATING = "rating"            # 信用评价等级


CREDIT_KIND_LABELS = {CreditKind.PENALTY: "行政处罚", CreditKind.DISHONEST: "失信主体名单",
                      CreditKind.RATING: "信用评价"}
#: Credit grades as most provincial schemes publish them (A best, D worst) [inferred].
CREDIT_RATINGS = ("A", "B", "C", "D")


class CreditRecord(IdMixin, Base):
    """A credit record (信用记录) against an organisation or an expert, kept by supervisors.

    Exactly one of ``organisation_id`` and ``expert_id`` is set. A record is in force from ``effective_from``
    to ``effective_until`` (open-ended when None) unless revoked; revocation keeps the record and its reason.
    """

    __tablename__ = "credit_records"
    __table_args__ = (sa.CheckConstraint("(organisation_id IS NULL) <> (expert_id IS NULL)", name="one_subject"),)

    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    expert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("experts.id"), index=True)
    kind: Mapped[CreditKind] = enum_column(CreditKind)
    rating: Mapped[str | None] = mapped_column(sa.String(4))
    title: Mapped[str] = mapped_column(sa.String(300))
    authority: Mapped[str] = mapped_column(sa.String(200))
    document_no: Mapped[str] = mapped_column(sa.String(100), default="")
    effective_from: Mapped[date] = mapped_column(sa.Date)
    effective_until: Mapped[date | None] = mapped_column(sa.Date)
    analysis_id: Mapped[int | None] = mapped_column(sa.ForeignKey("collusion_analyses.id"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(sa.Text)

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def kind_label(self) -> str:
        return CREDIT_KIND_LABELS[self.kind]

    def in_force(self, on: date) -> bool:
        return (self.revoked_at is None and self.effective_from <= on
                and (self.effective_until is None or on <= self.effective_until))


class RetentionClass(enum.Enum):
    PERMANENT = "permanent"
    YEARS_30 = "30y"
    YEARS_10 = "10y"


RETENTION_LABELS = {RetentionClass.PERMANENT: "永久", RetentionClass.YEARS_30: "30年", RetentionClass.YEARS_10: "10年"}


class ArchivePackage(IdMixin, Base):
    """An electronic archive package (电子档案) of a closed project, kept in the storage folder."""

    __tablename__ = "archive_packages"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    manifest_digest: Mapped[str] = mapped_column(sa.String(64))
    retention: Mapped[RetentionClass] = enum_column(RetentionClass)
    files: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from supervision import award_models  # noqa: F401  (one import line in core.all_models covers both)
