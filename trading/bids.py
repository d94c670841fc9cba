"""Sealed bids (投标文件): resumable uploads, the stored envelope, receipts, and the section's opening officers.

The platform stores only envelopes: ciphertext it cannot read (crypto.envelope). A bid's identity, sizes and
digests are recorded so the bidder can prove what it submitted and when; the content waits for the opening.
"""
from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Organisation, User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow
from core.pki import Certificate


class OpeningOfficer(IdMixin, Base):
    """开标监督人员/密钥保管人: holds one escrow share of every bid in the section (Shamir k-of-n)."""

    __tablename__ = "opening_officers"
    __table_args__ = (sa.UniqueConstraint("section_id", "user_id"),)

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    position: Mapped[int]

    user: Mapped[User] = relationship()

    @property
    def officer_id(self) -> str:
        """The id written into envelopes for this officer's share."""
        return f"user:{self.user_id}"


class UploadState(enum.Enum):
    OPEN = "open"
    FINALISED = "finalised"
    REJECTED = "rejected"
    ABANDONED = "abandoned"


class BidUpload(Base):
    """A chunked, resumable upload of one envelope. Bytes land in a part file; finalising is atomic."""

    __tablename__ = "bid_uploads"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    state: Mapped[UploadState] = enum_column(UploadState, default=UploadState.OPEN)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))


class BidState(enum.Enum):
    SUBMITTED = "submitted"     # 已递交, sealed, waiting for the opening
    REPLACED = "replaced"       # 已修改: superseded by a later bid of the same bidder before the deadline
    WITHDRAWN = "withdrawn"     # 已撤回 before the deadline


BID_STATES = StateMachine(
    "投标文件",
    {BidState.SUBMITTED: {BidState.REPLACED, BidState.WITHDRAWN}},
    {BidState.SUBMITTED: "已递交", BidState.REPLACED: "已被替换", BidState.WITHDRAWN: "已撤回"},
)


class Bid(IdMixin, Base):
    __tablename__ = "bids"

    section_id: Mapped[int] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    state: Mapped[BidState] = enum_column(BidState, default=BidState.SUBMITTED)
    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    plaintext_size: Mapped[int] = mapped_column(sa.BigInteger)
    chunk_count: Mapped[int]
    ciphertext_digest: Mapped[str] = mapped_column(sa.String(64))
    header_hash: Mapped[str] = mapped_column(sa.String(64))
    signer_certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"))
    submitted_at: Mapped[datetime]
    upload_ip: Mapped[str | None] = mapped_column(sa.String(64))
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id"))
    withdrawn_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    signer_certificate: Mapped[Certificate] = relationship()
    receipts: Mapped[list["Receipt"]] = relationship(back_populates="bid", order_by="Receipt.sequence")

    @property
    def state_label(self) -> str:
        return BID_STATES.labels[self.state]

    def is_owned_by(self, user: User) -> bool:
        return user.is_authenticated and user.belongs_to(self.organisation_id)


class ReceiptKind(enum.Enum):
    SUBMITTED = "submitted"
    REPLACED = "replaced"
    WITHDRAWN = "withdrawn"


class Receipt(Base):
    """回执: signed by the platform at once, numbered in one sequence across the platform."""

    __tablename__ = "receipts"

    sequence: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), index=True)
    kind: Mapped[ReceiptKind] = enum_column(ReceiptKind)
    document: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime]

    bid: Mapped[Bid] = relationship(back_populates="receipts")
