"""The tamper-evident audit log: append-only and hash-chained.

Every state change calls :func:`record` inside the transaction that makes the change, so a change and its
audit record commit together or not at all. Each record's hash covers its content and the previous record's
hash; :func:`verify_chain` re-walks the chain and names the first record that was changed, removed or
reordered. Database triggers refuse UPDATE and DELETE, so tampering needs a deliberate act by a database
administrator, which verification then exposes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, db, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    actor: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(40), index=True)
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    def content(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at.isoformat(timespec="microseconds"), "actor_id": self.actor_id,
            "actor": self.actor, "action": self.action, "object_type": self.object_type,
            "object_id": self.object_id, "ip": self.ip, "data": self.data, "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical(self.content())).hexdigest()

    @property
    def details(self) -> dict:
        return json.loads(self.data)


class AuditHead(Base):
    """One row holding the chain's tip; locking it serialises appends across processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _actor() -> tuple[int | None, str]:
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return current_user.id, current_user.username
    return None, "system"


def record(action: str, obj: Any = None, *, actor=None, object_type: str | None = None,
           object_id: Any = None, **data: Any) -> AuditEvent:
    """Append one event. ``obj`` names the object changed; ``data`` holds what changed (never secrets)."""
    if actor is not None:
        actor_id, actor_name = actor.id, actor.username
    else:
        actor_id, actor_name = _actor()
    if obj is not None:
        object_type = object_type or getattr(obj, "__tablename__", type(obj).__name__.lower())
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
    head = db.session.scalars(sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        db.session.add(head)
    event = AuditEvent(
        seq=head.seq + 1, at=utcnow(), actor_id=actor_id, actor=actor_name, action=action,
        object_type=object_type or "platform", object_id=None if object_id is None else str(object_id),
        ip=request.remote_addr if has_request_context() else None,
        data=canonical(data).decode(), prev_hash=head.hash,
    )
    event.hash = event.compute_hash()
    head.seq, head.hash = event.seq, event.hash
    db.session.add(event)
    return event


@dataclass
class ChainReport:
    ok: bool
    checked: int
    problem: str | None = None
    seq: int | None = None


def _walk(batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        db.session.expunge_all()


def verify_chain(progress=None) -> ChainReport:
    """Re-walk the chain from the genesis; stop at the first record that does not fit."""
    expected_seq, prev, checked = 1, GENESIS, 0
    for event in _walk():
        if event.seq != expected_seq:
            return ChainReport(False, checked, f"record {expected_seq} is missing (the next record is {event.seq}): "
                                               f"records were removed or reordered", expected_seq)
        if event.prev_hash != prev:
            return ChainReport(False, checked, f"record {event.seq} does not follow record {event.seq - 1}: "
                                               f"its previous-hash link is broken (removed or reordered)", event.seq)
        if event.compute_hash() != event.hash:
            return ChainReport(False, checked, f"record {event.seq} was changed: its content no longer matches "
                                               f"its hash ({event.action} {event.object_type} {event.object_id})",
                               event.seq)
        prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
        if progress:
            progress(1)
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.seq != checked or head.hash != prev):
        return ChainReport(False, checked, f"the chain ends at record {checked} but its head says record {head.seq}: "
                                           f"records at the end were removed", checked + 1)
    return ChainReport(True, checked)


APPEND_ONLY_SQL = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$",
        "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events",
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}
