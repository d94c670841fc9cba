"""Media workers: with BIDHALL_MEDIA_WORKERS=redis the web process only signals, and a room's audio and video
run in a media worker process of its own, reached through Redis.

Three processes, as in production: the web server (core.serve), a media worker (`flask media worker`) and
this test, which plays the participants with aiortc. They share a SQLite file, a storage folder and a Redis
namespace of their own. Skipped where Redis is not running (it runs on developer and CI machines).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import redis
import requests

from evaluation.media.client import MovingBarTrack, Participant, Refused, ToneTrack
from evaluation.media.models import MemberRole
from tests.core.test_message_queue import REDIS_URL, _free_port, _redis_up
from tests.media.conftest import Seat, run, sign_in, until

pytestmark = pytest.mark.skipif(not _redis_up(), reason="Redis is not reachable (it runs on developer and CI machines)")

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import json
from wsgi import app
from core.accounts import Role
from core.db import db
from evaluation.media import operations as ops
from evaluation.media.models import MemberRole
from tests.factories import Factory

with app.app_context():
    factory = Factory(app)
    people = {"chair": factory.user(Role.EXPERT), "expert": factory.user(Role.EXPERT),
              "supervisor": factory.user(Role.SUPERVISOR)}
    room = ops.create_room(title="worker room")
    ops.add_member(room, people["chair"], MemberRole.CHAIR, venue="main")
    ops.add_member(room, people["expert"], MemberRole.EXPERT, venue="second")
    ops.add_member(room, people["supervisor"], MemberRole.SUPERVISOR, venue="main")
    db.session.commit()
    print(json.dumps({"room": room.id, "seats": {name: [u.id, u.username, u.totp_secret()]
                                                 for name, u in people.items()}}))
"""

RECORDINGS = """
import json, sys
from wsgi import app
from core.audit import AuditEvent
from core.db import db
from evaluation.media.models import Recording
from evaluation.media.verify import verify_recordings

with app.app_context():
    rows = db.session.scalars(db.select(Recording)).all()
    report = verify_recordings(None)
    sealed = {e.object_id: json.loads(e.data).get("interrupted") for e in db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "media.recording_sealed"))}
    print(json.dumps({"ok": report.ok, "recordings": [
        {"user": r.user_id, "state": r.state.value, "key": r.key, "frames": r.video_frames,
         "interrupted": sealed.get(str(r.id))} for r in rows]}))
"""


