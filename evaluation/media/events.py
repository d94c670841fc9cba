"""Socket.IO signalling of the evaluation room's audio and video, namespace ``/media``.

Access is checked once at the connection, from the signed-in user of the session cookie (Flask-Login's
``current_user``): only the room's roster gets in. Every request a client sends afterwards is answered
through its acknowledgement: ``{"ok": true, ...}`` or ``{"error": {"code", "message", "field"}}``. Every
handler releases its database session, because request teardown never runs for Socket.IO events.
The messages are listed in docs/media.md.
"""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from core.accounts import User
from core.db import db
from core.errors import DomainError, Forbidden, NotFound, ValidationError
from core.extensions import socketio
from core.permissions import _second_factor_ok
from evaluation.media import operations as ops
from evaluation.media import sdp as sdp_checks
from evaluation.media.models import MediaRoom, RoomMember
from evaluation.media.presence import Connection
from evaluation.media.service import NAMESPACE, media_service, room_channel


def _refuse(code: str, message: str, room_id: int | None = None, audit: bool = False):
    if audit:
        ops.refuse(room_id, current_user if current_user.is_authenticated else None, code, message)
        db.session.commit()
    return ConnectionRefusedError(message, {"code": code})


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    try:
        return _connect(auth if isinstance(auth, dict) else {})
    finally:
        db.session.remove()


def _connect(auth: dict) -> None:
    if not current_user.is_authenticated:
        raise _refuse("unauthenticated", "请先登录 (sign in first)")
    if not _second_factor_ok():
        raise _refuse("second_factor", "请先完成第二因素认证 (present your second factor first)")
    try:
        room_id = int(auth.get("room"))
    except (TypeError, ValueError):
        raise _refuse("bad_request", "缺少房间编号 (the room id is missing)") from None
    room = db.session.get(MediaRoom, room_id)
    if room is None:
        raise _refuse("room_not_found", "没有这个评标室 (no such room)")
    member = room.member_for(current_user)
    if member is None:
        raise _refuse("not_on_roster", "您不在本次评标的名单中，不能进入 (you are not on this evaluation's roster)",
                      room.id, audit=True)
    if member.removed_at is not None:
        raise _refuse("removed", "您已被移出本评标室 (you were removed from this room)", room.id, audit=True)
    if not room.is_open:
        raise _refuse("room_closed", "评标室已关闭 (the room is closed)")
    if not room.can_enter(current_user):
        raise _refuse("room_locked", "评标室已锁定，不再接受新的参会人 (the room is locked)", room.id, audit=True)
    service = media_service()
    first = not service.presence.is_present(room.id, member.user_id)
    older = service.presence.add(Connection(request.sid, room.id, member.user_id, member.role.value))
    join_room(room_channel(room.id))
    if first:
        ops.record_join(room, member)
    db.session.commit()
    for sid in older:  # the newest connection of a user wins: a reconnect replaces a half-dead one
        socketio.start_background_task(socketio.server.disconnect, sid, namespace=NAMESPACE)
    _broadcast_presence(room)


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason=None):
    try:
        service = media_service()
        connection = service.presence.pop(request.sid)
        if connection is None:
            return
        service.call(connection.room_id, "leave", sid=connection.sid)
        if not service.presence.is_present(connection.room_id, connection.user_id):
            room = db.session.get(MediaRoom, connection.room_id)
            member = room.member_for(_user(connection.user_id)) if room else None
            if member is not None:
                ops.record_leave(room, member, str(reason or "disconnected"))
                db.session.commit()
                _broadcast_presence(room)
    finally:
        db.session.remove()


def handler(event: str):
    """Register a request handler: it answers through the ack and always releases the DB session."""
    def decorator(fn):
        @wraps(fn)
        def wrapped(data=None):
            try:
                result = fn(data if isinstance(data, dict) else {})
                db.session.commit()
                return {"ok": True, **(result or {})}
            except DomainError as exc:
                db.session.rollback()
                return exc.to_json()
            finally:
                db.session.remove()

        socketio.on_event(event, wrapped, namespace=NAMESPACE)
        return wrapped

    return decorator


def _context() -> tuple[Connection, MediaRoom, RoomMember]:
    connection = media_service().presence.get(request.sid)
    if connection is None:
        raise Forbidden("连接未加入评标室 (this connection has not joined a room)", code="not_joined")
    room = db.session.get(MediaRoom, connection.room_id)
    member = room.member_for(_user(connection.user_id)) if room else None
    if member is None or member.removed_at is not None or not room.is_open:
        raise Forbidden("您已不在本评标室 (you are no longer in this room)", code="not_in_room")
    return connection, room, member


@handler("hello")
def hello(_data: dict) -> dict:
    _connection, room, member = _context()
    service = media_service()
    state = service.call(room.id, "describe")
    return {"me": {**member.as_json(), "can_publish": member.can_publish, "can_moderate": member.can_moderate},
            "room": {"id": room.id, "title": room.title, "locked": room.locked},
            "members": _roster(room), "streams": state["streams"],
            "ice_servers": list(service.settings.ice_servers)}


