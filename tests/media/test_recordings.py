"""Recordings: one WebM per participant per stream, decodable, the right length, through a resolution change,
sealed with their SHA-256 in the audit chain, and verification fails when a file is altered."""
from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import av
import sqlalchemy as sa

from core.audit import AuditEvent, verify_chain
from core.db import db
from evaluation.media.client import MovingBarTrack, Participant, ToneTrack
from evaluation.media.verify import verify_recordings
from tests.media.conftest import run, sealed_recordings, sign_in, until

SECONDS = 3.0


def _record(live_server, room_id, seats, *, resize: bool):
    cookies = {name: sign_in(live_server, seats[name]) for name in ("chair", "expert")}

    async def scenario():
        chair = Participant(live_server, cookies["chair"], room_id)
        expert = Participant(live_server, cookies["expert"], room_id)
        camera = MovingBarTrack(320, 240)
        try:
            await chair.join()
            await expert.join()
            await chair.publish(ToneTrack(), camera)
            await until(lambda: expert.received[seats["chair"].user_id]["video"] >= 1)
            await asyncio.sleep(SECONDS / 2)
            if resize:
                camera.size = (1280, 720)  # the browser switches resolution mid-call
            await asyncio.sleep(SECONDS / 2)
            return expert.received[seats["chair"].user_id]["video"]
        finally:
            await chair.leave()
            await expert.leave()

    return run(scenario())


def test_a_recording_decodes_has_the_expected_duration_and_survives_a_resolution_change(
        app, room_world, live_server, release):
    room_id, seats = room_world
    release()
    seen = _record(live_server, room_id, seats, resize=True)
    assert seen > 0
    [recording] = sealed_recordings(room_id, 1)
    path = Path(app.config["STORAGE_DIR"]) / recording.key
    assert recording.user_id == seats["chair"].user_id and recording.stream_kind == "camera"
    with av.open(str(path)) as container:
        video = [f for f in container.decode(video=0)]
        container.seek(0)
        audio = [f for f in container.decode(audio=0)]
    assert {(f.width, f.height) for f in video} == {(640, 360)}
    timestamps = [float(f.time) for f in video]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)
    video_span = timestamps[-1] - timestamps[0]
    audio_span = sum(f.samples for f in audio) / 48000
    # recorded from the first keyframe until the publisher left: about SECONDS of media, no more
    assert SECONDS - 1.0 < video_span < SECONDS + 1.0
    assert SECONDS - 1.0 < audio_span < SECONDS + 1.0
    # frames both before and after the switch were recorded (a recorder fixed at the first size dies here)
    assert len(video) >= 12 * (SECONDS - 1.0)
    late = [f for f in video if float(f.time) > timestamps[0] + SECONDS / 2 + 0.3]
    assert len(late) >= 5
    assert recording.video_frames == len(video)
    assert abs(recording.duration_ms / 1000 - video_span) < 0.5


def test_the_audit_chain_holds_each_hash_and_verification_fails_when_a_file_is_altered(
        app, room_world, live_server, release, runner):
    room_id, seats = room_world
    release()
    _record(live_server, room_id, seats, resize=False)
    [recording] = sealed_recordings(room_id, 1)
    path = Path(app.config["STORAGE_DIR"]) / recording.key
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "media.recording_sealed",
                                                          AuditEvent.object_id == str(recording.id)))
    assert json.loads(event.data)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == recording.sha256
    assert verify_chain().ok
    assert verify_recordings(room_id).ok
    ok = runner.invoke(args=["media", "verify-recordings"])
    assert ok.exit_code == 0 and "recordings OK: 1" in ok.output

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped in the middle of the media
    path.write_bytes(bytes(data))
    report = verify_recordings(room_id)
    assert not report.ok and "altered" in report.problems[0]
    broken = runner.invoke(args=["media", "verify-recordings"])
    assert broken.exit_code == 1 and "file was altered" in broken.output

    path.unlink()
    assert "missing" in verify_recordings(room_id).problems[0]


def test_a_stream_that_ends_before_its_first_keyframe_still_closes_to_a_sealable_file(tmp_path):
    """A share stopped within its first second: nothing reached the muxer, and closing must not fail (it used to,
    leaving that connection's other streams open and unsealed)."""
    import hashlib

    from evaluation.media.recording import StreamRecorder

    path = tmp_path / "room-1" / "7-screen-abc.webm"
    result = StreamRecorder(path, video_size=(1280, 720), audio=False).close()
    assert path.exists() and result.size == 0 and result.video_frames == 0 and result.duration_ms == 0
    assert result.sha256 == hashlib.sha256(b"").hexdigest()
