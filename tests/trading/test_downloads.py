"""Downloads are recorded, and who downloaded is for the agent, the tenderee and supervisors only."""
import sqlalchemy as sa

from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from trading.models import Download


def _download(client, document_id):
    return client.get(f"/documents/{document_id}/download")


def test_a_signed_in_bidder_downloads_and_the_download_is_recorded(client, factory):
    project = factory.project()
    document = project.sections[0].current_documents[0]
    assert _download(client, document.id).status_code == 302  # anonymous: sent to the login page
    bidder = factory.user(Role.BIDDER)
    factory.login(client, bidder)
    response = _download(client, document.id)
    assert response.status_code == 200 and response.data == b"%PDF-1.4 test"
    row = db.session.scalar(sa.select(Download))
    assert (row.user_id, row.organisation_id) == (bidder.id, bidder.organisation_id)
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "tender_document.downloaded"))


def test_the_parties_see_who_downloaded(client, factory):
    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    section = project.sections[0]
    bidders = [factory.user(Role.BIDDER) for _ in range(3)]
    for bidder in bidders:
        c = client.application.test_client()
        factory.login(c, bidder)
        _download(c, section.current_documents[0].id)
    tenderee = factory.user(Role.TENDEREE, organisation=project.tenderee)
    supervisor = factory.user(Role.SUPERVISOR)
    for viewer in (agent, tenderee, supervisor):
        c = client.application.test_client()
        factory.login(c, viewer)
        page = c.get(f"/sections/{section.id}/downloads").get_data(as_text=True)
        assert all(b.organisation.name in page for b in bidders), viewer.role
        api = c.get(f"/api/v1/sections/{section.id}/downloads", headers=factory.token(c, viewer)).get_json()
        assert api["count"] == 3


def test_a_bidder_cannot_learn_the_other_downloaders_from_any_page_or_api(app, factory):
    """Walk every GET endpoint as a bidder who downloaded; no other bidder's name, code or count appears."""
    project = factory.project()
    section = project.sections[0]
    document = section.current_documents[0]
    others = [factory.user(Role.BIDDER) for _ in range(2)]
    for other in others:
        c = app.test_client()
        factory.login(c, other)
        _download(c, document.id)
    me = factory.user(Role.BIDDER)
    client = app.test_client()
    factory.login(client, me)
    _download(client, document.id)
    headers = factory.token(app.test_client(), me)
    ids = {"project_id": project.id, "section_id": section.id, "document_id": document.id, "user_id": me.id,
           "code": "en", "upload_id": "0" * 32, "bid_id": 1, "certificate_id": 1}
    secrets = [o.organisation.name for o in others] + [o.organisation.credit_code for o in others] + \
              [o.username for o in others] + [o.display_name for o in others]
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        url = rule.build({k: ids.get(k, 1) for k in rule.arguments})[1]  # unknown ids: 1
        for kwargs in ({}, {"headers": headers}):
            response = client.get(url, **kwargs)
            body = response.get_data(as_text=True)
            leaked = [s for s in secrets if s in body]
            assert not leaked, f"{url} shows {leaked}"
            assert "data-download-count" not in body, url
            seen += 1
    assert seen > 20
    assert client.get(f"/sections/{section.id}/downloads").status_code == 403
    assert client.get(f"/api/v1/sections/{section.id}/downloads", headers=headers).status_code == 403


def test_bidders_download_only_during_the_issue_window(client, factory):
    from datetime import timedelta

    from core.clock import now

    project = factory.project()
    section = project.sections[0]
    section.issue_start = now() + timedelta(hours=1)
    section.notice_at = now()
    db.session.commit()
    bidder = factory.user(Role.BIDDER)
    factory.login(client, bidder)
    response = client.get(f"/documents/{section.current_documents[0].id}/download", follow_redirects=True)
    assert "发售期" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Download.id))) == 0