@pytest.fixture()
def deployment(tmp_path):
    port = _free_port()
    namespace = f"bidhall-test-{secrets.token_hex(4)}"
    env = dict(os.environ, REDIS_URL=REDIS_URL, BIDHALL_INSTANCE_DIR=str(tmp_path), BIDHALL_PORT=str(port),
               BIDHALL_MEDIA_WORKERS="redis", BIDHALL_REDIS_NAMESPACE=namespace, BIDHALL_MEDIA_LEASE="2",
               PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)

    def python(code: str) -> dict:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                              text=True, timeout=60)
        return json.loads(done.stdout.strip().splitlines()[-1])

    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    world = python(SETUP)
    web = subprocess.Popen([sys.executable, "-m", "core.serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    processes = {"web": web}

    def start_worker() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(processes)}.log", "w")  # noqa: SIM115  (closed with the process)
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "media", "worker", "--rooms", "1"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes[f"worker-{len(processes)}"] = worker
        return worker

    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(f"{url}/api/v1/time", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    seats = {name: Seat(user_id, username, MemberRole.EXPERT, totp)
             for name, (user_id, username, totp) in world["seats"].items()}
    try:
        yield {"url": url, "room": world["room"], "namespace": namespace, "seats": seats, "start_worker": start_worker,
               "recordings": lambda: python(RECORDINGS), "storage": tmp_path / "storage", "tmp": tmp_path}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_room_runs_in_a_media_worker_process_and_its_recordings_are_sealed(deployment):
    url, room_id, seats = deployment["url"], deployment["room"], deployment["seats"]
    cookies = {name: sign_in(url, seats[name]) for name in ("chair", "expert", "supervisor")}
    chair_id, expert_id = seats["chair"].user_id, seats["expert"].user_id

    async def without_worker():
        chair = Participant(url, cookies["chair"], room_id)
        try:
            await chair.join()
        except Refused as refused:
            return refused.code
        finally:
            await chair.leave()

    assert run(without_worker()) == "media_worker_unavailable"  # refused at once, with a reason

    worker = _started(deployment)

    async def scenario():
        chair = Participant(url, cookies["chair"], room_id)
        expert = Participant(url, cookies["expert"], room_id)
        supervisor = Participant(url, cookies["supervisor"], room_id)
        try:
            await chair.join()
            await chair.publish(ToneTrack(), MovingBarTrack())
            await expert.join()
            await expert.publish(ToneTrack(), MovingBarTrack())
            await supervisor.join()
            await until(lambda: all(p.received[o]["video"] >= 10 and p.received[o]["audio"] >= 20
                                    for p, o in ((chair, expert_id), (expert, chair_id),
                                                 (supervisor, chair_id), (supervisor, expert_id))), timeout=30)
            refused = None
            try:
                await supervisor.publish(ToneTrack(), MovingBarTrack())
            except Refused as exc:
                refused = exc.code
            return refused
        finally:
            for p in (chair, expert, supervisor):
                await p.leave()

    assert run(scenario(), timeout=90) == "receive_only"
    worker.send_signal(signal.SIGTERM)  # a worker stopping seals what it still holds
    worker.wait(30)
    state = {}
    for _ in range(50):
        state = deployment["recordings"]()
        if len(state["recordings"]) >= 2 and all(r["state"] == "sealed" for r in state["recordings"]):
            break
        time.sleep(0.2)
    assert state["ok"], state
    assert sorted(r["user"] for r in state["recordings"]) == sorted([chair_id, expert_id])
    for recording in state["recordings"]:
        with av.open(str(deployment["storage"] / recording["key"])) as container:
            assert sum(1 for _ in container.decode(video=0)) == recording["frames"] > 0
    log = "".join(p.read_text() for p in deployment["tmp"].glob("worker-*.log"))
    assert f"room {room_id} taken" in log


def _started(deployment) -> subprocess.Popen:
    """A new media worker, once it has registered itself in Redis."""
    registry = redis.Redis.from_url(REDIS_URL)
    known = set(registry.keys(f"{deployment['namespace']}:media:worker:*"))
    worker = deployment["start_worker"]()
    for _ in range(200):
        if set(registry.keys(f"{deployment['namespace']}:media:worker:*")) - known:
            return worker
        time.sleep(0.1)
    raise AssertionError("the media worker never registered")


def test_when_a_worker_dies_another_takes_its_rooms(deployment):
    """A worker killed outright (no chance to hand over): once its lease lapses the next worker takes the room,
    and participants who reconnect, as the page does when its peer connections fail, see each other again."""
    url, room_id, seats = deployment["url"], deployment["room"], deployment["seats"]
    cookies = {name: sign_in(url, seats[name]) for name in ("chair", "expert")}
    chair_id = seats["chair"].user_id
    first = _started(deployment)

    async def scenario():
        import asyncio

        chair = Participant(url, cookies["chair"], room_id)
        expert = Participant(url, cookies["expert"], room_id)
        chair_again = Participant(url, cookies["chair"], room_id)
        expert_again = Participant(url, cookies["expert"], room_id)
        try:
            await chair.join()
            await chair.publish(ToneTrack(), MovingBarTrack())
            await expert.join()
            await until(lambda: expert.received[chair_id]["video"] >= 40, timeout=20)
            first.kill()
            await asyncio.to_thread(first.wait)
            await asyncio.to_thread(_started, deployment)
            await expert_again.join()  # answered once the dead worker's lease lapses
            # the new worker found the dead one's open recording: the pages are told to rebuild at once
            await until(lambda: ("media_reset", {"room_id": room_id}) in expert_again.events)
            await chair_again.join()
            await chair_again.publish(ToneTrack(), MovingBarTrack())
            await until(lambda: expert_again.received[chair_id]["video"] >= 5, timeout=30)
        finally:
            for p in (chair, expert, chair_again, expert_again):
                await p.leave()

    run(scenario(), timeout=90)
    log = "".join(p.read_text() for p in deployment["tmp"].glob("worker-*.log"))
    assert log.count(f"room {room_id} taken") == 2
    # the file the killed worker left open was sealed, as it stands, by the worker that took the room over
    state = deployment["recordings"]()
    first_file = next(r for r in state["recordings"] if r["user"] == chair_id)
    assert first_file["state"] == "sealed" and first_file["interrupted"]
    assert first_file["frames"] >= 15  # all but the last second of what the viewer saw
    with av.open(str(deployment["storage"] / first_file["key"])) as container:
        assert sum(1 for _ in container.demux(video=0) if _.size) >= first_file["frames"]
