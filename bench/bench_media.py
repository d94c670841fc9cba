"""The evaluation room's SFU under a full committee: 7 experts publishing 640×360 at 15 fps, 3 supervisors.

    .venv/bin/python bench/bench_media.py [--seconds 15]

The server is the real application (``wsgi``, Flask-SocketIO in threading mode, aiortc on its loop thread)
in its own process on 127.0.0.1; the participants are synthetic aiortc clients in this process, speaking the
real Socket.IO signalling. So that this 2-core machine measures the server and not the clients:
- each publisher sends a pre-encoded VP8 clip (640×360, 15 fps, 600 kb/s) and a live Opus tone, so the
  server does its real work (decode, scale, one VP8 + one Opus encode per publisher, packetise and SRTP per
  viewer, record);
- viewers count the complete frames their jitter buffers assemble, without decoding them.
Two phases: publishers only (decode + encode + record), then every expert and supervisor watching (the
fan-out: 7×6 + 3×7 = 63 video and 63 audio consumers). Server CPU is read from /proc for its process.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXPERTS, SUPERVISORS = 7, 3
PASSWORD = "bench-password-123"
MEDIASOUP_CONSUMERS_PER_CORE = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def prepare(instance: Path) -> tuple[int, list[tuple[str, str | None]]]:
    """Schema, accounts and the room with its roster, in the bench's own instance folder."""
    import pyotp

    from core import create_app
    from core.account_operations import create_organisation, create_user
    from core.accounts import OrgKind, Role
    from core.db import db
    from core.migrate import upgrade
    from core.validators import make_credit_code
    from evaluation.media import operations as ops

    app = create_app({"settings": {"instance_dir": instance, "database_url": f"sqlite:///{instance / 'bench.sqlite3'}",
                                   "storage_dir": instance / "storage", "secret_key": "bench-" + "k" * 40}})
    logins = []
    with app.app_context():
        import core.all_models  # noqa: F401

        upgrade()
        db.create_all()
        room = ops.create_room(title="性能测试评标室")
        authority = create_organisation(name="性能测试监督部门", kind=OrgKind.SUPERVISORY_AUTHORITY,
                                        credit_code=make_credit_code("11350900MB0000001"), region_code="350902")
        for n in range(EXPERTS + SUPERVISORS):
            supervisor = n >= EXPERTS
            user = create_user(username=f"bench{n}", display_name=f"参会人{n}", password=PASSWORD,
                               role=Role.SUPERVISOR if supervisor else Role.EXPERT,
                               organisation=authority if supervisor else None)
            secret = None
            if supervisor:
                secret = pyotp.random_base32()
                user.enable_totp(secret)
            role = "supervisor" if supervisor else ("chair" if n == 0 else "expert")
            ops.add_member(room, user, role, venue=f"场地{n % 3 + 1}")
            logins.append((user.username, secret))
        db.session.commit()
        return room.id, logins


