"""The room page and the supervisors' playback page with its timeline; who may see what."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from core.accounts import Role
from core.db import db
from evaluation.media import operations as ops
from evaluation.media.encoding import StreamClock, VideoPipeline
from evaluation.media.models import MediaRoom
from evaluation.media.recording import StreamRecorder
from tests.media.conftest import user


def _sealed_recording(app, room_id: int, user_id: int):
    """A real two-second recording made by the same pipeline and recorder the SFU uses."""
    info = {"stream_id": "feedfacefeedface", "user_id": user_id, "kind": "camera"}
    key = f"recordings/room-{room_id}/{user_id}-camera-{info['stream_id']}.webm"
    recording = ops.start_recording(room_id, info, key)
    pipeline = VideoPipeline(StreamClock(), (640, 360), 600_000, 1.0)
    recorder = StreamRecorder(Path(app.config["STORAGE_DIR"]) / key, video_size=(640, 360), audio=False)
    for n in range(30):
        frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), n * 8, np.uint8), format="rgb24")
        for packet in pipeline.encode(frame):
            packet.pts = n * 6000  # 15 fps on the 90 kHz clock, independent of how fast this loop runs
            recorder.write("video", packet)
    result = recorder.close()
    ops.seal_recording(info["stream_id"], sha256=result.sha256, size=result.size, duration_ms=result.duration_ms,
                       video_frames=result.video_frames, audio_packets=result.audio_packets)
    db.session.commit()
    return recording


def test_the_room_page_shows_the_indicator_and_the_seat(app, client, factory, room_world):
    room_id, seats = room_world
    factory.login(client, user(seats["expert"].user_id))
    page = client.get(f"/media/rooms/{room_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "录音录像 · 监督中" in html and "recorded and observed" in html and "厦门副场" in html
    assert "media_room.js" in html and '"can_publish": true' in html.replace("&#34;", '"')
    assert client.get(f"/media/rooms/{room_id}/recordings").status_code == 403  # experts do not review


def test_off_the_roster_the_room_does_not_exist(app, factory, room_world):
    room_id, seats = room_world
    for account in (user(seats["outsider"].user_id), factory.user(Role.SUPERVISOR)):
        client = app.test_client()
        factory.login(client, account)
        assert client.get(f"/media/rooms/{room_id}").status_code == 404
        if account.role is Role.SUPERVISOR:
            assert client.get(f"/media/rooms/{room_id}/recordings").status_code == 404


def test_a_supervisor_plays_the_recordings_back_against_the_timeline(app, client, factory, room_world):
    room_id, seats = room_world
    recording = _sealed_recording(app, room_id, seats["expert"].user_id)
    room = db.session.get(MediaRoom, room_id)
    ops.append_timeline(room, "stage", label="进入详细评审阶段 (detailed review)", stage="detailed")
    db.session.commit()
    factory.login(client, user(seats["supervisor"].user_id))
    page = client.get(f"/media/rooms/{room_id}/recordings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/media/recordings/{recording.id}/file" in html and recording.sha256 in html
    assert "进入详细评审阶段" in html and "评标阶段" in html and "开始发布" in html and 'data-at="' in html
    whole = client.get(f"/media/recordings/{recording.id}/file")
    assert whole.status_code == 200 and whole.mimetype == "video/webm"
    part = client.get(f"/media/recordings/{recording.id}/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100
    assert recording.video_frames == 30 and 1900 <= recording.duration_ms <= 1940  # 29 frame intervals at 15 fps
