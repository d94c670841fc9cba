"""Venues, draw requests, the commit-reveal ceremony's stored state, exclusions and assignments.

What is confidential is stored sealed (evaluation.draw_sealing, docs/draw.md §8): the committed secret is
wrapped to the evaluation service's key; the selection and which expert holds each assignment are encrypted
under keys derived from a per-draw list key, and that list key is wrapped to the evaluation key and to the
encryption certificate of every supervisor of the draw (``DrawListKey``). An assignment carries an opaque
``expert_tag`` (a keyed hash of the expert's code under a per-draw key) so an expert can find their own notices
and nobody reading the tables can tell who was drawn. The eligible list, the exclusions (supervisors only) and
the counts are not secret.
"""
from __future__ import annotations

import enum
import json
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from core.accounts import Organisation, Role, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from trading.models import Section, SectionState


class Venue(IdMixin, Base):
    """An evaluation site of a trading centre (评标场地), with its seats and the regions counted as near it."""

    __tablename__ = "venues"

    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    region_code: Mapped[str] = mapped_column(sa.String(6))
    #: Space-separated GB/T 2260 codes of configured neighbours whose experts may sit here (2+X mode).
    neighbour_regions: Mapped[str] = mapped_column(sa.String(400), default="")
    seats: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()

    @property
    def near_regions(self) -> list[str]:
        return [self.region_code] + self.neighbour_regions.split()


class DrawState(enum.Enum):
    REQUESTED = "requested"                     # 已申请: the request is checked and saved
    COMMITTED = "committed"                     # 已承诺: pool frozen, commitment published, entropy accepted
    DRAWN = "drawn"                             # 已抽取: seed revealed, list sealed, confirmations pending
    COMPLETED = "completed"                     # 已组建: every member confirmed
    COMMITTEE_REVEALED = "committee_revealed"   # 已启封: evaluation started, members see the names
    PUBLISHED = "published"                     # 已公开: after the award, the whole record is public
    CANCELLED = "cancelled"


DRAW_STATES = StateMachine(
    "专家抽取",
    {
        DrawState.REQUESTED: {DrawState.COMMITTED, DrawState.CANCELLED},
        DrawState.COMMITTED: {DrawState.DRAWN, DrawState.CANCELLED},
        DrawState.DRAWN: {DrawState.COMPLETED, DrawState.CANCELLED},
        DrawState.COMPLETED: {DrawState.DRAWN, DrawState.COMMITTEE_REVEALED, DrawState.CANCELLED},
        DrawState.COMMITTEE_REVEALED: {DrawState.PUBLISHED},
    },
    {DrawState.REQUESTED: "已申请", DrawState.COMMITTED: "已承诺（待抽取）", DrawState.DRAWN: "已抽取（待确认）",
     DrawState.COMPLETED: "委员会已组建", DrawState.COMMITTEE_REVEALED: "评标开始，名单已对委员会启封",
     DrawState.PUBLISHED: "抽取记录已公开", DrawState.CANCELLED: "已取消"},
)

#: States in which the drawn list exists.
DRAWN_STATES = (DrawState.DRAWN, DrawState.COMPLETED, DrawState.COMMITTEE_REVEALED, DrawState.PUBLISHED)
#: Sections whose results are decided: the list may be published (实施条例: confidential until the award).
AWARDED_SECTION_STATES = (SectionState.AWARDED, SectionState.CONTRACTED, SectionState.CLOSED)

COMMITTEE_RULE_LABELS = {
    "engineering": "工程建设项目（5人以上单数）", "water_works": "水利工程（7人以上单数）",
    "government_procurement": "政府采购（5人以上单数）", "government_procurement_large": "政府采购，预算1000万元以上或技术复杂（7人以上单数）",
    "negotiation": "竞争性谈判/磋商/询价（3人以上单数）",
}


