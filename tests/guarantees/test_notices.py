"""Notices to issuers: queued with the change, posted to the callback URL, retries recorded, failure after the last."""
from datetime import timedelta

import sqlalchemy as sa

from core.clock import now
from core.db import db
from core.pki import platform
from guarantees import issuers, release
from guarantees.issuer_client import IssuerClient
from guarantees.notices import deliver_due
from guarantees.records import IssuerNotice, NoticeAttempt, NoticeKind, NoticeState
from guarantees.rules import rules
from guarantees.simulator import CallbackServer, Simulator
from tests.guarantees.conftest import issued_guarantee


def _simulator(market) -> Simulator:
    client = IssuerClient("http://127.0.0.1:9", market.issuer.holder.signing_key, market.issuer.holder.signing_cert,
                          platform_certificate=platform().signing_certificate)
    return Simulator(client)


def _released(market):
    guarantee, _ = issued_guarantee(market)
    release.release_non_candidates(market.section, {market.factory.org().id})
    db.session.commit()
    return guarantee


def test_a_release_notice_reaches_the_issuer_signed_by_the_platform(market):
    simulator = _simulator(market)
    callback = CallbackServer(simulator).start()
    try:
        issuers.set_callback(market.issuer.organisation, callback.url)
        guarantee = _released(market)
        report = deliver_due()
    finally:
        callback.stop()
    assert report.delivered == 2  # the application notice, then the release
    kinds = []
    while not simulator.inbox.empty():
        kinds.append(simulator.inbox.get_nowait())
    assert [n["kind"] for n in kinds] == ["application", "release"]
    assert kinds[1]["guarantee_no"] == guarantee.guarantee_no and kinds[1]["data"]["reason"] == "not_candidate"
    assert all(n.state is NoticeState.DELIVERED for n in db.session.scalars(sa.select(IssuerNotice)))


def test_failures_are_retried_with_each_attempt_recorded(market):
    simulator = _simulator(market)
    callback = CallbackServer(simulator, fail_first=2).start()
    try:
        issuers.set_callback(market.issuer.organisation, callback.url)
        issued_guarantee(market)
        db.session.commit()
        first = deliver_due()
        assert (first.delivered, first.retrying) == (0, 1)
        notice = db.session.scalar(sa.select(IssuerNotice))
        assert notice.state is NoticeState.PENDING and "503" in notice.last_error
        assert deliver_due().delivered == 0  # not due yet: the retry waits a minute
        second = deliver_due(now() + timedelta(minutes=2))
        third = deliver_due(now() + timedelta(minutes=10))
    finally:
        callback.stop()
    assert second.retrying == 1 and third.delivered == 1
    attempts = db.session.scalars(sa.select(NoticeAttempt).order_by(NoticeAttempt.id)).all()
    assert [a.status for a in attempts] == [503, 503, 200]
    assert db.session.scalar(sa.select(IssuerNotice)).state is NoticeState.DELIVERED


def test_after_the_last_retry_the_notice_is_marked_failed(market):
    issued_guarantee(market)  # the issuer has no callback URL
    moment = now()
    for _ in range(len(rules().notice_retry_minutes) + 1):
        deliver_due(moment)
        moment += timedelta(days=1)
    notice = db.session.scalar(sa.select(IssuerNotice).where(IssuerNotice.kind == NoticeKind.APPLICATION))
    assert notice.state is NoticeState.FAILED and notice.attempts == len(rules().notice_retry_minutes) + 1
    assert "no callback URL" in notice.last_error


def test_a_notice_with_a_bad_signature_is_refused_by_the_issuer(market):
    simulator = _simulator(market)
    callback = CallbackServer(simulator).start()
    try:
        import requests

        issued_guarantee(market)
        notice = db.session.scalar(sa.select(IssuerNotice))
        forged = notice.document.replace('"application"', '"release"', 1)
        response = requests.post(callback.url, data=forged.encode(), timeout=10)
    finally:
        callback.stop()
    assert response.status_code == 400 and simulator.inbox.empty()
