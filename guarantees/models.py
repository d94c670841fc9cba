"""Issuers' products, guarantee applications and guarantees, their verifications and claims.

One ``Guarantee`` row carries an application (投保/申请) through its whole life: the order the platform pushes
to the issuer, the issuer's decision, the signed document it issues, every verification (验真), the release
(释放/退还) or the claim (索赔). The life cycle is one explicit state machine (issue 5):

    applied → rejected | approved → issued → verified → in use → released | (claimed → paid | refused)
                                                          ↘ expired | surrendered

``approved`` (underwritten, document not yet pushed) refines the issue's "applied → issued": an issuer may
also issue straight from ``applied``.
"""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, Role, User
from core.clock import now
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from core.storage import StoredFile


class GuaranteeForm(enum.Enum):
    """The three forms rules.md §4 names."""

    BANK_GUARANTEE = "bank_guarantee"            # 银行保函
    GUARANTEE_COMPANY = "guarantee_company"      # 担保公司保函
    SURETY_INSURANCE = "surety_insurance"        # 投标保证保险保单


FORM_LABELS = {GuaranteeForm.BANK_GUARANTEE: "银行保函", GuaranteeForm.GUARANTEE_COMPANY: "担保公司保函",
               GuaranteeForm.SURETY_INSURANCE: "保证保险保单"}


class GuaranteeKind(enum.Enum):
    """Order field "guarantee type" of the published bank interface: 1 = cipher, 2 = plain."""

    CIPHER = "cipher"    # 密文保函: project, section and beneficiary sealed until the opening
    PLAIN = "plain"      # 明文保函


KIND_LABELS = {GuaranteeKind.CIPHER: "密文保函", GuaranteeKind.PLAIN: "明文保函"}


class GuaranteeState(enum.Enum):
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"
    ISSUED = "issued"
    VERIFIED = "verified"
    IN_USE = "in_use"
    RELEASED = "released"
    CLAIMED = "claimed"
    PAID = "paid"
    REFUSED = "refused"
    EXPIRED = "expired"
    SURRENDERED = "surrendered"


GUARANTEE_STATES = StateMachine(
    "电子保函",
    {
        GuaranteeState.APPLIED: {GuaranteeState.APPROVED, GuaranteeState.REJECTED, GuaranteeState.ISSUED},
        GuaranteeState.APPROVED: {GuaranteeState.ISSUED, GuaranteeState.REJECTED},
        GuaranteeState.ISSUED: {GuaranteeState.VERIFIED, GuaranteeState.RELEASED, GuaranteeState.EXPIRED,
                                GuaranteeState.SURRENDERED},
        GuaranteeState.VERIFIED: {GuaranteeState.IN_USE, GuaranteeState.RELEASED, GuaranteeState.EXPIRED,
                                  GuaranteeState.SURRENDERED},
        GuaranteeState.IN_USE: {GuaranteeState.RELEASED, GuaranteeState.CLAIMED, GuaranteeState.EXPIRED},
        GuaranteeState.CLAIMED: {GuaranteeState.PAID, GuaranteeState.REFUSED},
    },
    {
        GuaranteeState.APPLIED: "已申请", GuaranteeState.APPROVED: "已核保", GuaranteeState.REJECTED: "已拒绝",
        GuaranteeState.ISSUED: "已出函", GuaranteeState.VERIFIED: "已验真", GuaranteeState.IN_USE: "使用中",
        GuaranteeState.RELEASED: "已释放", GuaranteeState.CLAIMED: "索赔中", GuaranteeState.PAID: "已赔付",
        GuaranteeState.REFUSED: "已拒赔", GuaranteeState.EXPIRED: "已过期", GuaranteeState.SURRENDERED: "已退保",
    },
)

#: States in which a guarantee still occupies its bidder's one place in the section.
LIVE_STATES = frozenset({GuaranteeState.APPLIED, GuaranteeState.APPROVED, GuaranteeState.ISSUED,
                         GuaranteeState.VERIFIED, GuaranteeState.IN_USE, GuaranteeState.CLAIMED})