class Draw(IdMixin, Base):
    """抽取专家: one section's request and its commit-reveal ceremony."""

    __tablename__ = "draws"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    state: Mapped[DrawState] = enum_column(DrawState, default=DrawState.REQUESTED)
    committee_rule: Mapped[str] = mapped_column(sa.String(40))
    tenderee_representatives: Mapped[int] = mapped_column(default=0)
    regions_allowed: Mapped[str] = mapped_column(sa.String(400), default="")
    regions_excluded: Mapped[str] = mapped_column(sa.String(400), default="")
    evaluation_at: Mapped[datetime]
    confirmation_minutes: Mapped[int] = mapped_column(default=30)
    supervisor_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    # Recusal context: bidders are known after the deadline; a draw committed earlier is re-checked then.
    bidders_known: Mapped[bool] = mapped_column(default=False)
    bidder_credit_codes: Mapped[str] = mapped_column(sa.Text, default="")
    # The ceremony (docs/draw.md §1): digests and commitment are public from the commit on.
    request_json: Mapped[str | None] = mapped_column(sa.Text)
    request_digest: Mapped[str | None] = mapped_column(sa.String(64))
    eligible_digest: Mapped[str | None] = mapped_column(sa.String(64))
    commitment: Mapped[str | None] = mapped_column(sa.String(64))
    eligible_json: Mapped[str | None] = deferred(mapped_column(sa.Text))
    eligible_count: Mapped[int] = mapped_column(default=0)
    candidate_count: Mapped[int] = mapped_column(default=0)
    salt: Mapped[str] = mapped_column(sa.String(32))
    secret_sealed: Mapped[str | None] = mapped_column(sa.Text)
    result_sealed: Mapped[str | None] = mapped_column(sa.Text)
    result_commitment: Mapped[str | None] = mapped_column(sa.String(64))
    record_json: Mapped[str | None] = deferred(mapped_column(sa.Text))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    committed_at: Mapped[datetime | None]
    drawn_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    committee_revealed_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]

    section: Mapped[Section] = relationship()
    requested_by: Mapped[User] = relationship()
    supervisor_org: Mapped[Organisation | None] = relationship()
    quotas: Mapped[list["DrawQuota"]] = relationship(back_populates="draw", order_by="DrawQuota.position",
                                                     cascade="all, delete-orphan")
    venues: Mapped[list["DrawVenue"]] = relationship(back_populates="draw", order_by="DrawVenue.position",
                                                     cascade="all, delete-orphan")
    contributions: Mapped[list["DrawContribution"]] = relationship(back_populates="draw",
                                                                   order_by="DrawContribution.id")
    assignments: Mapped[list["DrawAssignment"]] = relationship(back_populates="draw", order_by="DrawAssignment.id")
    replacements: Mapped[list["DrawReplacement"]] = relationship(back_populates="draw",
                                                                 order_by="DrawReplacement.round")
    list_keys: Mapped[list["DrawListKey"]] = relationship(back_populates="draw", order_by="DrawListKey.id")

    @property
    def state_label(self) -> str:
        return DRAW_STATES.labels[self.state]

    @property
    def experts_requested(self) -> int:
        return sum(q.count for q in self.quotas)

    @property
    def reserves_requested(self) -> int:
        return sum(q.reserves for q in self.quotas)

    @property
    def committee_size(self) -> int:
        return self.experts_requested + self.tenderee_representatives

    @property
    def remote(self) -> bool:
        return len(self.venues) > 1

    @property
    def main_venue(self) -> "Venue | None":
        return self.venues[0].venue if self.venues else None

    @property
    def evaluation_date(self) -> date:
        from core.clock import local

        return local(self.evaluation_at).date()

    @property
    def request(self) -> dict:
        return json.loads(self.request_json) if self.request_json else {}

    @property
    def is_drawn(self) -> bool:
        return self.state in DRAWN_STATES

    # -- permissions that read as sentences ------------------------------------------------------------------
    def is_run_by(self, user: User) -> bool:
        return self.section.project.can_manage(user)

    def is_party(self, user: User) -> bool:
        """The agent running the tender or the tenderee: they see counts, never names, until the award."""
        project = self.section.project
        return user.is_authenticated and (project.is_run_by(user) or project.is_tendered_by(user))

    def can_view(self, user: User) -> bool:
        return user.is_authenticated and (self.is_party(user) or user.is_(Role.SUPERVISOR, Role.ADMIN))

    def can_see_exclusions(self, user: User) -> bool:
        """Who was recused and why is for supervisors only (issue 6)."""
        return user.is_authenticated and user.is_(Role.SUPERVISOR)

    def is_overseen_by(self, user: User) -> bool:
        """The draw's supervisors: those of its supervisory authority when one is named, otherwise every
        supervisor. They contribute entropy, and the drawn list is sealed to their encryption certificates."""
        if not (user.is_authenticated and user.is_(Role.SUPERVISOR)):
            return False
        return self.supervisor_org_id is None or user.organisation_id == self.supervisor_org_id

    def can_see_names(self, user: User) -> bool:
        """Whom the server shows the names to: everyone once the record is published; supervisors from the
        evaluation's start (the list is then open to the committee). Before the start the server never opens
        the list for a page, not even for supervisors: they open it with their own key (can_open_sealed_list)."""
        if self.state is DrawState.PUBLISHED:
            return True
        return user.is_authenticated and user.is_(Role.SUPERVISOR) and self.state is DrawState.COMMITTEE_REVEALED

    def can_open_sealed_list(self, user: User) -> bool:
        """A supervisor of the draw fetches the sealed list and its wrap to open in the browser or bidtool."""
        return self.is_drawn and self.is_overseen_by(user)

    def can_contribute(self, user: User) -> bool:
        if not user.is_authenticated:
            return False
        return self.is_overseen_by(user) or self.section.project.is_tendered_by(user)

    def can_conduct(self, user: User) -> bool:
        """Reveal, process time-outs, open to the committee, publish: the agent or a supervisor."""
        return user.is_authenticated and (self.is_run_by(user) or user.is_(Role.SUPERVISOR))


