"""Tender projects and their sections, tender documents, price forms, downloads and clarifications."""
from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, Role, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from core.storage import StoredFile


class ProjectType(enum.Enum):
    WORKS = "works"
    GOODS = "goods"
    SERVICES = "services"


PROJECT_TYPE_LABELS = {ProjectType.WORKS: "工程", ProjectType.GOODS: "货物", ProjectType.SERVICES: "服务"}


class ProcurementMethod(enum.Enum):
    OPEN = "open"                    # 公开招标
    INVITED = "invited"              # 邀请招标
    CONSULTATION = "consultation"    # 竞争性磋商
    INQUIRY = "inquiry"              # 询价


METHOD_LABELS = {
    ProcurementMethod.OPEN: "公开招标", ProcurementMethod.INVITED: "邀请招标",
    ProcurementMethod.CONSULTATION: "竞争性磋商", ProcurementMethod.INQUIRY: "询价",
}


class ProjectState(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"


PROJECT_STATES = StateMachine(
    "招标项目",
    {
        ProjectState.DRAFT: {ProjectState.PUBLISHED, ProjectState.CANCELLED},
        ProjectState.PUBLISHED: {ProjectState.CLOSED, ProjectState.CANCELLED},
    },
    {ProjectState.DRAFT: "草稿", ProjectState.PUBLISHED: "已发布", ProjectState.CLOSED: "已归档",
     ProjectState.CANCELLED: "已终止"},
)


class SectionState(enum.Enum):
    DRAFT = "draft"
    BIDDING = "bidding"          # published: documents on issue, bids accepted until the deadline
    OPENING = "opening"          # the opening hall is open
    EVALUATION = "evaluation"
    PUBLICITY = "publicity"      # candidate publicity (中标候选人公示)
    AWARDED = "awarded"
    CONTRACTED = "contracted"
    CLOSED = "closed"
    FAILED = "failed"            # 流标
    CANCELLED = "cancelled"


SECTION_STATES = StateMachine(
    "标段",
    {
        SectionState.DRAFT: {SectionState.BIDDING, SectionState.CANCELLED},
        SectionState.BIDDING: {SectionState.OPENING, SectionState.CANCELLED},
        SectionState.OPENING: {SectionState.EVALUATION, SectionState.FAILED},
        SectionState.EVALUATION: {SectionState.PUBLICITY, SectionState.FAILED},
        SectionState.PUBLICITY: {SectionState.AWARDED, SectionState.EVALUATION, SectionState.FAILED},
        SectionState.AWARDED: {SectionState.CONTRACTED},
        SectionState.CONTRACTED: {SectionState.CLOSED},
        SectionState.FAILED: {SectionState.CLOSED},
    },
    {
        SectionState.DRAFT: "草稿", SectionState.BIDDING: "招标中", SectionState.OPENING: "开标中",
        SectionState.EVALUATION: "评标中", SectionState.PUBLICITY: "公示中", SectionState.AWARDED: "已定标",
        SectionState.CONTRACTED: "已签约", SectionState.CLOSED: "已归档", SectionState.FAILED: "流标",
        SectionState.CANCELLED: "已终止",
    },
)


class Project(IdMixin, Base):
    """招标项目: one tender, run by an agency for a tenderee, with one or more sections."""

    __tablename__ = "projects"

    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[ProjectType] = enum_column(ProjectType)
    method: Mapped[ProcurementMethod] = enum_column(ProcurementMethod)
    budget: Mapped[Decimal]
    ceiling_price: Mapped[Decimal]
    region_code: Mapped[str] = mapped_column(sa.String(6))
    government_invested: Mapped[bool] = mapped_column(default=False)
    notice_text: Mapped[str] = mapped_column(sa.Text, default="")
    tenderee_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    state: Mapped[ProjectState] = enum_column(ProjectState, default=ProjectState.DRAFT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]

    tenderee: Mapped[Organisation] = relationship(foreign_keys=[tenderee_id])
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_id])
    sections: Mapped[list["Section"]] = relationship(back_populates="project", order_by="Section.code",
                                                     cascade="all, delete-orphan")
    invitations: Mapped[list["Invitation"]] = relationship(back_populates="project", cascade="all, delete-orphan")

    @property
    def type_label(self) -> str:
        return PROJECT_TYPE_LABELS[self.type]

    @property
    def method_label(self) -> str:
        return METHOD_LABELS[self.method]

    @property
    def state_label(self) -> str:
        return PROJECT_STATES.labels[self.state]

    @property
    def is_published(self) -> bool:
        return self.state in (ProjectState.PUBLISHED, ProjectState.CLOSED)

    # -- permissions ----------------------------------------------------------------------------
    def is_run_by(self, user: User) -> bool:
        return user.is_(Role.AGENT) and user.belongs_to(self.agency_id)

    def is_tendered_by(self, user: User) -> bool:
        return user.is_(Role.TENDEREE) and user.belongs_to(self.tenderee_id)

    def can_manage(self, user: User) -> bool:
        """The agent of the engaged agency runs the tender."""
        return user.is_authenticated and self.is_run_by(user)

    def can_view(self, user: User) -> bool:
        if self.is_published and self.is_open_to(user):
            return True
        return user.is_authenticated and (self.is_run_by(user) or self.is_tendered_by(user)
                                          or user.is_(Role.SUPERVISOR, Role.ADMIN))

    def is_open_to(self, user: User) -> bool:
        """An invitation tender is visible to the invitees and the parties only; an open one to everyone."""
        if self.method is not ProcurementMethod.INVITED:
            return True
        if not user.is_authenticated:
            return False
        if user.is_(Role.BIDDER):
            return any(inv.organisation_id == user.organisation_id for inv in self.invitations)
        return self.is_run_by(user) or self.is_tendered_by(user) or user.is_(Role.SUPERVISOR, Role.ADMIN)

    def can_see_downloaders(self, user: User) -> bool:
        """Who downloaded, and how many, is for the agent, the tenderee and supervisors only."""
        return user.is_authenticated and (self.is_run_by(user) or self.is_tendered_by(user)
                                          or user.is_(Role.SUPERVISOR))


