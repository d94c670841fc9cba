"""Clarifications to a bidder with a deadline, answered signed in the bidder's portal; and the live room over
Socket.IO: the change notice, one's own view, and the recorded chat."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.audit import AuditEvent
from core.clock import now
from core.db import db
from core.notifications import Notification
from evaluation.clarification_operations import answer_payload
from evaluation.evaluation_models import ChatMessage, EvaluationClarification
from tests.evaluation import evaluation_helpers as eh


def test_a_clarification_is_answered_signed_before_its_deadline_and_a_late_one_is_refused(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    view = eh.state(world, chair)
    target = world.bidders[1]
    bidder_id = next(b["id"] for b in view["bidders"] if b["credit_code"] == target.user.organisation.credit_code)
    not_chair = eh.api(world, seats[1], "POST", "/clarifications", json={"bidder_id": bidder_id, "question": "?",
                                                                         "minutes": 30})
    assert not_chair.status_code == 403
    too_short = eh.api(world, chair, "POST", "/clarifications", json={"bidder_id": bidder_id, "question": "请说明",
                                                                      "minutes": 1})
    assert too_short.status_code == 422 and too_short.get_json()["error"]["field"] == "minutes"
    asked = eh.api(world, chair, "POST", "/clarifications", json={
        "bidder_id": bidder_id, "question": "请说明冬季施工的质量保证措施", "minutes": 30})
    assert asked.status_code == 201
    assert db.session.scalar(sa.select(Notification.title).where(Notification.user_id == target.user.id))
    # the bidder's portal and the API list it; another bidder sees nothing
    portal = eh.login(app, factory, target.user)
    assert "请说明冬季施工的质量保证措施" in portal.get("/evaluations").get_data(as_text=True)
    listed = portal.get("/api/v1/evaluation-clarifications").get_json()["clarifications"]
    other = eh.login(app, factory, world.bidders[0].user)
    assert other.get("/api/v1/evaluation-clarifications").get_json()["clarifications"] == []
    payload = dict(listed[0]["payload"], answer="冬季采用暖棚法养护，并增设测温点。")
    url = f"/api/v1/evaluation-clarifications/{listed[0]['id']}/answer"
    # a personal (not the organisation's) certificate, or a changed answer, is refused
    personal = eh.holder(target.user)
    wrong_key = portal.post(url, json={"document": personal.sign(payload), "certificate": personal.certificate_pem})
    assert wrong_key.status_code == 422 and "本单位的签名证书" in wrong_key.get_json()["error"]["message"]
    signed = target.sign(payload)
    signed["payload"] = dict(payload, answer="改过的答复")
    tampered = portal.post(url, json={"document": signed, "certificate": target.certificate_pem})
    assert tampered.status_code == 422
    answered = portal.post(url, json={"document": target.sign(payload), "certificate": target.certificate_pem})
    assert answered.status_code == 200 and answered.get_json()["answer"] == payload["answer"]
    again = portal.post(url, json={"document": target.sign(payload), "certificate": target.certificate_pem})
    assert again.status_code == 409
    assert eh.state(world, chair)["clarifications"][0]["answer"] == payload["answer"]
    # a second question whose deadline passes: the late answer is refused, and the attempt recorded
    second = eh.api(world, chair, "POST", "/clarifications", json={
        "bidder_id": bidder_id, "question": "请补充项目经理的在岗证明", "minutes": 5}).get_json()
    late = db.session.get(EvaluationClarification, second["id"])
    late.deadline = now() - timedelta(seconds=1)
    db.session.commit()
    refused = portal.post(f"/api/v1/evaluation-clarifications/{late.id}/answer", json={
        "document": target.sign(answer_payload(late, "迟到的答复")), "certificate": target.certificate_pem})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "clarification_closed"
    db.session.expire_all()
    assert late.answer is None
    assert db.session.scalar(sa.select(AuditEvent.seq).where(AuditEvent.action == "evaluation.clarification_late"))


def test_the_room_is_live_over_socketio_with_its_recorded_chat(app, factory, socket_client):
    world = eh.build(app, factory, prices=(920, 950, 980))
    seats = eh.seat_everyone(world)
    member_socket = socket_client(seats[0].client)
    agent_socket = socket_client(world.agent_client)
    joined = member_socket.emit("join_evaluation", {"evaluation_id": world.evaluation_id}, callback=True)
    assert joined["ok"] and joined["state"]["state"] == "electing" and "chat" in joined["state"]
    agent_joined = agent_socket.emit("join_evaluation", {"evaluation_id": world.evaluation_id}, callback=True)
    assert agent_joined["ok"] and "chat" not in agent_joined["state"]
    stranger = socket_client(eh.login(app, factory, factory.user(seats[0].user.role)))
    assert stranger.emit("join_evaluation", {"evaluation_id": world.evaluation_id}, callback=True)["ok"] is False
    # a change pushes a bare notice to everyone in the room
    eh.api(world, seats[1], "POST", "/chair-votes", json={"candidate_id": joined["state"]["me"]["member"]})
    notices = [m for m in agent_socket.get_received() if m["name"] == "evaluation_changed"]
    assert notices and notices[-1]["args"][0] == {"evaluation": world.evaluation_id, "state": "electing",
                                                  "stage_index": 0}
    # the chat reaches the committee, is stored and audited; the agent may not post
    sent = member_socket.emit("evaluation_chat", {"evaluation_id": world.evaluation_id, "text": "请各位先阅读技术标"},
                              callback=True)
    assert sent["ok"]
    other = socket_client(seats[2].client)
    other.emit("join_evaluation", {"evaluation_id": world.evaluation_id}, callback=True)
    member_socket.emit("evaluation_chat", {"evaluation_id": world.evaluation_id, "text": "好的"}, callback=True)
    heard = [m["args"][0]["text"] for m in other.get_received() if m["name"] == "evaluation_chat"]
    assert heard == ["好的"]
    refused = agent_socket.emit("evaluation_chat", {"evaluation_id": world.evaluation_id, "text": "催一下"},
                                callback=True)
    assert refused["ok"] is False
    assert [m.text for m in db.session.scalars(sa.select(ChatMessage).order_by(ChatMessage.id))] == \
        ["请各位先阅读技术标", "好的"]
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.seq)).where(AuditEvent.action == "evaluation.chat")) == 2
    state = other.emit("evaluation_state", {"evaluation_id": world.evaluation_id}, callback=True)["state"]
    assert [m["text"] for m in state["chat"]] == ["请各位先阅读技术标", "好的"]