class DrawQuota(IdMixin, Base):
    __tablename__ = "draw_quotas"

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    specialty: Mapped[str] = mapped_column(sa.String(8))
    count: Mapped[int]
    reserves: Mapped[int] = mapped_column(default=0)

    draw: Mapped[Draw] = relationship(back_populates="quotas")


class VenueRole(enum.Enum):
    MAIN = "main"            # 主场: where the tender is run
    SECONDARY = "secondary"  # 副场


class DrawVenue(IdMixin, Base):
    __tablename__ = "draw_venues"

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id", ondelete="CASCADE"), index=True)
    venue_id: Mapped[int] = mapped_column(sa.ForeignKey("venues.id"))
    role: Mapped[VenueRole] = enum_column(VenueRole)
    position: Mapped[int]
    seats: Mapped[int]

    draw: Mapped[Draw] = relationship(back_populates="venues")
    venue: Mapped[Venue] = relationship()


class DrawContribution(IdMixin, Base):
    """Entropy from a supervisor or the tenderee; ``at`` is the exact text bound into the seed."""

    __tablename__ = "draw_contributions"
    __table_args__ = (sa.UniqueConstraint("draw_id", "user_id"),)

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    contributor: Mapped[str] = mapped_column(sa.String(120))
    at: Mapped[str] = mapped_column(sa.String(40))
    entropy: Mapped[str] = mapped_column(sa.Text)
    role: Mapped[str] = mapped_column(sa.String(20))

    draw: Mapped[Draw] = relationship(back_populates="contributions")


class DrawExclusion(IdMixin, Base):
    """One recusal exclusion with its rule and reason; shown to supervisors only."""

    __tablename__ = "draw_exclusions"

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"), index=True)
    expert_code: Mapped[str] = mapped_column(sa.String(16))
    rule: Mapped[str] = mapped_column(sa.String(32))
    reason_zh: Mapped[str] = mapped_column(sa.String(300))
    reason_en: Mapped[str] = mapped_column(sa.String(300))
    stage: Mapped[str] = mapped_column(sa.String(16), default="commit")  # commit | recheck


class AssignmentStatus(enum.Enum):
    NOTIFIED = "notified"      # 已通知，待确认
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"    # 超时未确认
    RECUSED = "recused"        # 复核回避


