"""The evaluation room over Socket.IO: join the room, get one's own view of it, and the recorded chat.

Changes themselves go through the JSON API (evaluation.evaluation_api), which pushes ``evaluation_changed`` to
the room; each page then asks for the state it may see (``evaluation_state``). Every handler checks access,
commits at most once and always releases its database session (request teardown never runs for sockets).
"""
from __future__ import annotations

from flask import g
from flask_login import current_user
from flask_socketio import join_room

from core.db import db
from core.errors import DomainError, Forbidden, NotFound
from core.extensions import socketio
from core.permissions import _second_factor_ok
from evaluation.clarification_operations import post_message
from evaluation.evaluation_models import Evaluation
from evaluation.room_state import chat_json, committee_room, room, state_for


def _handle(work):
    g.pop("_login_user", None)  # each event loads its user from the session afresh
    try:
        return work()
    except DomainError as exc:
        db.session.rollback()
        return {"ok": False, **exc.to_json()}
    finally:
        db.session.remove()


def _evaluation(data) -> Evaluation:
    if not current_user.is_authenticated or not _second_factor_ok():
        raise Forbidden("请先登录 (sign in first)", code="unauthorized")
    try:
        evaluation = db.session.get(Evaluation, int((data or {}).get("evaluation_id", 0)))
    except (TypeError, ValueError):
        evaluation = None
    if evaluation is None or not evaluation.can_view(current_user):
        raise NotFound("没有这个评标室 (no such evaluation room)")
    return evaluation


@socketio.on("join_evaluation")
def join_evaluation(data):
    def work():
        evaluation = _evaluation(data)
        join_room(room(evaluation.id))
        if evaluation.sees_names(current_user):
            join_room(committee_room(evaluation.id))
        return {"ok": True, "state": state_for(evaluation, current_user)}

    return _handle(work)


@socketio.on("evaluation_state")
def evaluation_state(data):
    return _handle(lambda: {"ok": True, "state": state_for(_evaluation(data), current_user)})


@socketio.on("evaluation_chat")
def evaluation_chat(data):
    def work():
        evaluation = _evaluation(data)
        message = post_message(evaluation, current_user, str((data or {}).get("text", "")))
        db.session.commit()
        payload = chat_json(message, True)
        socketio.emit("evaluation_chat", payload, to=committee_room(evaluation.id))
        return {"ok": True, "message": payload}

    return _handle(work)
