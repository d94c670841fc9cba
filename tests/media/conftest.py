"""Media fixtures: a room with its roster, the live server with Socket.IO, signed-in session cookies.

The live server is the Werkzeug server of tests/conftest.py; Flask-SocketIO (threading mode) serves the
Socket.IO websocket through it, and the media loop runs beside it in this process. Every address is
127.0.0.1 (BIDHALL_MEDIA_HOSTS defaults to loopback; ICE servers are empty).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from core.accounts import Role, User
from core.db import db
from evaluation.media import client
from evaluation.media import operations as ops
from evaluation.media.models import MemberRole, Recording, RecordingState
from tests.factories import PASSWORD


@dataclass
class Seat:
    user_id: int
    username: str
    role: MemberRole
    totp: str | None


@pytest.fixture()
def room_world(app, factory):
    """A room with two experts (one is the chair), a venue staff member, a supervisor and an outsider."""
    chair = factory.user(Role.EXPERT)
    expert = factory.user(Role.EXPERT)
    supervisor = factory.user(Role.SUPERVISOR)
    outsider = factory.user(Role.EXPERT)
    room = ops.create_room(title="第1标段远程异地评标")
    ops.add_member(room, chair, MemberRole.CHAIR, venue="福州主场")
    ops.add_member(room, expert, MemberRole.EXPERT, venue="厦门副场")
    ops.add_member(room, supervisor, MemberRole.SUPERVISOR, venue="福州主场")
    db.session.commit()
    seats = {name: Seat(u.id, u.username, m, u.totp_secret()) for name, u, m in (
        ("chair", chair, MemberRole.CHAIR), ("expert", expert, MemberRole.EXPERT),
        ("supervisor", supervisor, MemberRole.SUPERVISOR), ("outsider", outsider, MemberRole.EXPERT))}
    room_id = room.id
    db.session.commit()
    db.session.remove()
    return room_id, seats


def sign_in(base_url: str, seat: Seat) -> str:
    """Sign in over HTTP like a browser; returns the Cookie header the Socket.IO handshake carries."""
    return client.sign_in(base_url, seat.username, PASSWORD, seat.totp)


def run(coro, timeout: float = 45):
    """Run a client scenario on its own loop in its own thread.

    The main thread may already run an event loop (Playwright's sync API does, for the browser tests in the
    same session), and asyncio.run refuses to nest.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()


async def until(condition, timeout: float = 15, step: float = 0.1) -> None:
    """Wait for a condition of the media (not a timing assertion: it fails only if it never happens)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(step)


def sealed_recordings(room_id: int, expected: int, timeout: float = 15) -> list[Recording]:
    deadline = time.monotonic() + timeout
    while True:
        rows = db.session.scalars(sa.select(Recording).where(Recording.room_id == room_id,
                                                             Recording.state == RecordingState.SEALED)).all()
        if len(rows) >= expected or time.monotonic() > deadline:
            db.session.commit()
            return rows
        db.session.commit()
        time.sleep(0.2)


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


@pytest.fixture(autouse=True)
def _media_rooms_closed(app, real_socketio_server):
    """Room ids restart after the wipe between tests: no room's live media may outlive its test."""
    yield
    app.extensions["bidhall_media"].shutdown()


#: What Flask-SocketIO's test client patches on the one global Socket.IO server, and never restores.
_TEST_CLIENT_PATCHES = ("_send_packet", "_send_eio_packet")


def _unpatch_socketio() -> None:
    from core.extensions import socketio

    server = socketio.server
    for name in _TEST_CLIENT_PATCHES:
        server.__dict__.pop(name, None)
    server.async_handlers = True


@pytest.fixture()
def real_socketio_server():
    """Real clients need the real server: after a Flask-SocketIO test client, its packets go nowhere else."""
    _unpatch_socketio()
    yield
    _unpatch_socketio()
