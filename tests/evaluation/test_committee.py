"""The committee: opening the evaluation, sign-in at the seats, the recusal declaration and its replacement draw,
the chair's election, the media roster, and who sees the members' names."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from evaluation.draw_models import AssignmentStatus, DrawReplacement
from evaluation.evaluation_models import CommitteeMember, Evaluation, MemberStatus
from evaluation.media.models import MediaRoom, MemberRole, TimelineEvent, TimelineKind
from tests.evaluation import evaluation_helpers as eh
from tests.factories import PASSWORD


@pytest.fixture()
def world(app, factory):
    return eh.build(app, factory, remote=True)


def test_the_evaluation_opens_with_the_drawn_committee_and_the_opened_bids(world):
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    assert evaluation.state.value == "seating" and evaluation.draw.state.value == "committee_revealed"
    kinds = [m.kind.value for m in evaluation.members]
    assert kinds == ["expert"] * 4 + ["representative"]
    assert [str(b.price) for b in evaluation.bidders] == ["920.00", "950.00", "980.00", "1000.00", "1050.00"]
    seats = [(m.venue_code, m.seat) for m in evaluation.members if m.kind.value == "expert"]
    assert all(venue and seat for venue, seat in seats) and len({venue for venue, _ in seats}) == 2
    again = world.agent_client.post(f"/api/v1/sections/{world.section.id}/evaluation", json={"representatives": []})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "evaluation_exists"


def test_opening_is_refused_without_a_closed_opening_or_with_the_wrong_representatives(app, factory):
    agent = factory.user(Role.AGENT)
    client = eh.login(app, factory, agent)
    fresh = factory.project(agent).sections[0]
    early = client.post(f"/api/v1/sections/{fresh.id}/evaluation", json={"representatives": []})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "opening_not_closed"
    section, _bidders = eh.opened_section(factory, agent, (920, 950, 980))
    undrawn = client.post(f"/api/v1/sections/{section.id}/evaluation", json={"representatives": []})
    assert undrawn.get_json()["error"]["code"] == "committee_not_drawn"
    world = eh.World(agent=agent, agent_client=client, section=section, bidders=_bidders)
    eh.drawn_committee(world, factory)
    outsider = factory.user(Role.TENDEREE)  # another tenderee's staff
    wrong = client.post(f"/api/v1/sections/{section.id}/evaluation", json={"representatives": [outsider.id]})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["field"] == "representatives"
    assert db.session.scalar(sa.select(sa.func.count(Evaluation.id))) == 0


def test_members_sign_in_at_their_seats_by_certificate_or_password_and_totp(app, factory, world):
    first, second, third = eh.seated_members(world)[:3]
    challenge = eh.api(world, first, "POST", "/seat/challenge").get_json()
    assert challenge["payload"]["seat"] and challenge["payload"]["venue"]
    # another member's certificate cannot sign this member in
    forged = eh.api(world, first, "POST", "/seat", json={"method": "certificate", "document": second.sign(
        challenge["payload"]), "certificate": second.certificate_pem})
    assert forged.status_code == 422 and "个人签名证书" in forged.get_json()["error"]["message"]
    document = first.sign(challenge["payload"])
    signed = eh.api(world, first, "POST", "/seat", json={"method": "certificate", "document": document,
                                                          "certificate": first.certificate_pem})
    assert signed.status_code == 200 and signed.get_json()["status"] == "seated"
    again = eh.api(world, first, "POST", "/seat", json={"method": "certificate", "document": document,
                                                         "certificate": first.certificate_pem})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_signed_in"
    # without TOTP enrolled the password path is refused; with it, a wrong code then the right one
    bare = eh.api(world, second, "POST", "/seat", json={"method": "totp", "password": PASSWORD, "totp": "000000"})
    assert bare.get_json()["error"]["code"] == "totp_not_enrolled"
    eh.enrol_totp(app, factory, second)
    wrong = eh.api(world, second, "POST", "/seat", json={"method": "totp", "password": PASSWORD, "totp": "000000"})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["field"] == "totp"
    assert eh.sign_in_by_totp(world, second, PASSWORD).status_code == 200
    member = db.session.scalar(sa.select(CommitteeMember).where(CommitteeMember.user_id == second.user.id))
    assert (member.status, member.sign_in_method) == (MemberStatus.SEATED, "totp")
    # a replayed nonce is refused
    replay = eh.api(world, third, "POST", "/seat", json={"method": "certificate", "certificate": third.certificate_pem,
                                                          "document": third.sign(dict(challenge["payload"],
                                                                                      member=member.id + 1))})
    assert replay.status_code in (409, 422)
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action == "evaluation.member_signed_in")).all()
    assert len(actions) == 2


def test_a_declared_conflict_recuses_the_expert_and_the_replacement_takes_the_seat(app, factory, world):
    seats = eh.seated_members(world)
    conflicted = seats[1]
    bidder = world.bidders[2].user.organisation
    assert eh.sign_in_by_certificate(world, conflicted).status_code == 200
    without_reason = eh.declare(world, conflicted, [bidder.credit_code], "")
    assert without_reason.status_code == 422 and without_reason.get_json()["error"]["field"] == "reason"
    tampered = eh.state(world, conflicted)["me"]["declaration"]
    forged = eh.api(world, conflicted, "POST", "/declaration", json={"document": dict(
        conflicted.sign(dict(tampered, pledge="我不承诺")), certificate=conflicted.certificate_pem)})
    assert forged.status_code == 422
    declared = eh.declare(world, conflicted, [bidder.credit_code], "配偶在该单位任项目经理")
    assert declared.status_code == 200 and declared.get_json()["status"] == "recused"
    db.session.expire_all()
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    old = next(m for m in evaluation.members if m.user_id == conflicted.user.id)
    new = db.session.get(CommitteeMember, old.replaced_by_id)
    assert (new.position, new.venue_code, new.seat) == (old.position, old.venue_code, old.seat)
    replacement = db.session.scalar(sa.select(DrawReplacement))
    assert replacement.reason == "recused"  # from a reserve at that venue, or drawn afresh near it
    assert replacement.replaced.status is AssignmentStatus.RECUSED
    # the recused expert can take no part; the substitute signs in (which answers the draw's notice)
    refused = eh.api(world, conflicted, "POST", "/chair-votes", json={"candidate_id": new.id})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "member_recused"
    eh.seated_members(world)
    substitute = world.members[new.user_id]
    for seat in eh.seated_members(world):
        if seat is not conflicted and eh.state(world, seat)["me"]["status"] == "invited":
            assert eh.sign_in_by_certificate(world, seat).status_code == 200
            assert eh.declare(world, seat).status_code == 200
    db.session.expire_all()
    assert new.status is MemberStatus.DECLARED and replacement.substitute.status is AssignmentStatus.CONFIRMED
    assert evaluation.state.value == "electing"
    record = eh.state(world, substitute)
    assert [m["status"] for m in record["members"]].count("recused") == 1


def test_the_chair_is_elected_by_a_majority_and_a_split_round_is_repeated(world):
    seats = eh.seat_everyone(world)
    members = [eh.state(world, s)["me"]["member"] for s in seats]
    split = [members[0], members[1], members[2], members[3], members[4]]
    for seat, candidate in zip(seats, split):
        assert eh.api(world, seat, "POST", "/chair-votes", json={"candidate_id": candidate}).status_code == 200
    view = eh.state(world, seats[0])
    assert view["state"] == "electing" and view["election"]["round"] == 2
    twice = eh.api(world, seats[0], "POST", "/chair-votes", json={"candidate_id": members[0]})
    assert twice.status_code == 200
    twice = eh.api(world, seats[0], "POST", "/chair-votes", json={"candidate_id": members[0]})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_voted"
    for seat in seats[1:3]:
        eh.api(world, seat, "POST", "/chair-votes", json={"candidate_id": members[2]})
    result = eh.api(world, seats[3], "POST", "/chair-votes", json={"candidate_id": members[2]}).get_json()
    assert result["state"] == "review" and result["chair"] == members[2]
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    assert evaluation.tie_commitment  # the tie-break draw's secret is committed before anything is scored
    room = db.session.get(MediaRoom, evaluation.media_room_id)
    roles = {m.user_id: m.role for m in room.members}
    assert roles[seats[2].user.id] is MemberRole.CHAIR and roles[world.supervisor.id] is MemberRole.SUPERVISOR
    assert all(s.user.id in roles for s in seats)
    stages = db.session.scalars(sa.select(TimelineEvent.label).where(TimelineEvent.room_id == room.id,
                                                                     TimelineEvent.kind == TimelineKind.STAGE)).all()
    assert stages == ["推选主任委员", "形式评审"]


def test_the_agent_sees_seats_and_counts_but_no_names_until_the_report(app, factory, world):
    seats = eh.seat_everyone(world)
    names = {m["name"] for m in eh.state(world, seats[0])["members"]}
    agent_view = world.agent_client.get(f"/api/v1/evaluations/{world.evaluation_id}").get_json()
    text = json.dumps(agent_view, ensure_ascii=False)
    assert not any(name in text for name in names)
    assert "chat" not in agent_view and "flags" not in agent_view and len(agent_view["members"]) == 5
    page = world.agent_client.get(f"/evaluations/{world.evaluation_id}").get_data(as_text=True)
    assert not any(name in page for name in names)
    stranger = eh.login(app, factory, factory.user(Role.EXPERT))
    assert stranger.get(f"/api/v1/evaluations/{world.evaluation_id}").status_code == 404


def test_a_recused_representative_is_replaced_by_the_agent(world, factory):
    representative = world.members[world.representative.user.id]
    assert eh.sign_in_by_certificate(world, representative).status_code == 200
    bidder = world.bidders[0].user.organisation.credit_code
    assert eh.declare(world, representative, [bidder], "曾为该投标人提供咨询").get_json()["status"] == "recused"
    colleague = factory.user(Role.TENDEREE, organisation=world.section.project.tenderee)
    named = world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/representatives",
                                    json={"user_id": colleague.id})
    assert named.status_code == 200
    full = world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/representatives",
                                   json={"user_id": factory.user(Role.TENDEREE,
                                                                 organisation=world.section.project.tenderee).id})
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "seats_filled"


def test_the_agent_opens_the_evaluation_and_records_facts_through_the_pages(app, factory):
    agent = factory.user(Role.AGENT)
    client = eh.login(app, factory, agent)
    section, bidders = eh.opened_section(factory, agent, (920, 950, 980))
    world = eh.World(agent=agent, agent_client=client, section=section, bidders=bidders, app=app, factory=factory)
    eh.drawn_committee(world, factory)
    listed = client.get("/evaluations").get_data(as_text=True)
    assert f"/sections/{section.id}/evaluation/new" in listed
    form = client.get(f"/sections/{section.id}/evaluation/new").get_data(as_text=True)
    assert world.representative.user.display_name in form
    wrong = client.post(f"/sections/{section.id}/evaluation/new", data={})
    assert wrong.status_code == 422 and "招标人代表" in wrong.get_data(as_text=True)
    opened = client.post(f"/sections/{section.id}/evaluation/new",
                         data={"representatives": str(world.representative.user.id)})
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/facts")
    evaluation = db.session.scalar(sa.select(Evaluation))
    facts_page = client.get(f"/evaluations/{evaluation.id}/facts").get_data(as_text=True)
    assert "credit_grade" in facts_page and "not_dishonest_entity" in facts_page
    bidder = evaluation.bidders[0]
    bad = client.post(f"/evaluations/{evaluation.id}/facts", data={"bidder_id": bidder.id, "fact_pm_similar_projects": "两项"})
    assert bad.status_code == 422 and "数字" in bad.get_data(as_text=True)
    saved = client.post(f"/evaluations/{evaluation.id}/facts", data={
        "bidder_id": bidder.id, "fact_credit_grade": "AA", "fact_pm_similar_projects": "3",
        "fact_not_dishonest_entity": "true", "small_enterprise": "1"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert bidder.facts_dict == {"credit_grade": "AA", "pm_similar_projects": 3, "not_dishonest_entity": True}
    assert bidder.small_enterprise
    member = eh.login(app, factory, evaluation.members[0].user)
    assert f'data-room="{evaluation.id}"' in member.get("/evaluations").get_data(as_text=True)
    room = client.get(f"/evaluations/{evaluation.id}").get_data(as_text=True)
    assert 'id="room"' in room and "evaluation_room.js" in room