def start_server(instance: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, BIDHALL_INSTANCE_DIR=str(instance), DATABASE_URL=f"sqlite:///{instance / 'bench.sqlite3'}",
               STORAGE_DIR=str(instance / "storage"), SECRET_KEY="bench-" + "k" * 40, BIDHALL_MEDIA_HOSTS="127.0.0.1",
               PYTHONPATH=str(ROOT))
    code = (f"from wsgi import app, socketio; socketio.run(app, host='127.0.0.1', port={port}, "
            "allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)")
    server = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> tuple[float, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def count_without_decoding() -> None:
    """Viewers count assembled frames instead of decoding them (aiortc picks its decoder per codec)."""
    import aiortc.rtcrtpreceiver as receiver

    class Counting:
        def decode(self, encoded_frame):
            return [encoded_frame]

    receiver.get_decoder = lambda codec: Counting()


async def measure(pid: int, seconds: float, clients: list) -> dict:
    def snapshot():
        return {id(c): {owner: dict(counts) for owner, counts in c.received.items()} for c in clients}

    start_cpu, start_own, start = cpu_seconds(pid), time.process_time(), time.monotonic()
    before = snapshot()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - start
    after = snapshot()
    rates = []
    for client in clients:
        for owner, counts in after[id(client)].items():
            earlier = before[id(client)].get(owner, {"video": 0, "audio": 0})
            rates.append(((counts["video"] - earlier["video"]) / wall, (counts["audio"] - earlier["audio"]) / wall))
    return {"cpu": (cpu_seconds(pid) - start_cpu) / wall, "clients_cpu": (time.process_time() - start_own) / wall,
            "rss": rss_mib(pid), "rates": rates}


async def scenario(base: str, room_id: int, logins, pid: int, seconds: float) -> tuple[dict, dict, list]:
    from evaluation.media.client import LoopedVideoPackets, Participant, ToneTrack, sign_in

    cookies = [sign_in(base, username, PASSWORD, secret) for username, secret in logins]
    experts = [Participant(base, cookie, room_id, subscribe=False) for cookie in cookies[:EXPERTS]]
    supervisors = [Participant(base, cookie, room_id) for cookie in cookies[EXPERTS:]]
    try:
        for expert in experts:
            await expert.join()
            await expert.publish(ToneTrack(), LoopedVideoPackets(640, 360, 15))
        await asyncio.sleep(3)
        alone = await measure(pid, seconds / 2, [])
        for expert in experts:
            expert.auto_subscribe = True
            for info in (await expert.request("hello", {}))["streams"]:
                await expert.subscribe(info)
        for supervisor in supervisors:
            await supervisor.join()
        await asyncio.sleep(4)
        full = await measure(pid, seconds, experts + supervisors)
        per_viewer = [(sum(1 for _ in c.received), {o: dict(v) for o, v in c.received.items()})
                      for c in experts + supervisors]
        return alone, full, per_viewer
    finally:
        for participant in experts + supervisors:
            await participant.leave()


def main() -> None:
    global EXPERTS, SUPERVISORS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window with everyone watching")
    parser.add_argument("--experts", type=int, default=EXPERTS)
    parser.add_argument("--supervisors", type=int, default=SUPERVISORS)
    args = parser.parse_args()
    EXPERTS, SUPERVISORS = args.experts, args.supervisors
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-media-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = None
    try:
        room_id, logins = prepare(instance)
        server = start_server(instance, port)
        count_without_decoding()
        alone, full, viewers = asyncio.run(asyncio.wait_for(
            scenario(f"http://127.0.0.1:{port}", room_id, logins, server.pid, args.seconds), timeout=120))
        time.sleep(2)  # the server seals each recording as its publisher leaves
        encoded = recorded_rates(instance)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(instance, ignore_errors=True)
    report(alone, full, viewers, encoded)


def recorded_rates(instance: Path) -> list[float]:
    """Frames per second the server encoded for each publisher, read back from the sealed recordings."""
    import sqlite3

    with sqlite3.connect(instance / "bench.sqlite3") as connection:
        rows = connection.execute("SELECT video_frames, duration_ms FROM media_recordings WHERE state = 'sealed'").fetchall()
    return [frames / (ms / 1000) for frames, ms in rows if ms]


def report(alone: dict, full: dict, viewers: list, encoded: list[float]) -> None:
    video = [v for v, _a in full["rates"]]
    audio = [a for _v, a in full["rates"]]
    consumers = 2 * (EXPERTS * (EXPERTS - 1) + SUPERVISORS * EXPERTS)
    fanout = max(full["cpu"] - alone["cpu"], 1e-9)
    print(f"one room: {EXPERTS} experts publishing 640x360 @ 15 fps (VP8 600 kb/s + Opus), {SUPERVISORS} supervisors, "
          f"{consumers} consumers ({consumers // 2} video + {consumers // 2} audio)")
    print(f"server, publishers only (decode + scale + encode once + record): {alone['cpu'] * 100:.0f}% of a core, "
          f"RSS {alone['rss'][0]:.0f} MiB")
    print(f"server, everyone watching: {full['cpu'] * 100:.0f}% of a core, RSS {full['rss'][0]:.0f} MiB "
          f"(peak {full['rss'][1]:.0f} MiB); the synthetic clients used {full['clients_cpu'] * 100:.0f}%")
    print(f"per publisher: {alone['cpu'] / EXPERTS * 100:.1f}% of a core; per consumer (fan-out): "
          f"{fanout / consumers * 100:.2f}% of a core")
    print(f"frames each viewer receives per remote stream: video {min(video):.1f}–{max(video):.1f} fps "
          f"(mean {sum(video) / len(video):.1f}), audio {min(audio):.1f}–{max(audio):.1f} packets/s over "
          f"{len(video)} viewer×stream pairs")
    if encoded:
        print(f"frames the server encoded per publisher (from the {len(encoded)} sealed recordings): "
              f"{min(encoded):.1f}–{max(encoded):.1f} fps")
    for index, (streams, _counts) in enumerate(viewers):
        role = "supervisor" if index >= EXPERTS else "expert"
        print(f"  viewer {index} ({role}) receives {streams} streams")
    print(f"rooms like this one core sustains: {1 / full['cpu']:.2f}")
    print(f"consumers per core: {consumers / full['cpu']:.0f} with the publishers' encoding included, "
          f"{consumers / fanout:.0f} for the fan-out alone (mediasoup states ~{MEDIASOUP_CONSUMERS_PER_CORE})")


if __name__ == "__main__":
    main()
