"""Signalling without media: who may connect, what the server refuses and why, moderation and its audit."""
from __future__ import annotations

import asyncio
import time

import pytest
import socketio
import sqlalchemy as sa
from aiortc import RTCConfiguration, RTCPeerConnection

from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from core.extensions import socketio as server
from evaluation.media import operations as ops
from evaluation.media.models import (
    MediaRoom,
    MemberRole,
    RoomMember,
    TimelineEvent,
    TimelineKind,
)
from evaluation.media.service import NAMESPACE
from tests.media.conftest import sign_in, user


def _connect(app, factory, seat_user):
    client = app.test_client()
    factory.login(client, seat_user)
    return client


def _socket(app, client, room_id):
    return server.test_client(app, namespace=NAMESPACE, flask_test_client=client, auth={"room": room_id})


def _ask(sock, event, data):
    return sock.emit(event, data, namespace=NAMESPACE, callback=True)


def _offer(direction: str = "sendonly") -> str:
    async def make():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction=direction)
        pc.addTransceiver("audio", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp
    from tests.media.conftest import run

    return run(make())


def _eventually(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _actions(action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_user_not_on_the_roster_is_refused_at_the_connection_with_a_reason(room_world, live_server, release):
    room_id, seats = room_world
    release()
    cookie = sign_in(live_server, seats["outsider"])
    client = socketio.Client(reconnection=False)
    reasons = []
    client.on("connect_error", lambda data: reasons.append(data), namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server, headers={"Cookie": cookie}, auth={"room": room_id}, namespaces=[NAMESPACE],
                       transports=["websocket"], wait_timeout=5)
    assert reasons and reasons[0]["data"]["code"] == "not_on_roster"
    assert "名单" in reasons[0]["message"] and "roster" in reasons[0]["message"]
    [refusal] = _actions("media.refused")
    assert refusal.actor_id == seats["outsider"].user_id and '"not_on_roster"' in refusal.data


def test_anonymous_and_unknown_rooms_are_refused(app, room_world, factory):
    room_id, seats = room_world
    assert not _socket(app, app.test_client(), room_id).is_connected(NAMESPACE)
    client = _connect(app, factory, user(seats["chair"].user_id))
    assert not _socket(app, client, room_id + 999).is_connected(NAMESPACE)
    assert _socket(app, client, room_id).is_connected(NAMESPACE)


def test_a_supervisor_cannot_publish_and_the_refusal_is_audited(app, room_world, factory):
    room_id, seats = room_world
    sock = _socket(app, _connect(app, factory, user(seats["supervisor"].user_id)), room_id)
    assert sock.is_connected(NAMESPACE)
    me = _ask(sock, "hello", {})["me"]
    assert me["role"] == "supervisor" and me["can_publish"] is False
    reply = _ask(sock, "publish", {"kind": "camera", "sdp": _offer(), "type": "offer"})
    assert reply["error"]["code"] == "receive_only" and "receive-only" in reply["error"]["message"]
    assert _actions("media.refused")[0].actor_id == seats["supervisor"].user_id


def test_bad_offers_are_refused_with_a_reason(app, room_world, factory):
    room_id, seats = room_world
    sock = _socket(app, _connect(app, factory, user(seats["expert"].user_id)), room_id)
    cases = [
        ({"sdp": "hello", "type": "offer"}, "sdp_malformed"),
        ({"sdp": "v=0\r\n" + "a=x-filler\r\n" * 4000, "type": "offer"}, "sdp_too_large"),
        ({"sdp": _offer(), "type": "answer"}, "bad_sdp_type"),
        ({"sdp": _offer("recvonly"), "type": "offer"}, "no_usable_media"),
        ({"sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "type": "offer"}, "no_usable_media"),
    ]
    for data, code in cases:
        reply = _ask(sock, "publish", {"kind": "camera", **data})
        assert reply["error"]["code"] == code, (code, reply)
        assert reply["error"]["field"] in ("sdp", "type")
    reply = _ask(sock, "answer", {"pc_id": "nope", "sdp": "v=0 junk", "type": "answer"})
    assert reply["error"]["code"] == "sdp_malformed"
    reply = _ask(sock, "subscribe", {"stream_id": "does-not-exist"})
    assert reply["error"]["code"] == "stream_gone"


def test_a_flood_of_offers_is_refused(app, room_world, factory):
    room_id, seats = room_world
    sock = _socket(app, _connect(app, factory, user(seats["expert"].user_id)), room_id)
    burst = app.extensions["bidhall_media"].settings.offer_burst
    codes = [_ask(sock, "publish", {"kind": "camera", "sdp": "junk", "type": "offer"})["error"]["code"]
             for _ in range(burst + 3)]
    assert codes[:burst] == ["sdp_malformed"] * burst
    assert codes[burst:] == ["rate_limited"] * 3
    # another connection has its own allowance
    other = _socket(app, _connect(app, factory, user(seats["chair"].user_id)), room_id)
    assert _ask(other, "publish", {"kind": "camera", "sdp": "junk", "type": "offer"})["error"]["code"] == "sdp_malformed"


def test_the_chair_force_mutes_but_never_force_unmutes(app, room_world, factory):
    room_id, seats = room_world
    chair = _socket(app, _connect(app, factory, user(seats["chair"].user_id)), room_id)
    expert = _socket(app, _connect(app, factory, user(seats["expert"].user_id)), room_id)
    expert_id, chair_id = seats["expert"].user_id, seats["chair"].user_id
    assert _ask(chair, "mute", {"user_id": expert_id, "kind": "audio"}) == {"ok": True}
    muted = [e for e in expert.get_received(NAMESPACE) if e["name"] == "muted"]
    assert muted[-1]["args"][0] == {"user_id": expert_id, "kind": "audio", "muted": True, "forced": True,
                                    "by": chair_id}
    refused = _ask(chair, "unmute", {"user_id": expert_id, "kind": "audio"})
    assert refused["error"]["code"] == "force_unmute_refused"
    assert _ask(expert, "mute", {"user_id": chair_id, "kind": "audio"})["error"]["code"] == "not_moderator"
    assert _ask(expert, "unmute", {"kind": "audio"}) == {"ok": True}
    assert [e.actor_id for e in _actions("media.force_muted")] == [chair_id]
    assert [e.actor_id for e in _actions("media.unmuted")] == [expert_id]
    kinds = db.session.scalars(sa.select(TimelineEvent.kind).where(TimelineEvent.room_id == room_id)
                               .order_by(TimelineEvent.id)).all()
    assert kinds == [TimelineKind.JOIN, TimelineKind.JOIN, TimelineKind.MUTE, TimelineKind.UNMUTE]


def test_the_host_removes_a_participant_who_cannot_come_back(app, room_world, factory):
    room_id, seats = room_world
    host_user = factory.user(Role.AGENT)
    ops.add_member(db.session.get(MediaRoom, room_id), host_user, MemberRole.HOST)
    db.session.commit()
    host = _socket(app, _connect(app, factory, host_user), room_id)
    expert_client = _connect(app, factory, user(seats["expert"].user_id))
    expert = _socket(app, expert_client, room_id)
    assert _ask(host, "remove", {"user_id": seats["supervisor"].user_id})["error"]["code"] == "supervisor_stays"
    assert _ask(host, "remove", {"user_id": seats["expert"].user_id, "reason": "违反评标纪律"}) == {"ok": True}
    _eventually(lambda: not expert.is_connected(NAMESPACE))  # told, then disconnected by the server
    member = db.session.scalar(sa.select(RoomMember).where(RoomMember.user_id == seats["expert"].user_id))
    assert member.removed_at is not None and member.removed_by_id == host_user.id
    assert not _socket(app, expert_client, room_id).is_connected(NAMESPACE)
    assert '"removed"' in _actions("media.refused")[-1].data
    assert _actions("media.member_removed")[0].actor_id == host_user.id


def test_a_locked_room_lets_back_who_was_in_and_nobody_new(app, room_world, factory):
    room_id, seats = room_world
    chair = _socket(app, _connect(app, factory, user(seats["chair"].user_id)), room_id)
    expert_client = _connect(app, factory, user(seats["expert"].user_id))
    expert = _socket(app, expert_client, room_id)
    assert _ask(expert, "lock", {"locked": True})["error"]["code"] == "not_moderator"
    assert _ask(chair, "lock", {"locked": True}) == {"ok": True, "locked": True}
    expert.disconnect(NAMESPACE)
    assert _socket(app, expert_client, room_id).is_connected(NAMESPACE)  # was in: may come back
    supervisor = _socket(app, _connect(app, factory, user(seats["supervisor"].user_id)), room_id)
    assert not supervisor.is_connected(NAMESPACE)  # never joined: refused while locked
    assert len(_actions("media.room_locked")) == 1
    assert _ask(chair, "lock", {"locked": False}) == {"ok": True, "locked": False}
    assert _socket(app, _connect(app, factory, user(seats["supervisor"].user_id)), room_id).is_connected(NAMESPACE)


def test_presence_follows_the_connection_and_is_on_the_timeline(app, room_world, factory):
    room_id, seats = room_world
    expert = _socket(app, _connect(app, factory, user(seats["expert"].user_id)), room_id)
    roster = {m["user_id"]: m for m in _ask(expert, "hello", {})["members"]}
    assert roster[seats["expert"].user_id]["present"] and not roster[seats["chair"].user_id]["present"]
    assert roster[seats["expert"].user_id]["venue"] == "厦门副场"
    expert.disconnect(NAMESPACE)
    kinds = db.session.scalars(sa.select(TimelineEvent.kind).where(TimelineEvent.room_id == room_id)
                               .order_by(TimelineEvent.id)).all()
    assert kinds == [TimelineKind.JOIN, TimelineKind.LEAVE]
    assert [e.action for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.in_(["media.joined", "media.left"])).order_by(AuditEvent.seq))] == ["media.joined", "media.left"]