class Section(IdMixin, Base):
    """标段/包: the unit that is bid on, opened and evaluated, with its own schedule."""

    __tablename__ = "sections"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"))
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    ceiling_price: Mapped[Decimal]
    bid_security_amount: Mapped[Decimal]
    bid_validity_days: Mapped[int] = mapped_column(default=90)
    evaluation_method: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[SectionState] = enum_column(SectionState, default=SectionState.DRAFT)
    # The schedule (all UTC). The deadline is also the opening time.
    notice_at: Mapped[datetime]
    issue_start: Mapped[datetime]
    issue_end: Mapped[datetime]
    clarification_deadline: Mapped[datetime]
    deadline: Mapped[datetime]
    decryption_minutes: Mapped[int] = mapped_column(default=30)
    #: How many opening officers' escrow shares together open a bid (Shamir k-of-n).
    escrow_threshold: Mapped[int] = mapped_column(default=2)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="sections")
    price_form: Mapped[list["PriceFormField"]] = relationship(back_populates="section", order_by="PriceFormField.position",
                                                               cascade="all, delete-orphan")
    documents: Mapped[list["TenderDocument"]] = relationship(back_populates="section", order_by="TenderDocument.id",
                                                             cascade="all, delete-orphan")

    @property
    def state_label(self) -> str:
        return SECTION_STATES.labels[self.state]

    @property
    def decryption_window(self) -> timedelta:
        return timedelta(minutes=self.decryption_minutes)

    @property
    def current_documents(self) -> list["TenderDocument"]:
        return [doc for doc in self.documents if doc.superseded_by_id is None]


class PriceFieldType(enum.Enum):
    MONEY = "money"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    CHOICE = "choice"
    DATE = "date"


PRICE_FIELD_TYPE_LABELS = {
    PriceFieldType.MONEY: "金额(元)", PriceFieldType.INTEGER: "整数", PriceFieldType.DECIMAL: "数值",
    PriceFieldType.TEXT: "文本", PriceFieldType.CHOICE: "选项", PriceFieldType.DATE: "日期",
}


class PriceFormField(IdMixin, Base):
    """One field of the section's price form (开标一览表), read out at the opening."""

    __tablename__ = "price_form_fields"
    __table_args__ = (sa.UniqueConstraint("section_id", "key"),)

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"))
    key: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[PriceFieldType] = enum_column(PriceFieldType)
    required: Mapped[bool] = mapped_column(default=True)
    options: Mapped[str | None] = mapped_column(sa.Text)  # choices, one per line
    position: Mapped[int] = mapped_column(default=0)

    section: Mapped[Section] = relationship(back_populates="price_form")

    @property
    def type_label(self) -> str:
        return PRICE_FIELD_TYPE_LABELS[self.type]

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "type": self.type.value, "required": self.required,
                "options": self.options.splitlines() if self.options else None}


class DocumentKind(enum.Enum):
    ORIGINAL = "original"          # 招标文件
    CLARIFICATION = "clarification"  # 澄清/修改文件


class TenderDocument(IdMixin, Base):
    """A version of the tender documents (招标文件). A clarification adds a version; none is ever edited."""

    __tablename__ = "tender_documents"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[DocumentKind] = enum_column(DocumentKind, default=DocumentKind.ORIGINAL)
    version: Mapped[int] = mapped_column(default=1)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    clarification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clarifications.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_documents.id"))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    section: Mapped[Section] = relationship(back_populates="documents")
    file: Mapped[StoredFile] = relationship()
    clarification: Mapped["Clarification | None"] = relationship()


class Download(IdMixin, Base):
    """Every download of tender documents is recorded; the list is confidential (see can_see_downloaders)."""

    __tablename__ = "downloads"

    document_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_documents.id"), index=True)
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    document: Mapped[TenderDocument] = relationship()
    user: Mapped[User] = relationship()
    organisation: Mapped[Organisation | None] = relationship()


class AmendmentDecision(enum.Enum):
    """What the agent decided for an amendment issued less than 15 days before the deadline."""

    NOT_LATE = "not_late"                # 15 days or more before the deadline: nothing to decide
    DEADLINE_MOVED = "deadline_moved"    # 顺延投标截止时间
    NO_EFFECT = "no_effect"              # 不影响投标文件编制, with a reason


class Clarification(IdMixin, Base):
    """澄清/修改: issued by the agent as a new version of the documents; every downloader is notified."""

    __tablename__ = "clarifications"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    decision: Mapped[AmendmentDecision] = enum_column(AmendmentDecision)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    previous_deadline: Mapped[datetime]
    new_deadline: Mapped[datetime]
    issued_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    section: Mapped[Section] = relationship()


class Invitation(IdMixin, Base):
    """An invitee of an invitation tender (邀请招标)."""

    __tablename__ = "invitations"
    __table_args__ = (sa.UniqueConstraint("project_id", "organisation_id"),)

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))

    project: Mapped[Project] = relationship(back_populates="invitations")
    organisation: Mapped[Organisation] = relationship()
