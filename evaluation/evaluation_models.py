"""The evaluation of one section (评标): its committee, votes, scores, flags, clarifications, chat and report.

The committee comes from the section's completed expert draw (evaluation.draw_models) plus the tenderee's
representatives; the bidders are the bids opened at the opening (trading.opening). The scoring itself is the
pure core in evaluation.scoring: these tables only keep what the committee entered and what was decided, so
every figure of the report can be recomputed from them.
"""
from __future__ import annotations

import enum
import json
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, Role, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from evaluation.draw_models import Draw
from trading.models import Section


class EvaluationState(enum.Enum):
    SEATING = "seating"        # 签到与回避声明
    ELECTING = "electing"      # 推选主任委员
    REVIEW = "review"          # 初步评审：资格、符合性等通过制阶段
    SCORING = "scoring"        # 详细评审
    SIGNING = "signing"        # 汇总排序完成，成员签署评标报告
    SIGNED = "signed"          # 全体成员已签署（或拒签并说明理由）
    PUBLISHED = "published"    # 评标报告已生成并发布


EVALUATION_STATES = StateMachine(
    "评标",
    {
        EvaluationState.SEATING: {EvaluationState.ELECTING},
        EvaluationState.ELECTING: {EvaluationState.REVIEW},
        EvaluationState.REVIEW: {EvaluationState.SCORING, EvaluationState.SIGNING},
        EvaluationState.SCORING: {EvaluationState.SIGNING},
        EvaluationState.SIGNING: {EvaluationState.SIGNED},
        EvaluationState.SIGNED: {EvaluationState.PUBLISHED},
    },
    {EvaluationState.SEATING: "签到与回避声明", EvaluationState.ELECTING: "推选主任委员",
     EvaluationState.REVIEW: "初步评审", EvaluationState.SCORING: "详细评审",
     EvaluationState.SIGNING: "签署评标报告", EvaluationState.SIGNED: "评标报告已签署",
     EvaluationState.PUBLISHED: "评标报告已发布"},
)
#: States in which no score, vote or clarification may change any more.
CLOSED_STATES = (EvaluationState.SIGNING, EvaluationState.SIGNED, EvaluationState.PUBLISHED)


class Evaluation(IdMixin, Base):
    """评标: one per section, opened by the agent once the opening is closed and the committee is drawn."""

    __tablename__ = "evaluations"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), unique=True)
    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"))
    opening_id: Mapped[int] = mapped_column(sa.ForeignKey("openings.id"))
    method_id: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[EvaluationState] = enum_column(EvaluationState, default=EvaluationState.SEATING)
    stage_index: Mapped[int] = mapped_column(default=0)
    election_round: Mapped[int] = mapped_column(default=1)
    media_room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("media_rooms.id"))
    opened_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    chair_elected_at: Mapped[datetime | None]
    scoring_started_at: Mapped[datetime | None]
    signing_started_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    # The tie-break draw (docs/draw.md §4.5, kind "order"): committed when the chair is elected, fed by the
    # members' submissions, revealed at the ranking.
    tie_secret_sealed: Mapped[str | None] = mapped_column(sa.String(200))
    tie_commitment: Mapped[str | None] = mapped_column(sa.String(64))
    tie_contributions: Mapped[str] = mapped_column(sa.Text, default="[]")
    tie_draws: Mapped[str] = mapped_column(sa.Text, default="[]")
    #: The ranking and candidates, canonical JSON, fixed when the chair closes the scoring.
    result: Mapped[str | None] = mapped_column(sa.Text)
    #: What the report states (canonical JSON) and its SHA-256, which every member signs.
    report_data: Mapped[str | None] = mapped_column(sa.Text)
    report_digest: Mapped[str | None] = mapped_column(sa.String(64))
    report_key: Mapped[str | None] = mapped_column(sa.String(200))
    report_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    report_generated_at: Mapped[datetime | None]

    section: Mapped[Section] = relationship()
    draw: Mapped[Draw] = relationship()
    members: Mapped[list["CommitteeMember"]] = relationship(
        back_populates="evaluation", order_by="[CommitteeMember.position, CommitteeMember.id]")
    bidders: Mapped[list["EvaluatedBid"]] = relationship(back_populates="evaluation", order_by="EvaluatedBid.position")

    @property
    def state_label(self) -> str:
        return EVALUATION_STATES.labels[self.state]

    @property
    def is_closed(self) -> bool:
        return self.state in CLOSED_STATES

    @property
    def active_members(self) -> list["CommitteeMember"]:
        """The members whose work counts: signed in, declared no conflict; in position order (the score axis)."""
        return [m for m in self.members if m.status is MemberStatus.DECLARED]

    @property
    def chair(self) -> "CommitteeMember | None":
        return next((m for m in self.members if m.is_chair), None)

    # -- permissions that read as sentences ------------------------------------------------------------------
    def member_for(self, user: User) -> "CommitteeMember | None":
        """The user's current seat (a recused seat still counts: it explains the refusals)."""
        if not getattr(user, "is_authenticated", False):
            return None
        seats = [m for m in self.members if m.user_id == user.id]
        return seats[-1] if seats else None

    def is_hosted_by(self, user: User) -> bool:
        """The agent running the tender hosts the evaluation: opens it, records facts, generates the report."""
        return getattr(user, "is_authenticated", False) and self.section.project.can_manage(user)

    def is_party(self, user: User) -> bool:
        project = self.section.project
        return getattr(user, "is_authenticated", False) and (project.is_run_by(user) or project.is_tendered_by(user))

    def can_view(self, user: User) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return self.member_for(user) is not None or self.is_party(user) or user.is_(Role.SUPERVISOR)

    def sees_names(self, user: User) -> bool:
        """Names are for the committee and supervisors until the report; the parties see seats and counts."""
        if self.state is EvaluationState.PUBLISHED and self.is_party(user):
            return True
        member = self.member_for(user)
        return (member is not None and member.status is not MemberStatus.RECUSED) or user.is_(Role.SUPERVISOR)

    def oversees(self, user: User) -> bool:
        """Everyone's flags and scores: supervisors, and the chair for the flags (rules.md §3)."""
        if user.is_(Role.SUPERVISOR):
            return True
        member = self.member_for(user)
        return member is not None and member.is_chair and member.is_active

    def can_read_report(self, user: User) -> bool:
        if self.report_key is None or not getattr(user, "is_authenticated", False):
            return False
        member = self.member_for(user)
        return self.is_party(user) or user.is_(Role.SUPERVISOR) or (member is not None and member.is_active)