#: States in which a guarantee secures a bid (issued and not ended).
SECURING_STATES = frozenset({GuaranteeState.ISSUED, GuaranteeState.VERIFIED, GuaranteeState.IN_USE})


class IssuerProfile(Base):
    """An issuer's connection to the platform: where release and claim notices are delivered."""

    __tablename__ = "issuer_profiles"

    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), primary_key=True)
    callback_url: Mapped[str | None] = mapped_column(sa.String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()


class GuaranteeProduct(IdMixin, Base):
    """A product an issuer offers: its form, premium rate and underwriting limits."""

    __tablename__ = "guarantee_products"
    __table_args__ = (sa.UniqueConstraint("issuer_id", "code"),)

    issuer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(100))
    form: Mapped[GuaranteeForm] = enum_column(GuaranteeForm)
    #: Premium as a fraction of the amount (0.0015 = 0.15%).
    premium_rate: Mapped[Decimal] = mapped_column(sa.Numeric(8, 6))
    minimum_premium: Mapped[Decimal]
    min_amount: Mapped[Decimal]
    max_amount: Mapped[Decimal]
    max_validity_days: Mapped[int] = mapped_column(default=365)
    supports_cipher: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    issuer: Mapped[Organisation] = relationship()

    @property
    def form_label(self) -> str:
        return FORM_LABELS[self.form]


class Guarantee(IdMixin, Base):
    """One application and, once issued, the guarantee itself (投标保函)."""

    __tablename__ = "guarantees"
    __table_args__ = (
        # One live guarantee per bidder per section (the duplicate-order check of rules.md §4): ``live`` is 1
        # while the guarantee holds the place and NULL afterwards, and NULLs never collide.
        sa.UniqueConstraint("section_id", "organisation_id", "live"),
        sa.UniqueConstraint("issuer_id", "guarantee_no"),
    )

    application_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    issuer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("guarantee_products.id"))
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[GuaranteeKind] = enum_column(GuaranteeKind)
    state: Mapped[GuaranteeState] = enum_column(GuaranteeState, default=GuaranteeState.APPLIED)
    live: Mapped[int | None] = mapped_column(default=1)
    amount: Mapped[Decimal]
    premium: Mapped[Decimal]
    valid_until_min: Mapped[date]
    #: The order as pushed to the issuer: canonical JSON signed by the platform.
    application_document: Mapped[str] = mapped_column(sa.Text)
    #: Cipher guarantees: the per-application key, sealed with the platform's key; its SHA-256; when released.
    sealed_key: Mapped[str | None] = mapped_column(sa.String(200))
    key_digest: Mapped[str | None] = mapped_column(sa.String(64))
    key_released_at: Mapped[datetime | None]
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The issued guarantee.
    guarantee_no: Mapped[str | None] = mapped_column(sa.String(40))
    issued_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    document: Mapped[str | None] = mapped_column(sa.Text)
    document_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    verification_code: Mapped[str | None] = mapped_column(sa.String(24), unique=True)
    pdf_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    surrender_requested_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(40))

    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    issuer: Mapped[Organisation] = relationship(foreign_keys=[issuer_id])
    product: Mapped[GuaranteeProduct] = relationship()
    applicant: Mapped[User] = relationship()
    pdf_file: Mapped[StoredFile | None] = relationship()
    section = relationship("Section")

    @property
    def state_label(self) -> str:
        return GUARANTEE_STATES.labels[self.state]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def is_cipher(self) -> bool:
        return self.kind is GuaranteeKind.CIPHER

    @property
    def is_issued(self) -> bool:
        return self.document is not None

    # -- permissions that read as sentences ---------------------------------------------------------------
    def is_held_by(self, user: User) -> bool:
        return user.is_authenticated and user.belongs_to(self.organisation_id)

    def is_issued_by(self, user: User) -> bool:
        return user.is_authenticated and user.belongs_to(self.issuer_id)

    def can_view(self, user: User) -> bool:
        """The bidder and the issuer always; the parties and supervisors once the bids are opened."""
        if self.is_held_by(user) or self.is_issued_by(user):
            return True
        if not user.is_authenticated or now() < self.section.deadline:
            return False
        project = self.section.project
        return project.is_run_by(user) or project.is_tendered_by(user) or user.is_(Role.SUPERVISOR, Role.ADMIN)


