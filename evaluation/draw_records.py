"""A stored draw as the pure core sees it: the ceremony, the seed, the selection, the published record.

``build_record`` assembles the record of docs/draw.md §5 from the stored parts, which the evaluation service
opens (evaluation.draw_sealing: the secret and the list are sealed to its key); ``verify_draw``
re-runs it with ``crypto.draw.verify_record`` against the commitment that the audit log published before the
draw, and checks the result commitment the audit log received at the reveal, so a record altered after the
fact fails and the message names the field.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa

from core.audit import AuditEvent
from core.db import db
from crypto.draw import (
    Commitment,
    Contribution,
    DrawCeremony,
    Pick,
    PoolEntry,
    Replacement,
    Selection,
    canonical_json,
    draw_record,
    verify_record,
)
from evaluation.draw_models import Draw, DrawReplacement, DrawState
from evaluation.draw_sealing import ListKeys, keys_of, open_secret, result_commitment


def ceremony_of(draw: Draw) -> DrawCeremony:
    ceremony = DrawCeremony(Commitment(draw.commitment, draw.request_digest, draw.eligible_digest),
                            [Contribution(c.contributor, c.at, c.entropy) for c in draw.contributions])
    ceremony.revealed = draw.state not in (DrawState.REQUESTED, DrawState.COMMITTED)
    return ceremony


def eligible_entries(draw: Draw) -> list[PoolEntry]:
    return [PoolEntry.from_json(e) for e in json.loads(draw.eligible_json or "[]")]


def secret_of(draw: Draw) -> bytes:
    """The committed secret, unwrapped by the evaluation service (it was sealed to it alone)."""
    return open_secret(draw)


def seed_of(draw: Draw) -> bytes:
    from crypto.draw import derive_seed

    contributions = [Contribution(c.contributor, c.at, c.entropy) for c in draw.contributions]
    return derive_seed(secret_of(draw), contributions, draw.request_digest, draw.eligible_digest)


def selection_of(draw: Draw, keys: ListKeys) -> Selection:
    result = keys.open_json("result", draw.result_sealed)

    def picks(rows):
        return tuple(Pick(p["id"], p["quota"], p["venue"], p["seat"]) for p in rows)

    return Selection(picks(result["members"]), picks(result["reserves"]))


def replacement_rows(draw: Draw) -> list[DrawReplacement]:
    return db.session.scalars(sa.select(DrawReplacement).where(DrawReplacement.draw_id == draw.id)
                              .order_by(DrawReplacement.round)).all()


def replacements_of(draw: Draw, keys: ListKeys) -> list[Replacement]:
    return [Replacement(keys.expert_of(row.replaced), row.reason, keys.expert_of(row.substitute), row.from_reserve)
            for row in replacement_rows(draw)]


def build_record(draw: Draw) -> dict:
    """The record that lets anyone re-run the draw (docs/draw.md §5); it names experts by their codes."""
    keys = keys_of(draw)
    return draw_record(draw.request, eligible_entries(draw), secret_of(draw),
                       [Contribution(c.contributor, c.at, c.entropy) for c in draw.contributions],
                       selection_of(draw, keys), replacements_of(draw, keys))


def record_digest(record: dict) -> str:
    return hashlib.sha256(canonical_json(record)).hexdigest()


def published_in_audit(draw: Draw, action: str) -> dict | None:
    """The data of the first audit event ``action`` about this draw (e.g. the commitment of draw.committed)."""
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_type == Draw.__tablename__,
        AuditEvent.object_id == str(draw.id)).order_by(AuditEvent.seq).limit(1)).first()
    return event.details if event else None


@dataclass(frozen=True)
class DrawVerification:
    ok: bool
    checks: tuple[str, ...]
    mismatch: str | None
    record: dict | None


def verify_draw(draw: Draw) -> DrawVerification:
    """Verify the published record (or, before publication, the record rebuilt from the sealed parts)."""
    if not draw.is_drawn:
        return DrawVerification(False, (), f"draw {draw.id} has not been drawn (state {draw.state.value})", None)
    record = json.loads(draw.record_json) if draw.state is DrawState.PUBLISHED else build_record(draw)
    committed = published_in_audit(draw, "draw.committed") or {}
    report = verify_record(record, published_commitment=committed.get("commitment"))
    checks = list(report.checks)
    if not committed:
        return DrawVerification(False, tuple(checks), "the audit log holds no draw.committed event for this draw",
                                record)
    if not report.ok:
        return DrawVerification(False, tuple(checks), report.mismatch, record)
    for name in ("request_digest", "eligible_digest"):
        if committed.get(name) != record[name]:
            return DrawVerification(False, tuple(checks), f"{name} differs from the one published in the audit log "
                                    "before the draw", record)
    checks.append("request and eligible digests are the ones published in the audit log before the draw")
    published = published_in_audit(draw, "draw.published")
    tag_key = bytes.fromhex(published["tag_key"]) if published else keys_of(draw).tag_key
    revealed = published_in_audit(draw, "draw.revealed") or {}
    expected = result_commitment(tag_key, record["result"])
    if revealed.get("result_commitment") != expected:
        return DrawVerification(False, tuple(checks), "result differs from the result commitment written to the "
                                "audit log at the reveal", record)
    checks.append("result matches the commitment written to the audit log at the reveal")
    return DrawVerification(True, tuple(checks), None, record)