class MemberKind(enum.Enum):
    EXPERT = "expert"
    REPRESENTATIVE = "representative"   # 招标人代表


class MemberStatus(enum.Enum):
    INVITED = "invited"      # seat from the draw or designated; not signed in yet
    SEATED = "seated"        # signed in at the seat
    DECLARED = "declared"    # 承诺书 signed, no conflict: the member evaluates
    RECUSED = "recused"      # declared a conflict: replaced, never evaluates


MEMBER_STATES = StateMachine(
    "评标委员会成员",
    {MemberStatus.INVITED: {MemberStatus.SEATED}, MemberStatus.SEATED: {MemberStatus.DECLARED, MemberStatus.RECUSED}},
    {MemberStatus.INVITED: "未签到", MemberStatus.SEATED: "已签到", MemberStatus.DECLARED: "已签署承诺书",
     MemberStatus.RECUSED: "回避"},
)


class CommitteeMember(IdMixin, Base):
    """评标委员会成员 at a venue seat. ``position`` is the member's row in the scores array."""

    __tablename__ = "committee_members"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "user_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    position: Mapped[int]
    kind: Mapped[MemberKind] = enum_column(MemberKind)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    expert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("experts.id"))
    assignment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("draw_assignments.id"))
    venue_code: Mapped[str | None] = mapped_column(sa.String(24))
    venue_name: Mapped[str] = mapped_column(sa.String(200), default="")
    seat: Mapped[int | None]
    status: Mapped[MemberStatus] = enum_column(MemberStatus, default=MemberStatus.INVITED)
    signed_in_at: Mapped[datetime | None]
    sign_in_method: Mapped[str | None] = mapped_column(sa.String(16))   # certificate | totp
    sign_in_ip: Mapped[str | None] = mapped_column(sa.String(64))
    certificate_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    declared_at: Mapped[datetime | None]
    declaration: Mapped[str | None] = mapped_column(sa.Text)
    declaration_signature: Mapped[str | None] = mapped_column(sa.Text)
    recusal_reason: Mapped[str | None] = mapped_column(sa.Text)
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("committee_members.id"))
    scores_submitted_at: Mapped[datetime | None]
    is_chair: Mapped[bool] = mapped_column(default=False)

    evaluation: Mapped[Evaluation] = relationship(back_populates="members")
    user: Mapped[User] = relationship()

    @property
    def status_label(self) -> str:
        return MEMBER_STATES.labels[self.status]

    @property
    def is_active(self) -> bool:
        return self.status is MemberStatus.DECLARED

    @property
    def seat_label(self) -> str:
        where = self.venue_name or self.venue_code or ""
        return f"{where}第{self.seat}号席位" if self.seat else where

    @property
    def kind_label(self) -> str:
        return "评标专家" if self.kind is MemberKind.EXPERT else "招标人代表"


