"""The platform → issuer direction: a queue of signed notices, delivered over HTTP with recorded retries.

A notice is queued in the same transaction as the change it reports (a release, a claim, a key released
after the opening), so it exists exactly when the change does. :func:`deliver_due` posts each due notice to
the issuer's callback URL as the platform-signed canonical JSON document; a 2xx answer delivers it, anything
else is recorded as an attempt and retried after the delays in ``SecurityRules.notice_retry_minutes``, after
which the notice is marked failed. Run it with ``flask --app wsgi issuer deliver`` (``--loop`` to keep going).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa

from core import audit
from core.accounts import Organisation
from core.clock import now
from core.db import db
from core.pki import platform
from crypto.canonical import canonical_json, format_utc
from crypto.signing import sign_document
from guarantees import protocol
from guarantees.models import Guarantee, IssuerProfile
from guarantees.records import NOTICE_STATES, IssuerNotice, NoticeAttempt, NoticeKind, NoticeState
from guarantees.rules import rules


def enqueue(issuer_id: int, kind: NoticeKind, guarantee: Guarantee | None, data: dict) -> IssuerNotice:
    """Queue a notice for an issuer, signed by the platform now; the caller commits."""
    notice = IssuerNotice(issuer_id=issuer_id, guarantee_id=guarantee.id if guarantee else None, kind=kind,
                          document="", next_attempt_at=now())
    db.session.add(notice)
    db.session.flush()
    issuer = db.session.get(Organisation, issuer_id)
    payload = {"type": protocol.NOTICE_TYPE, "notice_id": notice.id, "kind": kind.value,
               "issuer": issuer.credit_code, "created_at": format_utc(now()), "data": data,
               "application_no": guarantee.application_no if guarantee else None,
               "guarantee_no": guarantee.guarantee_no if guarantee else None}
    identity = platform()
    notice.document = canonical_json(sign_document(payload, identity.signing_key,
                                                   identity.signing_certificate)).decode()
    audit.record("issuer_notice.queued", notice, kind=kind.value, issuer_id=issuer_id,
                 guarantee_id=notice.guarantee_id)
    return notice


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def _post(url: str | None, document: str, timeout: float) -> tuple[int | None, str | None]:
    if not url:
        return None, "出函机构未配置回调地址 (the issuer has no callback URL)"
    try:
        response = requests.post(url, data=document.encode(), timeout=timeout,
                                 headers={"Content-Type": "application/json"})
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:300]}"


def deliver_due(moment: datetime | None = None, *, limit: int = 100, timeout: float = 10) -> DeliveryReport:
    """Post every pending notice that is due. No database transaction stays open during an HTTP call."""
    moment = moment or now()
    ids = db.session.scalars(sa.select(IssuerNotice.id).where(
        IssuerNotice.state == NoticeState.PENDING, IssuerNotice.next_attempt_at <= moment)
        .order_by(IssuerNotice.id).limit(limit)).all()
    db.session.commit()
    report = DeliveryReport()
    delays = rules().notice_retry_minutes
    for notice_id in ids:
        notice = db.session.get(IssuerNotice, notice_id)
        profile = db.session.get(IssuerProfile, notice.issuer_id)
        url, document = (profile.callback_url if profile else None), notice.document
        db.session.commit()
        status, error = _post(url, document, timeout)
        notice = db.session.get(IssuerNotice, notice_id)
        if notice.state is not NoticeState.PENDING:   # delivered meanwhile by another worker
            db.session.commit()
            continue
        notice.attempts += 1
        db.session.add(NoticeAttempt(notice_id=notice.id, at=now(), url=(url or "")[:300], status=status, error=error))
        if error is None:
            NOTICE_STATES.check(notice.state, NoticeState.DELIVERED)
            notice.state, notice.delivered_at, notice.last_error = NoticeState.DELIVERED, now(), None
            audit.record("issuer_notice.delivered", notice, attempts=notice.attempts, status=status)
            report.delivered += 1
        elif notice.attempts <= len(delays):
            notice.last_error = error
            notice.next_attempt_at = now() + timedelta(minutes=delays[notice.attempts - 1])
            report.retrying += 1
        else:
            NOTICE_STATES.check(notice.state, NoticeState.FAILED)
            notice.state, notice.last_error = NoticeState.FAILED, error
            audit.record("issuer_notice.failed", notice, attempts=notice.attempts, error=error[:300])
            report.failed += 1
        db.session.commit()
    return report
