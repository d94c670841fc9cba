"""After the evaluation report: candidates and their publicity, objections, complaints, the award, the contract.

The section's own state (PUBLICITY → AWARDED → CONTRACTED → CLOSED) stays in ``trading.models``; these records
carry the facts and times each step needs, so the statutory clocks can be judged from them.
"""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from core.storage import StoredFile


class EvaluationResult(IdMixin, Base):
    """评标结果: the ranked candidates of the evaluation report, as received by the tenderee.

    A complaint upheld with a re-evaluation supersedes it; the next report brings a new one.
    """

    __tablename__ = "evaluation_results"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    report_digest: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    publicity_started_at: Mapped[datetime | None]
    publicity_ends_at: Mapped[datetime | None]
    publicity_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    superseded_at: Mapped[datetime | None]

    candidates: Mapped[list[Candidate]] = relationship(back_populates="result", order_by="Candidate.rank",
                                                         cascade="all, delete-orphan")


class Candidate(IdMixin, Base):
    """中标候选人: one ranked bidder of an evaluation result."""

    __tablename__ = "award_candidates"
    __table_args__ = (sa.UniqueConstraint("result_id", "rank", name="uq_award_candidates_rank"),
                      sa.UniqueConstraint("result_id", "organisation_id", name="uq_award_candidates_organisation"))

    result_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_results.id"), index=True)
    rank: Mapped[int]
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    bid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id"))
    price: Mapped[Decimal]
    score: Mapped[float | None] = mapped_column(sa.Float)

    result: Mapped[EvaluationResult] = relationship(back_populates="candidates")
    organisation: Mapped[Organisation] = relationship()


class ObjectionSubject(enum.Enum):
    DOCUMENTS = "documents"   # 对招标文件的异议（实施条例第22条）
    RESULT = "result"         # 对评标结果的异议（实施条例第54条）


OBJECTION_SUBJECT_LABELS = {ObjectionSubject.DOCUMENTS: "招标文件", ObjectionSubject.RESULT: "评标结果"}


class SectionObjection(IdMixin, Base):
    """异议 to the tenderee, answered within 3 days (实施条例第22条、第54条). Opening objections live in trading."""

    __tablename__ = "section_objections"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    subject: Mapped[ObjectionSubject] = enum_column(ObjectionSubject)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    raised_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer_due: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()

    @property
    def subject_label(self) -> str:
        return OBJECTION_SUBJECT_LABELS[self.subject]


class ComplaintState(enum.Enum):
    FILED = "filed"          # 已提交
    ACCEPTED = "accepted"    # 已受理
    REJECTED = "rejected"    # 不予受理
    UPHELD = "upheld"        # 投诉成立
    DISMISSED = "dismissed"  # 驳回投诉


COMPLAINT_STATES = StateMachine(
    "投诉",
    {ComplaintState.FILED: {ComplaintState.ACCEPTED, ComplaintState.REJECTED},
     ComplaintState.ACCEPTED: {ComplaintState.UPHELD, ComplaintState.DISMISSED}},
    {ComplaintState.FILED: "待受理", ComplaintState.ACCEPTED: "已受理", ComplaintState.REJECTED: "不予受理",
     ComplaintState.UPHELD: "投诉成立", ComplaintState.DISMISSED: "驳回投诉"},
)


class Complaint(IdMixin, Base):
    """投诉 to the supervisory authority (实施条例第60–62条), with its acceptance and decision clocks."""

    __tablename__ = "complaints"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    subject: Mapped[ObjectionSubject | None] = enum_column(ObjectionSubject, nullable=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    known_on: Mapped[date] = mapped_column(sa.Date)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[ComplaintState] = enum_column(ComplaintState, default=ComplaintState.FILED)
    suspends: Mapped[bool] = mapped_column(default=False)
    accepted_at: Mapped[datetime | None]
    acceptance_note: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(sa.Text)
    re_evaluation: Mapped[bool] = mapped_column(default=False)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    organisation: Mapped[Organisation] = relationship()

    @property
    def state_label(self) -> str:
        return COMPLAINT_STATES.labels[self.state]


class Award(IdMixin, Base):
    """定标 by the tenderee, then the award notice (中标通知书) and the result notice, both signed PDFs."""

    __tablename__ = "awards"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), unique=True)
    result_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_results.id"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("award_candidates.id"))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    rank: Mapped[int]
    amount: Mapped[Decimal]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    notice_no: Mapped[str | None] = mapped_column(sa.String(40))
    notice_issued_at: Mapped[datetime | None]
    notice_key: Mapped[str | None] = mapped_column(sa.String(200))
    notice_digest: Mapped[str | None] = mapped_column(sa.String(64))
    notice_signature: Mapped[str | None] = mapped_column(sa.Text)
    result_key: Mapped[str | None] = mapped_column(sa.String(200))
    result_digest: Mapped[str | None] = mapped_column(sa.String(64))
    result_signature: Mapped[str | None] = mapped_column(sa.Text)
    report_filed_at: Mapped[datetime | None]
    report_filed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    organisation: Mapped[Organisation] = relationship()
    candidate: Mapped[Candidate] = relationship()
    decided_by: Mapped[User] = relationship(foreign_keys=[decided_by_id])


class Contract(IdMixin, Base):
    """The written contract (招标投标法第46条), recorded with its signing day, amount and any difference's reason."""

    __tablename__ = "contracts"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), unique=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("awards.id"), unique=True)
    signed_at: Mapped[datetime]
    amount: Mapped[Decimal]
    difference_reason: Mapped[str | None] = mapped_column(sa.Text)
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))

    award: Mapped[Award] = relationship()
    file: Mapped[StoredFile | None] = relationship()
