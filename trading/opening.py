"""The online opening (不见面开标) of one section: the hall, decryption, rulings, escrow, read-out, record.

The ceremony follows rules.md §1 (电子招标投标办法第29–32条): at the deadline the hall opens; bidders sign in
by certificate; the host starts; each bidder decrypts its own bid within the window; a failed decryption is
ruled bidder's fault (revoked, 撤销) or not (withdrawn, 撤回, and the bid may still be opened by escrow);
then the price forms are read out to everyone; bidders confirm the record or object; the record is signed.
"""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from trading.bids import Bid


class OpeningState(enum.Enum):
    WAITING = "waiting"          # the hall is open: sign-in
    DECRYPTING = "decrypting"    # the host started: decryption window running
    READ_OUT = "read_out"        # 唱标 done: objections and confirmations
    CLOSED = "closed"            # the record is signed and published
    FAILED = "failed"            # 流标: too few bids


OPENING_STATES = StateMachine(
    "开标",
    {
        OpeningState.WAITING: {OpeningState.DECRYPTING, OpeningState.FAILED},
        OpeningState.DECRYPTING: {OpeningState.READ_OUT, OpeningState.FAILED},
        OpeningState.READ_OUT: {OpeningState.CLOSED},
    },
    {OpeningState.WAITING: "签到中", OpeningState.DECRYPTING: "解密中", OpeningState.READ_OUT: "唱标完成",
     OpeningState.CLOSED: "开标结束", OpeningState.FAILED: "流标"},
)


class Opening(IdMixin, Base):
    __tablename__ = "openings"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), unique=True)
    state: Mapped[OpeningState] = enum_column(OpeningState, default=OpeningState.WAITING)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decryption_ends_at: Mapped[datetime | None]
    read_out_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: The K draw: the commitment is published when decryption starts, the value drawn at the read-out.
    k_secret_sealed: Mapped[str | None] = mapped_column(sa.String(200))
    k_commitment: Mapped[str | None] = mapped_column(sa.Text)
    k_contributions: Mapped[str | None] = mapped_column(sa.Text)
    k_record: Mapped[str | None] = mapped_column(sa.Text)
    k_coefficient: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 4))
    read_out: Mapped[str | None] = mapped_column(sa.Text)          # canonical JSON of the table
    record_key: Mapped[str | None] = mapped_column(sa.String(120))  # the signed PDF in storage
    record_digest: Mapped[str | None] = mapped_column(sa.String(64))
    record_signature: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def state_label(self) -> str:
        return OPENING_STATES.labels[self.state]


class HallSignIn(IdMixin, Base):
    __tablename__ = "hall_sign_ins"
    __table_args__ = (sa.UniqueConstraint("opening_id", "organisation_id"),)

    opening_id: Mapped[int] = mapped_column(sa.ForeignKey("openings.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    certificate_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    organisation: Mapped[Organisation] = relationship()


class DecryptionState(enum.Enum):
    PENDING = "pending"
    DECRYPTED = "decrypted"
    FAILED = "failed"


class Fault(enum.Enum):
    UNKNOWN = "unknown"
    BIDDER = "bidder"        # → the bid counts as revoked (撤销); the bid security may be kept
    PLATFORM = "platform"    # → the bid counts as withdrawn (撤回) unless opened by escrow; security refunded


FAULT_RULINGS = StateMachine(
    "解密失败责任认定",
    {Fault.UNKNOWN: {Fault.BIDDER, Fault.PLATFORM}, Fault.BIDDER: {Fault.PLATFORM}},
    {Fault.UNKNOWN: "待认定", Fault.BIDDER: "投标人原因", Fault.PLATFORM: "非投标人原因"},
)


class BidDecryption(IdMixin, Base):
    """The opening's view of one bid: decryption, ruling, escrow, and the price form read from it."""

    __tablename__ = "bid_decryptions"

    opening_id: Mapped[int] = mapped_column(sa.ForeignKey("openings.id"), index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), unique=True)
    state: Mapped[DecryptionState] = enum_column(DecryptionState, default=DecryptionState.PENDING)
    fault: Mapped[Fault | None] = enum_column(Fault, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    decrypted_at: Mapped[datetime | None]
    decrypted_by_escrow: Mapped[bool] = mapped_column(default=False)
    decryption_ip: Mapped[str | None] = mapped_column(sa.String(64))
    plaintext_key: Mapped[str | None] = mapped_column(sa.String(120))
    price_form: Mapped[str | None] = mapped_column(sa.Text)
    manifest: Mapped[str | None] = mapped_column(sa.Text)

    bid: Mapped[Bid] = relationship()

    @property
    def outcome(self) -> str:
        if self.state is DecryptionState.DECRYPTED:
            return "opened"
        if self.fault is Fault.BIDDER:
            return "revoked"
        if self.fault is Fault.PLATFORM:
            return "withdrawn"
        return self.state.value


class Ruling(IdMixin, Base):
    __tablename__ = "decryption_rulings"

    decryption_id: Mapped[int] = mapped_column(sa.ForeignKey("bid_decryptions.id"), index=True)
    ruling: Mapped[str] = mapped_column(sa.String(16))   # bidder | platform | reset
    reason: Mapped[str] = mapped_column(sa.Text)
    by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ShareRelease(IdMixin, Base):
    """An opening officer's escrow share, released in the hall after a PLATFORM ruling.

    The share value is kept only until the threshold is reached and the bid is opened, then erased.
    """

    __tablename__ = "share_releases"
    __table_args__ = (sa.UniqueConstraint("decryption_id", "officer_id"),)

    decryption_id: Mapped[int] = mapped_column(sa.ForeignKey("bid_decryptions.id"), index=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    x: Mapped[int]
    y_hex: Mapped[str | None] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    officer: Mapped[User] = relationship()


class Objection(IdMixin, Base):
    """异议 raised on the spot in the hall, answered by the host; both go into the record."""

    __tablename__ = "opening_objections"

    opening_id: Mapped[int] = mapped_column(sa.ForeignKey("openings.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    raised_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()


class RecordConfirmation(IdMixin, Base):
    __tablename__ = "opening_confirmations"
    __table_args__ = (sa.UniqueConstraint("opening_id", "organisation_id"),)

    opening_id: Mapped[int] = mapped_column(sa.ForeignKey("openings.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