@handler("publish")
def publish(data: dict) -> dict:
    connection, room, member = _context()
    service = media_service()
    if not member.can_publish:
        message = "监督人员只能接收，不能发布音视频 (supervisors join receive-only and cannot publish)"
        ops.refuse(room.id, member.user, "receive_only", message)
        db.session.commit()
        raise Forbidden(message, code="receive_only")
    connection.count_offer(service.settings.offer_burst, service.settings.offer_window_s)
    kinds = sdp_checks.check_publish_offer(data.get("sdp"), data.get("type"), service.settings.max_sdp_bytes)
    kind = data.get("kind", "camera")
    return service.call(room.id, "publish", sid=connection.sid, user_id=member.user_id, kind=kind, sdp=data["sdp"],
                        kinds=sorted(kinds), muted=member.muted)


@handler("unpublish")
def unpublish(data: dict) -> dict:
    connection, room, _member = _context()
    media_service().call(room.id, "unpublish_own", sid=connection.sid, stream_id=str(data.get("stream_id")))
    return {}


@handler("subscribe")
def subscribe(data: dict) -> dict:
    connection, room, _member = _context()
    service = media_service()
    connection.count_offer(service.settings.offer_burst, service.settings.offer_window_s)
    stream_id = str(data.get("stream_id") or "")
    return service.call(room.id, "subscribe", sid=connection.sid, stream_id=stream_id)


@handler("answer")
def answer(data: dict) -> dict:
    connection, room, _member = _context()
    service = media_service()
    sdp_checks.check_viewer_answer(data.get("sdp"), data.get("type"), service.settings.max_sdp_bytes)
    pc_id = str(data.get("pc_id") or "")
    service.call(room.id, "accept_answer", sid=connection.sid, pc_id=pc_id, sdp=data["sdp"])
    return {}


@handler("unsubscribe")
def unsubscribe(data: dict) -> dict:
    connection, room, _member = _context()
    media_service().call(room.id, "unsubscribe_own", sid=connection.sid, pc_id=str(data.get("pc_id")))
    return {}


@handler("mute")
def mute(data: dict) -> dict:
    return _set_muted(data, True)


@handler("unmute")
def unmute(data: dict) -> dict:
    return _set_muted(data, False)


def _set_muted(data: dict, muted: bool) -> dict:
    """Mute (anyone themselves, the chair or host anyone: forced) or unmute (only oneself): kept on the roster,
    applied to the live media, told to the room."""
    _connection, room, actor = _context()
    target = _target(room, data.get("user_id", actor.user_id))
    kind = data.get("kind", "audio")
    (ops.mute if muted else ops.unmute)(room, actor, target, kind)
    db.session.commit()
    media_service().call(room.id, "set_muted", user_id=target.user_id, kind=kind, muted=muted)
    _emit_room(room.id, "muted", {"user_id": target.user_id, "kind": kind, "muted": muted,
                                  "forced": muted and actor.id != target.id, "by": actor.user_id})
    return {}


@handler("remove")
def remove(data: dict) -> dict:
    _connection, room, actor = _context()
    target = _target(room, data.get("user_id"))
    ops.remove_member(room, actor, target, str(data.get("reason") or ""))
    db.session.commit()
    service = media_service()
    for sid in service.presence.sids_of(room.id, target.user_id):
        socketio.emit("removed", {"by": actor.user_id}, to=sid, namespace=NAMESPACE)
        socketio.start_background_task(socketio.server.disconnect, sid, namespace=NAMESPACE)
    _broadcast_presence(room)
    return {}


@handler("lock")
def lock(data: dict) -> dict:
    _connection, room, actor = _context()
    ops.set_locked(room, actor, bool(data.get("locked", True)))
    db.session.commit()
    _broadcast_presence(room)
    return {"locked": room.locked}


def _target(room: MediaRoom, user_id) -> RoomMember:
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise ValidationError("缺少参会人编号 (user_id missing)", field="user_id") from None
    member = next((m for m in room.members if m.user_id == user_id), None)
    if member is None:
        raise NotFound("该用户不在名单中 (that user is not on the roster)", field="user_id", code="not_on_roster")
    return member


def _user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def _roster(room: MediaRoom) -> list[dict]:
    present = media_service().presence.present_users(room.id)
    return [{**m.as_json(), "present": m.user_id in present, "muted": m.muted} for m in room.members]


def _broadcast_presence(room: MediaRoom) -> None:
    _emit_room(room.id, "roster", {"members": _roster(room), "locked": room.locked})


def _emit_room(room_id: int, event: str, data: dict) -> None:
    socketio.emit(event, data, to=room_channel(room_id), namespace=NAMESPACE)
