"""Check every sealed recording against the SHA-256 the audit chain holds for it.

The recording row could be edited along with the file, so the reference is the ``media.recording_sealed``
audit record, whose own hash is recomputed too (the whole chain is checked by ``flask audit verify``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core.audit import AuditEvent
from core.db import db
from evaluation.media.models import Recording, RecordingState
from evaluation.media.recording import file_sha256


@dataclass
class RecordingsReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_recordings(room_id: int | None = None, storage_dir: str | Path | None = None) -> RecordingsReport:
    storage = Path(storage_dir or current_app.config["STORAGE_DIR"])
    query = sa.select(Recording).order_by(Recording.id)
    if room_id is not None:
        query = query.where(Recording.room_id == room_id)
    sealed = {}
    for event in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "media.recording_sealed",
                                                                AuditEvent.object_type == Recording.__tablename__)):
        sealed[event.object_id] = event
    report = RecordingsReport()
    for recording in db.session.scalars(query):
        report.checked += 1
        name = f"recording {recording.id} ({recording.key})"
        if recording.state is not RecordingState.SEALED:
            report.problems.append(f"{name}: never sealed (still recording, or the server stopped before closing it)")
            continue
        event = sealed.get(str(recording.id))
        if event is None:
            report.problems.append(f"{name}: the audit chain holds no hash for it")
            continue
        if event.compute_hash() != event.hash:
            report.problems.append(f"{name}: its audit record {event.seq} was changed")
            continue
        expected = json.loads(event.data)["sha256"]
        if recording.sha256 != expected:
            report.problems.append(f"{name}: its stored hash differs from the audit chain's")
        path = recording.path(storage)
        if not path.exists():
            report.problems.append(f"{name}: the file is missing")
        elif file_sha256(path) != expected:
            report.problems.append(f"{name}: the file was altered (SHA-256 differs from audit record {event.seq})")
    return report
