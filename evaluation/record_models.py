"""What the committee records while it scores and closes: typed scores, the live flags and their answers,
clarifications to bidders, the room's chat, and the members' signatures of the report (see evaluation_models)."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import User
from core.db import Base, IdMixin, enum_column, utcnow
from evaluation.evaluation_models import EvaluatedBid, Evaluation


class ScoreEntry(IdMixin, Base):
    """A subjective score a member typed (objective and price items are computed, never stored here)."""

    __tablename__ = "score_entries"
    __table_args__ = (sa.UniqueConstraint("member_id", "bidder_id", "item_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    bidder_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluated_bids.id"))
    item_id: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[Decimal] = mapped_column(sa.Numeric(10, 4, asdecimal=True))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    revisions: Mapped[int] = mapped_column(default=0)


class FlagState(enum.Enum):
    OPEN = "open"            # shown to the chair and the expert, awaiting an answer
    CONFIRMED = "confirmed"  # the expert keeps the score and says why
    REVISED = "revised"      # the expert changed the score
    CLEARED = "cleared"      # the others' scores moved: the score no longer deviates


FLAG_LABELS = {FlagState.OPEN: "待处理", FlagState.CONFIRMED: "已确认（说明理由）", FlagState.REVISED: "已修改",
               FlagState.CLEARED: "已消除"}
FLAG_REASONS = {"deviation_sigma": "偏离其他专家均值超过2倍标准差", "deviation_max_fraction": "偏离其他专家均值超过该项满分的20%",
                "out_of_range": "超出评分范围", "off_step": "不在评分步长上", "objective_inconsistent": "客观分与计算结果不一致",
                "sum_error": "合计与各项之和不符"}


class ScoreFlag(IdMixin, Base):
    """评分偏离 and the 第64条 error classes, raised live; every answer is kept for the outlier log."""

    __tablename__ = "score_flags"

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluated_bids.id"))
    item_id: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(32))
    score: Mapped[float] = mapped_column(sa.Float)
    reference: Mapped[float] = mapped_column(sa.Float)
    threshold: Mapped[float | None] = mapped_column(sa.Float)
    state: Mapped[FlagState] = enum_column(FlagState, default=FlagState.OPEN)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(sa.Text)
    revised_to: Mapped[float | None] = mapped_column(sa.Float)

    @property
    def reason_label(self) -> str:
        return FLAG_REASONS.get(self.reason, self.reason)

    @property
    def state_label(self) -> str:
        return FLAG_LABELS[self.state]


class EvaluationClarification(IdMixin, Base):
    """澄清: the committee's question to one bidder, answered signed in the bidder's portal before the deadline."""

    __tablename__ = "evaluation_clarifications"

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluated_bids.id"), index=True)
    number: Mapped[int]
    question: Mapped[str] = mapped_column(sa.Text)
    asked_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answer_document: Mapped[str | None] = mapped_column(sa.Text)
    certificate_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]

    bidder: Mapped[EvaluatedBid] = relationship()
    evaluation: Mapped[Evaluation] = relationship()


class ChatMessage(IdMixin, Base):
    """The room's chat, recorded: part of the evaluation's record."""

    __tablename__ = "evaluation_chat"

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class SignatureDecision(enum.Enum):
    SIGNED = "signed"
    REFUSED = "refused"                # with a written reason
    DEEMED_AGREED = "deemed_agreed"    # refused without a reason: deemed to agree (rules.md §3, 第42条)


SIGNATURE_LABELS = {SignatureDecision.SIGNED: "已签署", SignatureDecision.REFUSED: "拒绝签字（已书面说明理由）",
                    SignatureDecision.DEEMED_AGREED: "拒绝签字且未说明理由，视为同意"}


class ReportSignature(IdMixin, Base):
    """A member's signature of the report digest with their own key, or their refusal."""

    __tablename__ = "report_signatures"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "member_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    decision: Mapped[SignatureDecision] = enum_column(SignatureDecision)
    document: Mapped[str | None] = mapped_column(sa.Text)
    certificate_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def decision_label(self) -> str:
        return SIGNATURE_LABELS[self.decision]
