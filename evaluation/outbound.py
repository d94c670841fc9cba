"""The outbound-message hook: SMS or voice gateways that reach drawn experts outside the platform.

A gateway implements ``OutboundMessenger.send``. The default writes one JSON line per message to
``instance/outbound-messages.log`` (mode 0600), which is what a deployment without a gateway has and what the
demo shows. Configure another with ``app.config["OUTBOUND_MESSENGER"]``: an instance, or a ``module:Class``
path whose class takes the app. Messages are queued in the database session and handed to the gateway only
after the transaction commits, so a refused or rolled-back draw never reaches anyone's phone.
"""
from __future__ import annotations

import importlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from core.db import db, utcnow


@dataclass(frozen=True)
class OutboundMessage:
    recipient: str          # the expert's public code
    mobile: str | None      # None when the expert registered no number: the in-platform notice remains
    text: str
    channel: str = "sms"    # sms | voice
    purpose: str = "draw_notice"
    created_at: datetime | None = None


class OutboundMessenger(Protocol):
    def send(self, message: OutboundMessage) -> None:
        ...


class LogFileMessenger:
    """The default gateway: append to a log file under instance/."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = Path(path)

    def send(self, message: OutboundMessage) -> None:
        line = json.dumps({**asdict(message), "created_at": (message.created_at or utcnow()).isoformat()},
                          ensure_ascii=False)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")


def messenger(app: Flask | None = None) -> OutboundMessenger:
    app = app or current_app
    configured = app.config.get("OUTBOUND_MESSENGER")
    if configured is None:
        return LogFileMessenger(Path(app.instance_path) / "outbound-messages.log")
    if isinstance(configured, str):
        module, _, name = configured.partition(":")
        return getattr(importlib.import_module(module), name)(app)
    return configured


_QUEUE = "bidhall_outbound"


def queue(message: OutboundMessage) -> None:
    """Send ``message`` once the current transaction commits."""
    db.session.info.setdefault(_QUEUE, []).append((current_app._get_current_object(), message))


@sa.event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    pending = session.info.pop(_QUEUE, [])
    for app, message in pending:
        try:
            messenger(app).send(message)
        except Exception:  # a gateway outage must not undo a committed draw; the notice in the platform stands
            app.logger.exception("outbound message to %s failed", message.recipient)


@sa.event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    session.info.pop(_QUEUE, None)
