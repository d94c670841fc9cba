"""Clarifications and amendments: new versions, every downloader notified, the 15-day rule."""
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.accounts import Role
from core.clock import now
from core.db import db
from core.errors import RuleViolation
from core.notifications import Notification
from trading import operations as ops
from trading.models import AmendmentDecision, DocumentKind


def _downloaded(factory, section, n=2):
    users = []
    for _ in range(n):
        bidder = factory.user(Role.BIDDER)
        ops.record_download(section.current_documents[0], bidder, "127.0.0.1")
        users.append(bidder)
    db.session.commit()
    return users


def test_a_clarification_is_a_new_version_and_every_downloader_is_notified(factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent, days=25).sections[0]
    bidders = _downloaded(factory, section)
    bystander = factory.user(Role.BIDDER)
    clarification = ops.issue_clarification(section, agent=agent, title="工程量清单修正", body="第3章第2节数量更正。",
                                            stream=io.BytesIO(b"%PDF-1.4 v2"), filename="澄清1.pdf",
                                            content_type="application/pdf")
    db.session.commit()
    assert clarification.decision is AmendmentDecision.NOT_LATE
    versions = [(d.version, d.kind) for d in section.documents]
    assert versions == [(1, DocumentKind.ORIGINAL), (2, DocumentKind.CLARIFICATION)]
    notified = db.session.scalars(sa.select(Notification.user_id)).all()
    assert sorted(notified) == sorted(b.id for b in bidders) and bystander.id not in notified


def test_a_late_amendment_must_move_the_deadline_or_say_why_not(factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent, days=21).sections[0]
    section.deadline = now() + timedelta(days=10)
    section.clarification_deadline = now() + timedelta(days=5)
    db.session.commit()
    with pytest.raises(RuleViolation) as err:
        ops.issue_clarification(section, agent=agent, title="修改", body="修改评分标准。", stream=None, filename=None,
                                content_type=None)
    assert err.value.code == "clock.amendment_notice" and "15日" in err.value.message
    moved_to = now() + timedelta(days=16)
    c = ops.issue_clarification(section, agent=agent, title="修改", body="修改评分标准。", stream=None, filename=None,
                                content_type=None, new_deadline=moved_to)
    assert c.decision is AmendmentDecision.DEADLINE_MOVED and section.deadline == moved_to
    c2 = ops.issue_clarification(section, agent=agent, title="勘误", body="错别字更正。", stream=None, filename=None,
                                 content_type=None, no_effect_reason="仅更正错别字")
    assert c2.decision is AmendmentDecision.NOT_LATE


def test_no_effect_is_recorded_with_its_reason(factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent, days=21).sections[0]
    section.deadline = now() + timedelta(days=10)
    section.clarification_deadline = now() + timedelta(days=5)
    c = ops.issue_clarification(section, agent=agent, title="勘误", body="错别字更正。", stream=None, filename=None,
                                content_type=None, no_effect_reason="仅更正错别字，不影响投标文件编制")
    assert c.decision is AmendmentDecision.NO_EFFECT and c.reason.startswith("仅更正")


def test_the_bidder_sees_the_notice_in_the_platform(client, factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    bidder = _downloaded(factory, section, 1)[0]
    agent_client = client.application.test_client()
    factory.login(agent_client, agent)
    response = agent_client.post(f"/sections/{section.id}/clarifications/new",
                                 data={"title": "答疑", "body": "关于工期的答复。"})
    assert response.status_code == 302
    factory.login(client, bidder)
    page = client.get("/notifications").get_data(as_text=True)
    assert "澄清/修改通知" in page and "答疑" in page
    assert client.get("/api/v1/notifications", headers=factory.token(client.application.test_client(), bidder)
                      ).get_json()["notifications"][0]["title"].startswith("澄清/修改通知")