ASSIGNMENT_STATES = StateMachine(
    "专家邀请",
    {
        AssignmentStatus.NOTIFIED: {AssignmentStatus.CONFIRMED, AssignmentStatus.DECLINED, AssignmentStatus.TIMED_OUT,
                                    AssignmentStatus.RECUSED},
        AssignmentStatus.CONFIRMED: {AssignmentStatus.DECLINED, AssignmentStatus.RECUSED},
    },
    {AssignmentStatus.NOTIFIED: "待确认", AssignmentStatus.CONFIRMED: "已确认参加", AssignmentStatus.DECLINED: "已拒绝",
     AssignmentStatus.TIMED_OUT: "超时未确认", AssignmentStatus.RECUSED: "回避"},
)
#: Why an assignment ended, as the replacement reason written into the record (docs/draw.md §4.4).
REPLACEMENT_REASONS = {AssignmentStatus.DECLINED: "declined", AssignmentStatus.TIMED_OUT: "timed_out",
                       AssignmentStatus.RECUSED: "recused"}


class DrawAssignment(IdMixin, Base):
    """A seat offered to one drawn expert: the notice they answer. Who holds it is sealed (see module doc)."""

    __tablename__ = "draw_assignments"

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"), index=True)
    slot: Mapped[int]                      # position in the committee's member list
    quota: Mapped[int]
    round: Mapped[int] = mapped_column(default=0)  # 0 = the draw itself, k = replacement k
    venue_code: Mapped[str | None] = mapped_column(sa.String(24))
    seat: Mapped[int | None]
    expert_tag: Mapped[str] = mapped_column(sa.String(64), index=True)
    expert_sealed: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[AssignmentStatus] = enum_column(AssignmentStatus, default=AssignmentStatus.NOTIFIED)
    notified_at: Mapped[datetime] = mapped_column(default=utcnow)
    respond_by: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(sa.Text)

    draw: Mapped[Draw] = relationship(back_populates="assignments")

    @property
    def status_label(self) -> str:
        return ASSIGNMENT_STATES.labels[self.status]

    @property
    def is_current(self) -> bool:
        return self.status in (AssignmentStatus.NOTIFIED, AssignmentStatus.CONFIRMED)


class DrawReplacement(IdMixin, Base):
    """补抽: replacement event ``round`` k of the record; the experts are those of the two assignments."""

    __tablename__ = "draw_replacements"
    __table_args__ = (sa.UniqueConstraint("draw_id", "round"),)

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"), index=True)
    round: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(20))
    replaced_id: Mapped[int] = mapped_column(sa.ForeignKey("draw_assignments.id"))
    substitute_id: Mapped[int] = mapped_column(sa.ForeignKey("draw_assignments.id"))
    from_reserve: Mapped[bool]
    at: Mapped[datetime] = mapped_column(default=utcnow)

    draw: Mapped[Draw] = relationship(back_populates="replacements")
    replaced: Mapped[DrawAssignment] = relationship(foreign_keys=[replaced_id])
    substitute: Mapped[DrawAssignment] = relationship(foreign_keys=[substitute_id])


class ListKeyRecipient(enum.Enum):
    EVALUATION = "evaluation"    # the evaluation service: notices, confirmations, replacements, sign-in
    SUPERVISION = "supervision"  # a supervisor of the draw, who opens the list in the browser or bidtool


class DrawListKey(IdMixin, Base):
    """The draw's list key wrapped to one recipient's encryption certificate (crypto.envelope.keys.wrap_secret).

    ``certificate_id`` names a supervisor's certificate; the evaluation service's certificate lives in
    instance/pki/evaluation-service/ and is named by its fingerprint alone.
    """

    __tablename__ = "draw_list_keys"
    __table_args__ = (sa.UniqueConstraint("draw_id", "recipient_fingerprint"),)

    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("draws.id"), index=True)
    recipient: Mapped[ListKeyRecipient] = enum_column(ListKeyRecipient)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    algorithm: Mapped[str] = mapped_column(sa.String(40))
    recipient_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    recipient_key: Mapped[str] = mapped_column(sa.String(64))
    wrapped: Mapped[str] = mapped_column(sa.Text)                       # hex
    ephemeral_key: Mapped[str | None] = mapped_column(sa.String(130))   # hex of the 65-byte point (ECDH-ES)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    draw: Mapped[Draw] = relationship(back_populates="list_keys")
    user: Mapped[User | None] = relationship()