class ChairVote(IdMixin, Base):
    """推选主任委员: one vote per member per round; a majority of the committee elects."""

    __tablename__ = "chair_votes"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "round", "voter_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    round: Mapped[int]
    voter_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EvaluatedBid(IdMixin, Base):
    """A bid opened at the opening, as the committee evaluates it; ``position`` is its column in the arrays."""

    __tablename__ = "evaluated_bids"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "bid_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    position: Mapped[int]
    price: Mapped[Decimal]
    price_form: Mapped[str] = mapped_column(sa.Text)
    #: Facts the agent established (credit checks, certificates...) that the method's rules read (JSON).
    facts: Mapped[str] = mapped_column(sa.Text, default="{}")
    small_enterprise: Mapped[bool] = mapped_column(default=False)
    failed_stage: Mapped[str | None] = mapped_column(sa.String(64))

    evaluation: Mapped[Evaluation] = relationship(back_populates="bidders")
    organisation: Mapped[Organisation] = relationship()

    @property
    def facts_dict(self) -> dict:
        return json.loads(self.facts or "{}")

    @property
    def price_form_dict(self) -> dict:
        return json.loads(self.price_form or "{}")

    @property
    def name(self) -> str:
        return self.organisation.name


class StageVote(IdMixin, Base):
    """A member's pass/fail vote on one item of a review stage for one bidder; a fail carries its reason."""

    __tablename__ = "stage_votes"
    __table_args__ = (sa.UniqueConstraint("member_id", "bidder_id", "item_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    bidder_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluated_bids.id"))
    stage_id: Mapped[str] = mapped_column(sa.String(64))
    item_id: Mapped[str] = mapped_column(sa.String(64))
    passed: Mapped[bool]
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StageSubmission(IdMixin, Base):
    """"Who finished what": a member finished a review stage; the votes are then locked."""

    __tablename__ = "stage_submissions"
    __table_args__ = (sa.UniqueConstraint("member_id", "stage_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"))
    stage_id: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StageOutcome(IdMixin, Base):
    """A decided review stage: who entered, who passed, and every fail with the members' reasons (JSON)."""

    __tablename__ = "stage_outcomes"
    __table_args__ = (sa.UniqueConstraint("evaluation_id", "stage_id"),)

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    stage_id: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(sa.Text)

    @property
    def data(self) -> dict:
        return json.loads(self.outcome)


# The records of the scoring, clarifications, chat and signatures live in evaluation.record_models; importing them
# here keeps one import (core.all_models) and one place (this module) for every table of the evaluation.
from evaluation.record_models import (  # noqa: E402,F401
    FLAG_LABELS,
    FLAG_REASONS,
    SIGNATURE_LABELS,
    ChatMessage,
    EvaluationClarification,
    FlagState,
    ReportSignature,
    ScoreEntry,
    ScoreFlag,
    SignatureDecision,
)


class CorrectionState(enum.Enum):
    PROPOSED = "proposed"    # sent to the bidder as a clarification; awaiting its signed answer
    ACCEPTED = "accepted"    # the bidder confirmed in writing: the corrected price binds it
    REFUSED = "refused"      # the bidder did not accept: the bid is rejected
    EXPIRED = "expired"      # the clarification's deadline passed unanswered: counts as refused


CORRECTION_STATES = StateMachine(
    "算术修正",
    {CorrectionState.PROPOSED: {CorrectionState.ACCEPTED, CorrectionState.REFUSED, CorrectionState.EXPIRED}},
    {CorrectionState.PROPOSED: "待投标人确认", CorrectionState.ACCEPTED: "投标人已接受",
     CorrectionState.REFUSED: "投标人不接受", CorrectionState.EXPIRED: "逾期未答复（视为不接受）"},
)


class PriceCorrection(IdMixin, Base):
    """算术修正: the chair corrects an arithmetic error in a bid's price; the bidder accepts or refuses it in its
    signed answer to the clarification that states the correction. ``read_out_price`` is the price corrected (the
    read-out price, or the price an earlier accepted correction set)."""

    __tablename__ = "price_corrections"

    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), index=True)
    bidder_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluated_bids.id"), index=True)
    clarification_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_clarifications.id"), unique=True)
    read_out_price: Mapped[Decimal]
    corrected_price: Mapped[Decimal]
    reason: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[CorrectionState] = enum_column(CorrectionState, default=CorrectionState.PROPOSED)
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    bidder: Mapped[EvaluatedBid] = relationship()
    clarification: Mapped[EvaluationClarification] = relationship()

    @property
    def state_label(self) -> str:
        return CORRECTION_STATES.labels[self.state]

    @property
    def is_open(self) -> bool:
        return self.state is CorrectionState.PROPOSED
