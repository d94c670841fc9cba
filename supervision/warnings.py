"""The warning engine: judge every supervision point and keep its red and yellow lights as warnings.

Evaluated on every state change and by a periodic job:

- on every commit that touched a watched record (a project, section, bid, opening, clarification, or any step
  after the report), a session hook re-judges the sections concerned inside the same transaction, in a
  savepoint, so the warnings commit with the change and a failure of the engine never blocks the change (the
  periodic job catches up);
- ``flask --app wsgi supervision evaluate`` judges every section (``--every N`` repeats it), and with
  ``SUPERVISION_EVALUATE_EVERY`` (or ``BIDHALL_SUPERVISION_EVERY``) seconds set a background thread does.

A warning is opened when a point turns yellow or red, follows its light while open, and is cleared when the
point turns green. A supervisor may annotate it or close it with a reason; a closed finding is not raised
again unless it changes (its light or due day). The engine's changes are audited as one event per pass.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_sqlalchemy.session import Session

from core import audit
from core.accounts import User
from core.clock import now as clock_now
from core.db import db
from core.errors import ValidationError
from supervision import facts as facts_db
from supervision.clocks import Light, StatutoryClocks, WarningThresholds
from supervision.models import (
    WARNING_STATES,
    SupervisionWarning,
    WarningLight,
    WarningNote,
    WarningState,
)
from supervision.points import Judge, PointResult, evaluate
from trading.models import Section

log = logging.getLogger(__name__)
_TOUCHED = "supervision.touched"
_WATCHED = {"projects", "sections", "invitations", "clarifications", "bids", "openings", "evaluation_results",
            "section_objections", "complaints", "awards", "contracts", "collusion_analyses", "guarantees", "deposits"}


def judge(moment: datetime | None = None) -> Judge:
    """A Judge configured from the app: clocks (``SUPERVISION_CLOCK_DAYS`` overrides), yellow threshold
    (``SUPERVISION_YELLOW_WORKING_DAYS``, default 1), minimum bids per method, the deadline accelerator."""
    config = current_app.config
    clocks = StatutoryClocks().with_days(**config.get("SUPERVISION_CLOCK_DAYS", {}))
    thresholds = WarningThresholds(int(config.get("SUPERVISION_YELLOW_WORKING_DAYS", 1)))
    trading_clocks = config.get("CLOCKS")
    minimum = dict(getattr(trading_clocks, "minimum_bids", {}) or {})
    return Judge(moment or clock_now(), clocks, thresholds, int(config.get("ACCELERATOR", 1)), minimum)


def section_points(section_id: int, moment: datetime | None = None) -> list[PointResult]:
    """Every applicable point of one section, green included (the drill-down page)."""
    found = facts_db.collect([section_id])
    return evaluate(found[section_id], judge(moment)) if section_id in found else []


@dataclass
class PassSummary:
    sections: int = 0
    raised: int = 0
    changed: int = 0
    cleared: int = 0
    changes: list[dict] = field(default_factory=list)


def _signature(result: PointResult) -> str:
    return f"{result.light.value}:{result.due or ''}"


def _open_key(section_id: int, point: str) -> str:
    return f"{section_id}:{point}"


def run(section_ids: Collection[int] | None = None, moment: datetime | None = None) -> PassSummary:
    """Judge the given sections (all when None) and bring their warnings up to date; the caller commits."""
    started = moment or clock_now()
    found = facts_db.collect(section_ids)
    the_judge = judge(started)
    results = {sid: [r for r in evaluate(f, the_judge) if r.light is not Light.GREEN] for sid, f in found.items()}
    return sync(found, results, started)


def sync(found: dict, results: dict[int, list[PointResult]], moment: datetime) -> PassSummary:
    summary = PassSummary(sections=len(found))
    scope = None if len(found) > 500 else list(found)
    open_query = sa.select(SupervisionWarning).where(SupervisionWarning.state == WarningState.OPEN)
    closed_query = sa.select(SupervisionWarning.section_id, SupervisionWarning.point, SupervisionWarning.signature) \
        .where(SupervisionWarning.state == WarningState.CLOSED)
    if scope is not None:
        open_query = open_query.where(SupervisionWarning.section_id.in_(scope))
        closed_query = closed_query.where(SupervisionWarning.section_id.in_(scope))
    current = {(w.section_id, w.point): w for w in db.session.scalars(open_query)}
    closed = set(db.session.execute(closed_query).all())
    created = []
    for sid, items in results.items():
        f = found[sid]
        for result in items:
            signature = _signature(result)
            warning = current.pop((sid, result.point), None)
            light = WarningLight(result.light.value)
            if warning is None:
                if (sid, result.point, signature) in closed:
                    continue
                warning = SupervisionWarning(project_id=f.project_id, section_id=sid, point=result.point, light=light,
                                             open_key=_open_key(sid, result.point), signature=signature,
                                             reason_zh=result.reason_zh, reason_en=result.reason_en, due=result.due,
                                             raised_at=moment, updated_at=moment)
                db.session.add(warning)
                created.append(warning)
                continue
            if warning.light is not light:
                summary.changed += 1
                summary.changes.append({"warning": warning.id, "section": sid, "point": result.point,
                                        "from": warning.light.value, "to": light.value})
                if light is WarningLight.RED:
                    warning.escalated_at = moment
                warning.light = light
            if (warning.reason_zh, warning.due, warning.signature) != (result.reason_zh, result.due, signature):
                warning.reason_zh, warning.reason_en = result.reason_zh, result.reason_en
                warning.due, warning.signature, warning.updated_at = result.due, signature, moment
    for (sid, point), warning in current.items():
        if sid not in found:
            continue
        WARNING_STATES.check(warning.state, WarningState.CLEARED)
        warning.state, warning.open_key, warning.ended_at = WarningState.CLEARED, None, moment
        summary.cleared += 1
        summary.changes.append({"warning": warning.id, "section": sid, "point": point, "from": warning.light.value,
                                "to": "green"})
    if created:
        db.session.flush()
        for warning in created:
            summary.raised += 1
            summary.changes.append({"warning": warning.id, "section": warning.section_id, "point": warning.point,
                                    "from": None, "to": warning.light.value})
    if summary.changes:
        audit.record("supervision.warnings_evaluated", object_type="supervision_warnings", sections=summary.sections,
                     raised=summary.raised, changed=summary.changed, cleared=summary.cleared,
                     changes=summary.changes)
    return summary


# -- a supervisor's acts ---------------------------------------------------------------------------------------

def annotate(warning: SupervisionWarning, supervisor: User, text: str) -> WarningNote:
    text = (text or "").strip()
    if not text:
        raise ValidationError("请填写批注内容 (the note needs a text)", field="text")
    note = WarningNote(warning_id=warning.id, author_id=supervisor.id, text=text[:4000], at=clock_now())
    db.session.add(note)
    db.session.flush()
    audit.record("warning.annotated", warning, actor=supervisor, note_id=note.id, text=note.text)
    return note


def close(warning: SupervisionWarning, supervisor: User, reason: str) -> SupervisionWarning:
    """Close a warning: a reason is required, and the same finding is not raised again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("关闭预警须填写理由 (closing a warning needs a reason)", field="reason")
    WARNING_STATES.check(warning.state, WarningState.CLOSED)
    warning.state, warning.open_key, warning.ended_at = WarningState.CLOSED, None, clock_now()
    warning.closed_by_id, warning.close_reason = supervisor.id, reason[:4000]
    audit.record("warning.closed", warning, actor=supervisor, point=warning.point, light=warning.light.value,
                 reason=warning.close_reason)
    return warning


