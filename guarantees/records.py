"""The rest of bid security's tables: cash deposits, waivers, the issuer API's nonces and idempotency keys,
and the outbound notice queue to issuers."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow

# -- cash deposits into the section's virtual sub-account ------------------------------------------------------


class DepositSlip(IdMixin, Base):
    """The payment instruction a bidder gets: the section's sub-account, its own reference, its payer account."""

    __tablename__ = "deposit_slips"
    __table_args__ = (sa.UniqueConstraint("section_id", "organisation_id"),)

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    sub_account: Mapped[str] = mapped_column(sa.String(40), index=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    payer_account: Mapped[str] = mapped_column(sa.String(40))
    payer_name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()


class DepositState(enum.Enum):
    RECEIVED = "received"
    REFUNDED = "refunded"


DEPOSIT_STATES = StateMachine("保证金", {DepositState.RECEIVED: {DepositState.REFUNDED}},
                              {DepositState.RECEIVED: "已到账", DepositState.REFUNDED: "已退还"})


class StatementImport(IdMixin, Base):
    """One bank-statement file imported: how many rows matched, and each bad row with its reason."""

    __tablename__ = "statement_imports"

    filename: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    imported_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    rows_total: Mapped[int]
    rows_matched: Mapped[int]
    rows_bad: Mapped[int]
    report: Mapped[str] = mapped_column(sa.Text)   # JSON list of {"line", "transaction_id", "problem"}


class Deposit(IdMixin, Base):
    """A payment into a section's sub-account, matched to a bidder by payer account and reference."""

    __tablename__ = "deposits"

    slip_id: Mapped[int] = mapped_column(sa.ForeignKey("deposit_slips.id"), index=True)
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    transaction_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    amount: Mapped[Decimal]
    received_at: Mapped[datetime]
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("statement_imports.id"))
    state: Mapped[DepositState] = enum_column(DepositState, default=DepositState.RECEIVED)

    slip: Mapped[DepositSlip] = relationship()
    organisation: Mapped[Organisation] = relationship()
    refund: Mapped["DepositRefund | None"] = relationship(back_populates="deposit", uselist=False)

    @property
    def state_label(self) -> str:
        return DEPOSIT_STATES.labels[self.state]


class DepositRefund(IdMixin, Base):
    """A refund instruction: the principal plus interest at the demand-deposit rate for the days held."""

    __tablename__ = "deposit_refunds"

    deposit_id: Mapped[int] = mapped_column(sa.ForeignKey("deposits.id"), unique=True)
    principal: Mapped[Decimal]
    interest: Mapped[Decimal]
    total: Mapped[Decimal]
    days: Mapped[int]
    annual_rate: Mapped[Decimal] = mapped_column(sa.Numeric(8, 6))
    reason: Mapped[str] = mapped_column(sa.String(40))
    payee_account: Mapped[str] = mapped_column(sa.String(40))
    instructed_at: Mapped[datetime] = mapped_column(default=utcnow)

    deposit: Mapped[Deposit] = relationship(back_populates="refund")


# -- waivers ----------------------------------------------------------------------------------------------------


class SecurityWaiver(IdMixin, Base):
    """免收投标保证金: granted for one section under a configured waiver rule."""

    __tablename__ = "security_waivers"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), unique=True)
    rule_key: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.Text)
    waived_amount: Mapped[Decimal]
    granted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- the issuer API: replay protection and idempotency ------------------------------------------------------------


class RequestNonce(IdMixin, Base):
    """Every nonce an issuer used; a second request with the same nonce is a replay."""

    __tablename__ = "issuer_request_nonces"
    __table_args__ = (sa.UniqueConstraint("issuer_id", "nonce"),)

    issuer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    nonce: Mapped[str] = mapped_column(sa.String(64))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class IdempotencyRecord(IdMixin, Base):
    """The answer to a state-changing request, kept under the issuer's idempotency key."""

    __tablename__ = "issuer_idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("issuer_id", "key"),)

    issuer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    key: Mapped[str] = mapped_column(sa.String(80))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    response: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- notices to issuers -----------------------------------------------------------------------------------------


class NoticeKind(enum.Enum):
    APPLICATION = "application"              # a new order to underwrite
    RELEASE = "release"                      # the guarantee is released: the issuer's liability ends
    CLAIM = "claim"                          # the tenderee claims on the guarantee
    TERMS_KEY = "terms_key"                  # a cipher guarantee's key, after the opening
    SURRENDER_REQUEST = "surrender_request"  # the bidder asks to surrender (退保)


class NoticeState(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


NOTICE_STATES = StateMachine(
    "出函机构通知",
    {NoticeState.PENDING: {NoticeState.DELIVERED, NoticeState.FAILED}},
    {NoticeState.PENDING: "待送达", NoticeState.DELIVERED: "已送达", NoticeState.FAILED: "送达失败"},
)


class IssuerNotice(IdMixin, Base):
    """One notice queued for an issuer; delivered over HTTP to its callback URL, retried on failure."""

    __tablename__ = "issuer_notices"

    issuer_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    guarantee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("guarantees.id"))
    kind: Mapped[NoticeKind] = enum_column(NoticeKind)
    document: Mapped[str] = mapped_column(sa.Text)        # canonical JSON signed by the platform
    state: Mapped[NoticeState] = enum_column(NoticeState, default=NoticeState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class NoticeAttempt(IdMixin, Base):
    __tablename__ = "issuer_notice_attempts"

    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("issuer_notices.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
