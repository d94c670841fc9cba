"""Journey step 6 over HTTP, without a browser: request, commit, entropy, draw, decline and replacement,
confirmation, opening to the committee, publication after the award, and verification by the platform's
command and by the standalone script, which also catch a tampered record."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from core.accounts import OrgKind, Role, User
from core.audit import AuditEvent
from core.clock import format_local, now
from core.db import db
from evaluation import expert_operations as ops
from evaluation.draw_models import Draw, DrawExclusion
from evaluation.draw_sealing import open_sealed_list
from evaluation.experts import Expert
from tests.evaluation import draw_helpers as h
from trading.models import SectionState

ROOT = Path(__file__).resolve().parents[2]


def signed_in(app, factory, user):
    client = app.test_client()
    factory.login(client, user)
    return client


def test_an_expert_draw_from_request_to_published_record(app, factory, tmp_path):
    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    section = project.sections[0]
    authority = factory.org(OrgKind.SUPERVISORY_AUTHORITY, region="350900")
    supervisor = h.supervisor(factory, organisation=authority)  # holds an encryption key: the list is sealed to it
    tenderee = factory.user(Role.TENDEREE, organisation=project.tenderee)
    bidder = factory.user(Role.BIDDER)
    admin = factory.user(Role.ADMIN)

    # Venues, by the administrator (page and API), and a pool near each of them, every expert with a sign-in.
    admin_client = signed_in(app, factory, admin)
    assert admin_client.post("/venues", data={"code": "NDGGZY-01", "name": "宁德评标室", "region_code": "350900",
                                              "seats": "9"}).status_code == 302
    token = factory.token(app.test_client(), admin)
    for code, region in (("FZGGZY-01", "350100"), ("NPGGZY-01", "350700")):
        made = app.test_client().post("/api/v1/venues", headers=token,
                                      json={"code": code, "name": f"{code}评标室", "region_code": region, "seats": 3})
        assert made.status_code == 201
    # Deep enough near every venue that a declined seat can always be refilled from the same region, whatever
    # the seed (with 4 per region a decline could leave a venue with no one left to draw: a flaky test).
    h.pool({("A0401", "350902"): 7, ("A0402", "350102"): 7, ("A0403", "350702"): 7, ("B0105", "350902"): 3,
            ("B0105", "350103"): 3, ("B0105", "350783"): 3}, factory)
    former = h.expert("A0401", "350981", user=factory.user(Role.EXPERT), past=[ops.PastEmploymentInput(
        bidder.organisation.name, bidder.organisation.credit_code, now().date().replace(month=1, day=2))])
    db.session.commit()

    outbound_log = Path(app.instance_path) / "outbound-messages.log"
    logged_before = outbound_log.read_text(encoding="utf-8").count("\n") if outbound_log.exists() else 0

    # A bidder downloads the documents; the deadline passes.
    bidder_client = signed_in(app, factory, bidder)
    assert bidder_client.get(f"/documents/{section.current_documents[0].id}/download").status_code == 200
    h.past_deadline(section)

    # The agent requests the draw: 5 transport + 1 cost experts and 1 representative, across three venues.
    agent_client = signed_in(app, factory, agent)
    venues = {v["code"]: v for v in agent_client.get("/api/v1/venues", headers=factory.token(app.test_client(), agent))
              .get_json()["venues"]}
    assert set(venues) == {"NDGGZY-01", "FZGGZY-01", "NPGGZY-01"}
    venue_ids = dict(db.session.execute(sa.text("SELECT code, id FROM venues")).all())
    evaluation_at = format_local(now().replace(microsecond=0) + timedelta(minutes=40),
                                 "%Y-%m-%dT%H:%M")
    form = {"rows": "4", "specialty_0": "A04", "count_0": "5", "reserves_0": "1", "specialty_1": "B01", "count_1": "1",
            "reserves_1": "1", "tenderee_representatives": "1", "evaluation_at": evaluation_at,
            "main_venue_id": str(venue_ids["NDGGZY-01"]), f"seats_{venue_ids['NDGGZY-01']}": "4",
            "secondary_venue_ids": [str(venue_ids["FZGGZY-01"]), str(venue_ids["NPGGZY-01"])],
            "supervisor_org_id": str(authority.id)}
    even = agent_client.post(f"/sections/{section.id}/draws/new", data=form | {"tenderee_representatives": "2"})
    assert even.status_code == 422 and "单数" in even.get_data(as_text=True)
    created = agent_client.post(f"/sections/{section.id}/draws/new", data=form)
    assert created.status_code == 302
    draw = db.session.scalar(sa.select(Draw))
    draw_id = draw.id

    # Commit, naming the bidder: its former employee is excluded, and only supervisors see why.
    page = agent_client.get(f"/draws/{draw_id}").get_data(as_text=True)
    assert bidder.organisation.name in page  # offered as a bidder to name
    agent_client.post(f"/draws/{draw_id}/commit", data={"bidder_ids": str(bidder.organisation_id)})
    db.session.expire_all()
    assert draw.commitment and draw.bidders_known
    committed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "draw.committed")).details
    assert committed["commitment"] == draw.commitment
    assert db.session.scalar(sa.select(DrawExclusion.rule).where(DrawExclusion.expert_code == former.code)) == \
        "PARTY_EMPLOYEE"
    supervisor_client = signed_in(app, factory, supervisor)
    assert former.code in supervisor_client.get(f"/draws/{draw_id}").get_data(as_text=True)
    assert former.code not in agent_client.get(f"/draws/{draw_id}").get_data(as_text=True)

    # Entropy from the supervisor (page) and the tenderee (API); the agent starts the draw.
    supervisor_client.post(f"/draws/{draw_id}/entropy", data={"entropy": "监督人员 7f3a"})
    tenderee_token = factory.token(app.test_client(), tenderee)
    assert app.test_client().post(f"/api/v1/draws/{draw_id}/entropy", json={"entropy": "招标人 42"},
                                  headers=tenderee_token).status_code == 200
    agent_client.post(f"/draws/{draw_id}/reveal")
    supervisor_token = factory.token(app.test_client(), supervisor)
    late = app.test_client().post(f"/api/v1/draws/{draw_id}/entropy", json={"entropy": "太晚了"},
                                  headers=supervisor_token)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "entropy_after_reveal"

    # Agents and tenderees see counts; the server shows the supervisor no names either before the evaluation
    # starts: the supervisor opens the sealed list with their own key (as their page and bidtool do).
    def opened_by_supervisor():
        package = app.test_client().get(f"/api/v1/draws/{draw_id}/sealed-list", headers=supervisor_token)
        assert package.status_code == 200
        return open_sealed_list(package.get_json(), h.key_of(supervisor), draw_id=draw_id).members()

    assert "committee" not in app.test_client().get(f"/api/v1/draws/{draw_id}", headers=supervisor_token).get_json()
    committee = opened_by_supervisor()
    assert len(committee) == 6 and former.code not in committee
    prefixes = {"NDGGZY-01": ("3509",), "FZGGZY-01": ("3501",), "NPGGZY-01": ("3507",)}
    assert all(db.session.scalar(sa.select(Expert.region_code).where(Expert.code == code)).startswith(
        prefixes[m.venue]) for code, m in committee.items())
    for token_ in (factory.token(app.test_client(), agent), tenderee_token):
        answer = app.test_client().get(f"/api/v1/draws/{draw_id}", headers=token_).get_json()
        assert "committee" not in answer and answer["counts"]["pending"] == 6
    agent_page = agent_client.get(f"/draws/{draw_id}").get_data(as_text=True)
    assert not [code for code in committee if code in agent_page]

    # Each drawn expert sees a notice without the project's name; one declines, the rest confirm.
    experts = {e.code: e for e in db.session.scalars(sa.select(Expert).where(Expert.code.in_(list(committee))))}
    decliner = next(iter(committee))
    decliner_client = signed_in(app, factory, experts[decliner].user)
    invitation_page = decliner_client.get("/invitations").get_data(as_text=True)
    assert "评标邀请" in invitation_page and project.name not in invitation_page
    assignment_id = int(invitation_page.split('data-invitation="')[1].split('"')[0])
    decliner_client.post(f"/invitations/{assignment_id}/answer", data={"answer": "decline", "reason": "出差在外"})
    seen = app.test_client().get(f"/api/v1/draws/{draw_id}", headers=supervisor_token).get_json()
    now_committee = set(opened_by_supervisor())
    assert decliner not in now_committee and len(now_committee) == 6 and seen["counts"]["replacements"] == 1
    for code in now_committee:
        user = db.session.scalar(sa.select(User).join(Expert, Expert.user_id == User.id).where(Expert.code == code))
        token_ = factory.token(app.test_client(), user)
        invitations = app.test_client().get("/api/v1/invitations", headers=token_).get_json()["invitations"]
        mine = next(i for i in invitations if i["draw"] == draw_id and i["status"] == "notified")
        answered = app.test_client().post(f"/api/v1/invitations/{mine['id']}/answer", json={"answer": "confirm"},
                                          headers=token_)
        assert answered.status_code == 200 and answered.get_json()["outcome"] == "confirmed"
    db.session.expire_all()
    assert draw.state.value == "completed"
    sent = [json.loads(line) for line in outbound_log.read_text(encoding="utf-8").splitlines()[logged_before:]]
    assert {m["recipient"] for m in sent} == now_committee | {decliner}
    assert len(sent) == 7 and all(m["mobile"] and project.name not in m["text"] for m in sent)

    # The evaluation starts: members see who sits with them, the server now shows the supervisor the list too
    # (the evaluation service opens it); the agent still sees counts.
    assert app.test_client().post(f"/api/v1/draws/{draw_id}/committee",
                                  headers=factory.token(app.test_client(), agent)).status_code == 200
    seen = app.test_client().get(f"/api/v1/draws/{draw_id}", headers=supervisor_token).get_json()
    assert {m["expert"] for m in seen["committee"]} == now_committee
    member = db.session.scalar(sa.select(Expert).where(Expert.code == sorted(now_committee)[0]))
    member_page = signed_in(app, factory, member.user).get("/invitations").get_data(as_text=True)
    names = db.session.scalars(sa.select(Expert.name).where(Expert.code.in_(list(now_committee)))).all()
    assert project.name in member_page and all(name in member_page for name in names)

    # After the award the record is published; anyone downloads it and re-runs the draw.
    assert "定标后" in agent_client.post(f"/draws/{draw_id}/publish", follow_redirects=True).get_data(as_text=True)
    section.state = SectionState.AWARDED  # the award belongs to the evaluation work
    db.session.commit()
    agent_client.post(f"/draws/{draw_id}/publish")
    anonymous = app.test_client()
    public_page = anonymous.get(f"/draws/{draw_id}/record").get_data(as_text=True)
    assert member.name in public_page
    record_path = tmp_path / "record.json"
    record_path.write_bytes(anonymous.get(f"/draws/{draw_id}/record.json").data)
    published = anonymous.get(f"/api/v1/draws/{draw_id}/record").get_json()
    assert published["commitment"] == committed["commitment"]
    script = [sys.executable, str(ROOT / "tools" / "verify_draw.py"), str(record_path), "--commitment",
              published["commitment"]]
    assert subprocess.run(script, capture_output=True, text=True).returncode == 0
    record = json.loads(record_path.read_text())
    assert record["replacements"][0]["replaces"] == decliner and record["replacements"][0]["reason"] == "declined"

    runner = app.test_cli_runner()
    verified = runner.invoke(args=["draw", "verify", str(draw_id), "--output", str(tmp_path / "again.json")])
    assert verified.exit_code == 0, verified.output
    assert "verified" in verified.output and json.loads((tmp_path / "again.json").read_text()) == record

    # A tampered record fails both checks, naming the mismatch.
    record["result"]["members"][1]["seat"] = 99
    record_path.write_text(json.dumps(record))
    failed = subprocess.run(script, capture_output=True, text=True)
    assert failed.returncode == 1 and "result.members[1].seat" in failed.stdout + failed.stderr
    db.session.execute(sa.update(Draw).where(Draw.id == draw_id).values(record_json=json.dumps(record)))
    db.session.commit()
    broken = runner.invoke(args=["draw", "verify", str(draw_id)])
    assert broken.exit_code == 1 and "result.members[1].seat expected" in broken.output


def test_the_sweep_command_times_out_unanswered_notices(app, factory):
    from tests.evaluation.test_draw_flow import drawn

    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    world = type("World", (), {})()
    world.agent, world.section, world.venue = agent, project.sections[0], h.venue()
    world.supervisor = h.supervisor(factory)
    h.pool({("A0401", "350902"): 8, ("B0101", "350902"): 3})
    draw = drawn(world)
    assignment = next(iter(h.members(draw).values()))
    assignment.respond_by = now() - timedelta(minutes=1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["draw", "sweep"])
    assert result.exit_code == 0 and "1 notice(s) timed out" in result.output
    db.session.expire_all()
    assert [r.reason for r in draw.replacements] == ["timed_out"]


def test_no_page_or_api_shows_the_drawn_list_to_the_parties_before_the_award(app, factory):
    """Walk every GET endpoint as the agent and as the tenderee of a drawn section, in both languages."""
    from tests.evaluation.test_draw_flow import drawn

    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    world = type("World", (), {})()
    world.agent, world.section, world.venue = agent, project.sections[0], h.venue()
    world.supervisor = h.supervisor(factory)
    experts = h.pool({("A0401", "350902"): 8, ("B0101", "350902"): 3}, factory)
    draw = drawn(world)
    held = h.members(draw)
    secrets = list(held) + [e.name for e in experts if e.code in held]
    assignment = next(iter(held.values()))
    ids = {"project_id": project.id, "section_id": world.section.id, "document_id": world.section.current_documents[0].id,
           "draw_id": draw.id, "assignment_id": assignment.id, "expert_id": experts[0].id, "period_id": 1,
           "user_id": agent.id, "code": "en", "bid_id": 1, "certificate_id": 1, "upload_id": "0" * 32}
    tenderee = factory.user(Role.TENDEREE, organisation=project.tenderee)
    seen = 0
    for user in (agent, tenderee):
        client = app.test_client()
        factory.login(client, user)
        headers = factory.token(app.test_client(), user)
        for lang in ("zh", "en"):
            client.post(f"/lang/{lang}")
            for rule in app.url_map.iter_rules():
                if "GET" not in rule.methods or rule.endpoint == "static" or set(rule.arguments) - set(ids):
                    continue
                url = rule.build({k: v for k, v in ids.items() if k in rule.arguments})[1]
                body = client.get(url, headers=headers if url.startswith("/api/") else {}).get_data(as_text=True)
                assert not [s for s in secrets if s in body], url
                seen += 1
    assert seen > 40
    page = app.test_client()
    factory.login(page, world.supervisor)
    supervisor_page = page.get(f"/draws/{draw.id}").get_data(as_text=True)
    assert not [s for s in secrets if s in supervisor_page]  # sealed: the supervisor opens it with their own key
    assert 'id="sealed-list"' in supervisor_page
    drawn_expert = next(e for e in experts if e.code in held)
    admin = app.test_client()
    factory.login(admin, factory.user(Role.ADMIN))
    assert "待确认" not in admin.get(f"/experts/{drawn_expert.id}").get_data(as_text=True)
    # nor does the expert's profile give the pending seat away to a supervisor
    profile = page.get(f"/experts/{drawn_expert.id}").get_data(as_text=True)
    assert drawn_expert.name in profile and "待确认" not in profile


def test_the_api_requests_a_draw_and_names_the_field_of_bad_input(app, factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    h.venue("NDGGZY-01", "350900", 9)
    h.past_deadline(section)
    client = app.test_client()
    headers = factory.token(client, agent)
    when = (now() + timedelta(hours=1)).isoformat()
    body = {"quotas": [{"specialty": "A04", "count": 5, "reserves": 1}, {"specialty": "B01", "count": 1}],
            "tenderee_representatives": 1, "evaluation_at": when, "main_venue": {"code": "NDGGZY-01", "seats": 7}}
    cases = [({"quotas": "A04"}, 422, "quotas"), ({"tenderee_representatives": "two"}, 422, "tenderee_representatives"),
             ({"main_venue": {"code": "NOPE"}}, 422, "main_venue"), ({"evaluation_at": "tomorrow"}, 422, "evaluation_at"),
             ({"quotas": [{"specialty": "A04", "count": 5}]}, 409, "quotas"),
             ({"regions_excluded": ["350299"]}, 422, "regions_excluded")]
    for change, status, field in cases:
        refused = client.post(f"/api/v1/sections/{section.id}/draws", json=body | change, headers=headers)
        assert (refused.status_code, (refused.get_json().get("error") or {}).get("field")) == (status, field), change
    created = client.post(f"/api/v1/sections/{section.id}/draws", json=body, headers=headers)
    assert created.status_code == 201 and created.get_json()["committee_size"] == 7
    draw_id = created.get_json()["id"]
    refused = client.post(f"/api/v1/draws/{draw_id}/commit", json={}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "bidders"
    short = client.post(f"/api/v1/draws/{draw_id}/commit", json={"bidders": []}, headers=headers).get_json()
    assert short["error"]["code"] == "draw_shortfall" and "A04" in short["error"]["message"]