# -- on every state change: a session hook ------------------------------------------------------------------

def _after_flush(session, _context) -> None:
    touched = session.info.setdefault(_TOUCHED, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table not in _WATCHED:
            continue
        if table == "sections":
            touched.add(("section", obj.id))
        elif table == "projects":
            touched.add(("project", obj.id))
        elif table == "invitations":
            touched.add(("project", obj.project_id))
        elif getattr(obj, "section_id", None) is not None:
            touched.add(("section", obj.section_id))


def _before_commit(session) -> None:
    touched = session.info.pop(_TOUCHED, None)
    if not touched or not has_app_context() or session is not db.session():
        return
    section_ids = {i for kind, i in touched if kind == "section" and i is not None}
    projects = {i for kind, i in touched if kind == "project" and i is not None}
    try:
        with session.begin_nested():
            if projects:
                section_ids |= set(session.scalars(sa.select(Section.id).where(Section.project_id.in_(projects))))
            if section_ids:
                run(section_ids)
    except Exception:  # the change itself must commit; the periodic pass will judge these sections
        log.exception("supervision: warnings not updated for sections %s", sorted(section_ids))
    session.info.pop(_TOUCHED, None)


def _forget(session, *_args) -> None:
    session.info.pop(_TOUCHED, None)


def install() -> None:
    """Register the hook once per process (idempotent)."""
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "before_commit", _before_commit)
        sa.event.listen(Session, "after_soft_rollback", _forget)


# -- the periodic job --------------------------------------------------------------------------------------------

def evaluate_all() -> PassSummary:
    summary = run(None)
    db.session.commit()
    return summary


def interval(app: Flask) -> int:
    return int(app.config.get("SUPERVISION_EVALUATE_EVERY") or os.environ.get("BIDHALL_SUPERVISION_EVERY") or 0)


def start_background(app: Flask, every: int) -> threading.Thread:
    """A daemon thread judging every section every ``every`` seconds (the CLI's ``--every`` does it in front)."""

    def loop() -> None:
        while True:
            with app.app_context():
                try:
                    evaluate_all()
                except Exception:
                    db.session.rollback()
                    log.exception("supervision: periodic evaluation failed")
                finally:
                    db.session.remove()
            time.sleep(every)

    thread = threading.Thread(target=loop, name="supervision-warnings", daemon=True)
    thread.start()
    return thread