class VerificationStage(enum.Enum):
    ISSUE = "issue"              # when the issuer pushes the document
    PRESENTED = "presented"      # the bidder presents a document file
    SUBMISSION = "submission"    # a bid is submitted
    OPENING = "opening"          # the section is opened


STAGE_LABELS = {VerificationStage.ISSUE: "出函验真", VerificationStage.PRESENTED: "提交保函验真",
                VerificationStage.SUBMISSION: "递交投标文件时验真", VerificationStage.OPENING: "开标验真"}


class SecurityVerification(IdMixin, Base):
    """One verification (验真) of a bidder's bid security in a section, with every check and its result."""

    __tablename__ = "security_verifications"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    guarantee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("guarantees.id"))
    bid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id"))
    stage: Mapped[VerificationStage] = enum_column(VerificationStage)
    ok: Mapped[bool]
    #: The report as canonical JSON: ``{"basis", "checks": [{"name", "ok", "message"}]}``.
    report: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.stage]


class ClaimReason(enum.Enum):
    """The legal grounds on which the tenderee may keep the bid security."""

    WITHDRAWN_AFTER_DEADLINE = "withdrawn_after_deadline"
    REFUSED_AWARD = "refused_award"
    REFUSED_CONTRACT = "refused_contract"
    COLLUSION = "collusion"


CLAIM_REASON_LABELS = {
    ClaimReason.WITHDRAWN_AFTER_DEADLINE: "投标截止后撤销投标文件（招标投标法实施条例第35条）",
    ClaimReason.REFUSED_AWARD: "中标后无正当理由放弃中标（招标投标法实施条例第74条）",
    ClaimReason.REFUSED_CONTRACT: "无正当理由不与招标人订立合同或提出附加条件（招标投标法实施条例第74条）",
    ClaimReason.COLLUSION: "串通投标或弄虚作假，经查实（招标投标法第53、54条；按招标文件约定不予退还）",
}


class ClaimState(enum.Enum):
    FILED = "filed"
    PAID = "paid"
    REFUSED = "refused"


CLAIM_STATES = StateMachine(
    "索赔", {ClaimState.FILED: {ClaimState.PAID, ClaimState.REFUSED}},
    {ClaimState.FILED: "待出函机构答复", ClaimState.PAID: "已赔付", ClaimState.REFUSED: "已拒赔"},
)


class Claim(IdMixin, Base):
    """索赔: the tenderee's demand on a guarantee, with evidence, answered by the issuer."""

    __tablename__ = "guarantee_claims"

    guarantee_id: Mapped[int] = mapped_column(sa.ForeignKey("guarantees.id"), index=True)
    claimant_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[ClaimReason] = enum_column(ClaimReason)
    amount: Mapped[Decimal]
    statement: Mapped[str] = mapped_column(sa.Text)
    evidence_file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    state: Mapped[ClaimState] = enum_column(ClaimState, default=ClaimState.FILED)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    answer_reason: Mapped[str | None] = mapped_column(sa.Text)

    guarantee: Mapped[Guarantee] = relationship()
    claimant: Mapped[Organisation] = relationship()
    evidence: Mapped[StoredFile] = relationship()

    @property
    def reason_label(self) -> str:
        return CLAIM_REASON_LABELS[self.reason]

    @property
    def state_label(self) -> str:
        return CLAIM_STATES.labels[self.state]
