"""The opening hall over Socket.IO: join the hall's rooms, sign in and decrypt live.

Each handler checks access, calls one operation, commits once, broadcasts, and always releases its database
session (request teardown never runs in socket handlers).
"""
from __future__ import annotations

from flask import current_app, g, request
from flask_login import current_user
from flask_socketio import join_room

from core.db import db
from core.errors import DomainError
from core.extensions import socketio
from trading import opening_operations as ops
from trading.hall_state import broadcast, may_enter, room_bidders, room_org, room_staff, sees_whole_hall, state_for
from trading.models import Section
from trading.opening import BidDecryption, Opening


def _handle(work):
    g.pop("_login_user", None)  # each event loads its user from the session afresh
    try:
        return work()
    except DomainError as exc:
        db.session.rollback()
        return {"ok": False, **exc.to_json()}
    except Exception:  # noqa: BLE001 - the client must always get an answer it can show; the cause is logged
        db.session.rollback()
        current_app.logger.exception("opening hall event failed")
        return {"ok": False, "error": {"code": "server_error",
                                       "message": "服务器暂时无法处理，请重试 (the server could not handle this; try again)"}}
    finally:
        db.session.remove()


@socketio.on("join_hall")
def join_hall(data):
    def work():
        if not current_user.is_authenticated:
            return {"ok": False, "error": {"code": "unauthorized", "message": "请先登录 (sign in first)"}}
        section = db.session.get(Section, int((data or {}).get("section_id", 0)))
        if section is None:
            return {"ok": False, "error": {"code": "not_found", "message": "没有这个标段 (no such section)"}}
        opening = ops.hall_for(section)
        db.session.commit()
        if not may_enter(opening, current_user):
            return {"ok": False, "error": {"code": "forbidden", "message": "您不是本次开标的参与方 (not a party)"}}
        if sees_whole_hall(opening, current_user):
            join_room(room_staff(section.id))
        else:
            join_room(room_org(section.id, current_user.organisation_id))
            join_room(room_bidders(section.id))
        # a client that joins late or reconnects gets the full current state at once
        return {"ok": True, "state": state_for(opening, current_user)}

    return _handle(work)


@socketio.on("sign_in")
def sign_in(data):
    def work():
        opening = _opening(data)
        entry = ops.sign_in(opening, current_user, challenge=str(data.get("challenge", "")),
                            signature=str(data.get("signature", "")), certificate_pem=str(data.get("certificate", "")),
                            ip=request.remote_addr)
        db.session.commit()
        broadcast(opening, changed_for=current_user.organisation_id)
        return {"ok": True, "signed_in_at": entry.at.isoformat()}

    return _handle(work)


@socketio.on("challenge")
def challenge(data):
    def work():
        opening = _opening(data)
        value = ops.new_sign_in_challenge(opening)
        db.session.commit()
        return {"ok": True, "challenge": value}

    return _handle(work)


@socketio.on("decrypt")
def decrypt(data):
    def work():
        decryption = db.session.scalar(db.select(BidDecryption).where(BidDecryption.bid_id == int(data.get("bid", 0))))
        if decryption is None:
            return {"ok": False, "error": {"code": "not_found", "message": "没有这份投标文件 (no such bid)"}}
        opening = db.session.get(Opening, decryption.opening_id)
        ops.decrypt(decryption, current_user, str(data.get("content_key", "")), request.remote_addr)
        db.session.commit()
        broadcast(opening, changed_for=current_user.organisation_id)
        return {"ok": True, "state": decryption.state.value, "error": decryption.last_error}

    return _handle(work)


def _opening(data) -> Opening:
    from core.errors import Forbidden, NotFound

    if not current_user.is_authenticated:
        raise Forbidden("请先登录 (sign in first)")
    section = db.session.get(Section, int((data or {}).get("section_id", 0)))
    if section is None:
        raise NotFound("没有这个标段 (no such section)")
    opening = ops.hall_for(section)
    if not may_enter(opening, current_user):
        raise Forbidden("您不是本次开标的参与方 (not a party to this opening)")
    return opening
