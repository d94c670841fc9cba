"""Creating a tender and publishing it: the statutory clocks, and bad input refused with nothing saved."""
import io
from pathlib import Path
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.accounts import OrgKind, Role
from core.clock import now
from core.db import db
from core.errors import RuleViolation, ValidationError
from tests.factories import PRICE_FORM
from trading import operations as ops
from trading.models import Project, ProjectState, Section, SectionState


def _iso(moment):
    return moment.isoformat()


def _section_body(start, deadline, **changes):
    body = {"number": 1, "name": "一标段", "ceiling_price": "9000000", "bid_security_amount": "100000",
            "bid_validity_days": 90, "evaluation_method": "works_comprehensive_benchmark",
            "schedule": {"notice_at": _iso(start), "issue_start": _iso(start),
                         "issue_end": _iso(start + timedelta(days=6)),
                         "clarification_deadline": _iso(deadline - timedelta(days=16)), "deadline": _iso(deadline)}}
    body.update(changes)
    return body


@pytest.fixture()
def agent_api(client, factory):
    agent = factory.user(Role.AGENT)
    tenderee = factory.org(OrgKind.TENDEREE)
    return agent, tenderee, factory.token(client, agent)


def _create(client, headers, tenderee, code="E3509020001202611001", **changes):
    body = {"code": code, "name": "宁德市某道路改造工程", "type": "works", "method": "open", "budget": "20000000.00",
            "ceiling_price": "19000000.00", "region_code": "350902", "tenderee_credit_code": tenderee.credit_code}
    body.update(changes)
    return client.post("/api/v1/projects", json=body, headers=headers)


def test_the_agent_creates_sections_and_publishes_over_the_api(client, agent_api):
    agent, tenderee, headers = agent_api
    project = _create(client, headers, tenderee).get_json()
    start = now()
    section = client.post(f"/api/v1/projects/{project['id']}/sections", headers=headers,
                          json=_section_body(start, start + timedelta(days=21))).get_json()
    assert section["code"] == "E3509020001202611001001"
    assert client.put(f"/api/v1/sections/{section['id']}/price-form", json={"fields": PRICE_FORM},
                      headers=headers).status_code == 200
    upload = client.post(f"/api/v1/sections/{section['id']}/documents", headers=headers,
                         data={"file": (io.BytesIO(b"%PDF-1.4 tender documents"), "招标文件.pdf"), "title": "招标文件"})
    assert upload.status_code == 201 and len(upload.get_json()["sha256"]) == 64
    published = client.post(f"/api/v1/projects/{project['id']}/publish", headers=headers)
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["state"] == "published"
    assert published.get_json()["sections"][0]["state"] == "bidding"
    assert any(p["code"] == project["code"] for p in client.get("/api/v1/projects").get_json()["projects"])


def test_a_duplicate_project_code_is_refused(client, agent_api):
    _agent, tenderee, headers = agent_api
    assert _create(client, headers, tenderee).status_code == 201
    again = _create(client, headers, tenderee, name="另一个项目")
    assert again.status_code == 422
    assert again.get_json()["error"] == {"code": "validation_failed", "field": "code",
                                         "message": again.get_json()["error"]["message"]}
    assert "已存在" in again.get_json()["error"]["message"]
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 1


