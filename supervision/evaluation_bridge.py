"""From the evaluation's published report to the tenderee's candidates, without the evaluation calling in.

When an evaluation (``evaluation.evaluation_models.Evaluation``) becomes PUBLISHED, a session hook reads its fixed
ranking (``Evaluation.result``: candidates by credit code, in order, with their totals) and the evaluated bids,
and hands them to :func:`supervision.post_award.receive_evaluation_report` in the same transaction, so the report
and the candidates commit together. :func:`receive_published` is idempotent, so the evaluation may also call it
itself. Any other source of a report calls ``receive_evaluation_report`` with ``RankedCandidate`` records.
"""
from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from flask_sqlalchemy.session import Session

from core.db import db
from supervision.post_award import (
    RankedCandidate,
    current_result,
    receive_evaluation_report,
)

log = logging.getLogger(__name__)
_KEY = "supervision.published_evaluations"


def candidates_of(evaluation) -> list[RankedCandidate]:
    """The ranked candidates of a ranked evaluation: price as bid, score as the published total."""
    result = json.loads(evaluation.result or "{}")
    by_code = {b.organisation.credit_code: b for b in evaluation.bidders}
    totals = {row["bidder"]: row.get("total") for row in result.get("order", [])}
    out = []
    for rank, code in enumerate(result.get("candidates", []), start=1):
        bid = by_code[code]
        total = totals.get(code)
        out.append(RankedCandidate(organisation_id=bid.organisation_id, rank=rank, price=bid.price,
                                   score=float(total) if total not in (None, "") else None, bid_id=bid.bid_id))
    return out


def receive_published(evaluation, actor=None):
    """Receive a published evaluation's candidates once; a second call for the same report does nothing."""
    existing = current_result(evaluation.section_id)
    if existing is not None and existing.report_digest == evaluation.report_digest:
        return existing
    return receive_evaluation_report(evaluation.section, candidates_of(evaluation),
                                     report_digest=evaluation.report_digest, actor=actor)


def _after_flush(session, _context) -> None:
    for obj in session.dirty:
        if getattr(obj, "__tablename__", None) != "evaluations":
            continue
        history = sa.inspect(obj).attrs.state.history
        if history.added and getattr(history.added[0], "value", None) == "published":
            session.info.setdefault(_KEY, set()).add(obj.id)


def _before_commit(session) -> None:
    ids = session.info.pop(_KEY, None)
    if not ids or session is not db.session():
        return
    from evaluation.evaluation_models import Evaluation

    for evaluation_id in sorted(ids):
        try:
            with session.begin_nested():
                receive_published(db.session.get(Evaluation, evaluation_id))
        except Exception:  # the publication stands; the candidates can be received again (idempotent)
            log.exception("supervision: candidates of evaluation %s not received", evaluation_id)


def _forget(session, *_args) -> None:
    session.info.pop(_KEY, None)


def install() -> None:
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "before_commit", _before_commit)
        sa.event.listen(Session, "after_soft_rollback", _forget)