@pytest.mark.parametrize("change, field", [
    ({"schedule": "order"}, "issue_end"),
    ({"schedule": "past"}, "deadline"),
])
def test_bad_schedules_are_refused_with_the_field(client, agent_api, change, field):
    _agent, tenderee, headers = agent_api
    project = _create(client, headers, tenderee).get_json()
    start = now()
    if change["schedule"] == "order":
        body = _section_body(start, start + timedelta(days=21))
        body["schedule"]["issue_end"] = _iso(start - timedelta(days=1))
    else:
        body = _section_body(start - timedelta(days=40), start - timedelta(days=1))
    response = client.post(f"/api/v1/projects/{project['id']}/sections", json=body, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert db.session.scalar(sa.select(sa.func.count(Section.id))) == 0


def test_empty_and_oversize_documents_are_refused(client, agent_api, app):
    _agent, tenderee, headers = agent_api
    project = _create(client, headers, tenderee).get_json()
    start = now()
    section = client.post(f"/api/v1/projects/{project['id']}/sections", json=_section_body(start, start + timedelta(days=21)),
                          headers=headers).get_json()
    empty = client.post(f"/api/v1/sections/{section['id']}/documents", headers=headers,
                        data={"file": (io.BytesIO(b""), "empty.pdf")})
    assert empty.status_code == 422 and "为空" in empty.get_json()["error"]["message"]
    limits = app.config["CLOCKS"]
    app.config["CLOCKS"] = type(limits)(max_document_bytes=1024)
    try:
        big = client.post(f"/api/v1/sections/{section['id']}/documents", headers=headers,
                          data={"file": (io.BytesIO(b"x" * 4096), "big.pdf")})
    finally:
        app.config["CLOCKS"] = limits
    assert big.status_code == 422 and "大小上限" in big.get_json()["error"]["message"]
    assert client.get(f"/api/v1/sections/{section['id']}", headers=headers).get_json()["documents"] == []
    assert not list(Path(app.config["STORAGE_DIR"], "tender-documents").rglob("*.part"))  # nothing half-written


def test_a_price_form_field_without_a_type_is_refused(client, agent_api):
    _agent, tenderee, headers = agent_api
    project = _create(client, headers, tenderee).get_json()
    start = now()
    section = client.post(f"/api/v1/projects/{project['id']}/sections", json=_section_body(start, start + timedelta(days=21)),
                          headers=headers).get_json()
    fields = [dict(PRICE_FORM[0]), {"key": "duration_days", "label": "工期"}]
    response = client.put(f"/api/v1/sections/{section['id']}/price-form", json={"fields": fields}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "fields[1].type" and "缺少类型" in response.get_json()["error"]["message"]
    assert client.get(f"/api/v1/sections/{section['id']}", headers=headers).get_json()["price_form"] == []


def test_publication_names_the_20_day_rule(factory):
    project = factory.project(publish=False, days=15)
    with pytest.raises(RuleViolation) as err:
        ops.publish(project)
    assert err.value.code == "clock.issue_to_deadline" and "20日" in err.value.message
    assert project.state is ProjectState.DRAFT


def test_publication_names_the_5_day_issue_window(factory):
    project = factory.project(publish=False)
    section = project.sections[0]
    section.issue_end = section.issue_start + timedelta(days=3)
    with pytest.raises(RuleViolation) as err:
        ops.publish(project)
    assert "发售期不得少于5日" in err.value.message


def test_an_invitation_tender_needs_three_invitees(factory):
    bidders = [factory.org(OrgKind.BIDDER) for _ in range(2)]
    project = factory.project(publish=False, method="invited", invitees=bidders)
    with pytest.raises(RuleViolation) as err:
        ops.publish(project)
    assert err.value.code == "invitation.min_invitees"
    ops.invite(project, factory.org(OrgKind.BIDDER))
    ops.publish(project)
    assert project.state is ProjectState.PUBLISHED


def test_the_clocks_are_configuration(app, factory):
    clocks = app.config["CLOCKS"]
    app.config["CLOCKS"] = type(clocks)(works_issue_to_deadline_days=10)
    try:
        project = factory.project(publish=False, days=15)
        ops.publish(project)
    finally:
        app.config["CLOCKS"] = clocks
    assert project.sections[0].state is SectionState.BIDDING


def test_the_accelerator_compresses_every_clock(app, factory):
    app.config["ACCELERATOR"] = 1440
    try:
        agent = factory.user(Role.AGENT)
        project = factory.project(agent, publish=False, days=25)
        section = project.sections[0]
        start = now()
        # 20 minutes is 20 days at 1440×; 6 minutes of issue window is 6 days.
        section.issue_start, section.notice_at = start, start
        section.issue_end, section.deadline = start + timedelta(minutes=6), start + timedelta(minutes=21)
        section.clarification_deadline = start + timedelta(minutes=5)
        ops.publish(project)
        page = app.test_client().get("/").get_data(as_text=True)
    finally:
        app.config["ACCELERATOR"] = 1
    assert project.state is ProjectState.PUBLISHED
    assert "演示加速模式" in page and "1440" in page


def test_a_published_project_cannot_be_edited_in_place(factory):
    project = factory.project()
    with pytest.raises(RuleViolation):
        ops.set_price_form(project.sections[0], PRICE_FORM)
    with pytest.raises(ValidationError):
        ops.create_project(agent=factory.user(Role.AGENT), tenderee=project.tenderee, code=project.code, name="x",
                           type="works", method="open", budget="1", ceiling_price="1", region_code="350902")


def test_the_agent_creates_a_project_in_the_page_with_field_messages(client, factory):
    agent = factory.user(Role.AGENT)
    tenderee = factory.org(OrgKind.TENDEREE)
    factory.login(client, agent)
    form = {"code": "E3509020001202611009", "name": "页面创建的项目", "tenderee_id": tenderee.id, "type": "works",
            "method": "open", "budget": "1000000", "ceiling_price": "2000000", "region_code": "350902"}
    bad = client.post("/projects/new", data=form)
    assert bad.status_code == 422 and "最高投标限价不得超过预算" in bad.get_data(as_text=True)
    form["ceiling_price"] = "900000"
    assert client.post("/projects/new", data=form).status_code == 302
    assert db.session.scalar(sa.select(Project).where(Project.code == "E3509020001202611009")) is not None
