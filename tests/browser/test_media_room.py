"""The evaluation room in Chromium with fake camera and microphone: two experts publish, a supervisor watches.

The supervisor's page must receive and decode video from both experts (asserted with getStats()), while
publishing nothing; the experts see the recorded-and-observed indicator. An expert shares a screen: with
--use-fake-ui-for-media-stream and --use-fake-device-for-media-stream (conftest.CHROMIUM_ARGS), headless
Chromium answers getDisplayMedia() without a picker from its own fake display-capture device (1280×720).
A page whose connection drops, or told that the room's media process died, builds its peer connections anew.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import av
import sqlalchemy as sa

from core.audit import AuditEvent
from core.db import db
from core.extensions import socketio
from evaluation.media.service import NAMESPACE, room_channel
from tests.media.conftest import real_socketio_server, room_world  # noqa: F401  (fixtures)
from tests.browser.sealing_pages import sign_in

STATS = """async () => {
  const media = window.bidhallMedia;
  if (!media) { return {}; }
  const decoded = {};
  for (const sub of Object.values(media.subscriptions)) {
    const stats = await sub.pc.getStats();
    stats.forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "video" && report.framesDecoded > 0) {
        decoded[sub.info.user_id] = (decoded[sub.info.user_id] || 0) + report.framesDecoded;
      }
    });
  }
  return {decoded, published: Object.keys(media.published).length};
}"""


STREAMS = "() => Object.values(window.bidhallMedia.subscriptions).map((sub) => sub.info.stream_id)"


def _decoding(page, user_ids, frames: int = 10, timeout: float = 30) -> dict:
    """Poll getStats() until every user's video has decoded ``frames`` frames (fails only if it never does)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = page.evaluate(STATS)
        decoded = {int(k): v for k, v in (stats.get("decoded") or {}).items()}
        if all(decoded.get(user_id, 0) > frames for user_id in user_ids):
            return {**stats, "decoded": decoded}
        assert time.monotonic() < deadline, f"video not decoded: {decoded} {_debug(page)}"
        page.wait_for_timeout(500)


def _debug(page):
    return page.inner_text("[data-media-room]")[:300] + page.evaluate(
        "() => Object.keys(window.bidhallMedia.subscriptions).length + ' subs, published ' + Object.keys(window.bidhallMedia.published).length")


def _enter(new_page, seat, room_id):
    page = new_page()
    page.errors = []  # uncaught errors and unhandled rejections of the page's scripts
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    sign_in(page, seat.username, totp_secret=seat.totp)
    page.goto(f"/media/rooms/{room_id}")
    return page


def test_the_supervisor_receives_video_from_both_experts(room_world, real_socketio_server, new_page,  # noqa: F811
                                                         release):
    room_id, seats = room_world
    release()
    chair = _enter(new_page, seats["chair"], room_id)
    expert = _enter(new_page, seats["expert"], room_id)
    supervisor = _enter(new_page, seats["supervisor"], room_id)
    assert "录音录像 · 监督中" in expert.locator(".media-recorded").inner_text()
    assert "recorded and observed" in chair.locator(".media-recorded").inner_text()
    experts = [seats["chair"].user_id, seats["expert"].user_id]
    stats = _decoding(supervisor, experts)
    assert stats["published"] == 0  # receive-only
    assert set(stats["decoded"]) == set(experts)
    # each expert sees the other one too, and publishes its own camera
    for page, other in ((chair, experts[1]), (expert, experts[0])):
        assert _decoding(page, [other])["published"] == 1
    # the supervisor's grid shows every participant on the roster
    assert supervisor.locator("[data-media-grid] figure").count() == 3

    # the expert's connection drops: the client reconnects by itself, publishes anew, and is watched again
    before = supervisor.evaluate(STREAMS)
    expert.evaluate("() => window.bidhallMedia.socket.io.engine.close()")
    deadline = time.monotonic() + 30
    while not set(supervisor.evaluate(STREAMS)) - set(before):
        assert time.monotonic() < deadline, f"not resubscribed: {before} {_debug(supervisor)}"
        supervisor.wait_for_timeout(200)
    assert _decoding(supervisor, experts)["decoded"][experts[1]] > 0
    assert _decoding(expert, [experts[0]])["published"] == 1  # and the expert watches the chair again

    # the process holding the room's media died (media_reset): every page builds its peer connections anew
    before = supervisor.evaluate(STREAMS)
    socketio.emit("media_reset", {"room_id": room_id}, to=room_channel(room_id), namespace=NAMESPACE)
    deadline = time.monotonic() + 30
    while len(set(supervisor.evaluate(STREAMS)) - set(before)) < 2:
        assert time.monotonic() < deadline, f"not rebuilt: {before} {_debug(supervisor)}"
        supervisor.wait_for_timeout(200)
    assert _decoding(supervisor, experts)["published"] == 0
    assert not (chair.errors or expert.errors or supervisor.errors)
    assert all(page.locator("[data-media-error]").is_hidden() for page in (chair, expert, supervisor)), [
        page.locator("[data-media-error]").inner_text() for page in (chair, expert, supervisor)]

    # the chair enters again from another page: the newest connection wins and the old page stays out
    again = _enter(new_page, seats["chair"], room_id)
    chair.locator("[data-media-error]").filter(has_text="另一个页面").wait_for()
    assert _decoding(again, [experts[1]])["published"] == 1
    assert again.locator("[data-media-status]").get_attribute("data-state") == "online"
    assert chair.evaluate("() => window.bidhallMedia.socket.active") is False


SCREENS = """async () => {
  const media = window.bidhallMedia;
  const screens = [];
  for (const sub of Object.values(media.subscriptions)) {
    if (sub.info.kind !== "screen") { continue; }
    const stats = await sub.pc.getStats();
    stats.forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "video") {
        screens.push({user_id: sub.info.user_id, frames: report.framesDecoded || 0,
                      width: report.frameWidth || 0, height: report.frameHeight || 0});
      }
    });
  }
  return screens;
}"""


def _screen_decoded(page, user_id: int, frames: int = 5, timeout: float = 30) -> dict:
    """Poll getStats() until the screen stream of ``user_id`` has decoded ``frames`` frames."""
    deadline = time.monotonic() + timeout
    while True:
        screens = [s for s in page.evaluate(SCREENS) if s["user_id"] == user_id]
        if screens and screens[0]["frames"] > frames:
            return screens[0]
        assert time.monotonic() < deadline, f"screen not decoded: {screens} {_debug(page)}"
        page.wait_for_timeout(300)


def _screen_recordings(room_id: int, count: int) -> list[dict]:
    """The sealed screen recordings of the room (read, then the test's transaction is released)."""
    from tests.media.conftest import sealed_recordings

    deadline = time.monotonic() + 15
    while True:
        screens = [{"id": r.id, "key": r.key, "user_id": r.user_id, "sha256": r.sha256, "frames": r.video_frames}
                   for r in sealed_recordings(room_id, 1) if r.stream_kind == "screen"]
        db.session.commit()
        if len(screens) >= count or time.monotonic() > deadline:
            return screens
        time.sleep(0.2)


def test_an_expert_shares_a_screen_the_others_watch_it_and_it_is_recorded(room_world, real_socketio_server,  # noqa: F811
                                                                          new_page, release, app):
    room_id, seats = room_world
    release()
    sharer_id = seats["expert"].user_id
    expert = _enter(new_page, seats["expert"], room_id)
    chair = _enter(new_page, seats["chair"], room_id)
    supervisor = _enter(new_page, seats["supervisor"], room_id)
    assert supervisor.locator("[data-action=share-screen]").count() == 0  # receive-only: nothing to share
    _decoding(chair, [sharer_id])  # the expert's camera is up before it shares its screen
    expert.click("[data-action=share-screen]")  # Chromium's own display capture, no picker (see conftest)
    expert.locator("[data-action=stop-screen]").wait_for()
    assert expert.locator("[data-action=share-screen]").is_hidden()
    tile = f"[data-media-grid] figure[data-kind=screen][data-user='{sharer_id}']"
    for viewer in (chair, supervisor):
        screen = _screen_decoded(viewer, sharer_id)
        assert (screen["width"], screen["height"]) == (1280, 720)  # scaled by the server to the screen size
        shown = viewer.locator(tile)
        assert "屏幕共享" in shown.inner_text()
        assert viewer.evaluate("(video) => video.videoWidth", shown.locator("video").element_handle()) == 1280
    expert.click("[data-action=stop-screen]")
    for viewer in (chair, supervisor):
        viewer.locator(tile).wait_for(state="detached")
        assert viewer.evaluate(SCREENS) == []
        assert _decoding(viewer, [sharer_id])["decoded"][sharer_id] > 0  # the camera goes on
    expert.locator("[data-action=share-screen]").wait_for()
    assert expert.locator("figure[data-kind=screen]").count() == 0

    # stopped from the browser's own "stop sharing" bar: the track ends and the page unpublishes
    expert.click("[data-action=share-screen]")
    _screen_decoded(chair, sharer_id, frames=1)
    expert.evaluate("() => window.bidhallMedia.screen.getVideoTracks()[0].dispatchEvent(new Event('ended'))")
    chair.locator(tile).wait_for(state="detached")
    expert.locator("[data-action=share-screen]").wait_for()
    assert not (chair.errors or expert.errors or supervisor.errors)
    assert all(page.locator("[data-media-error]").is_hidden() for page in (chair, expert, supervisor)), [
        page.locator("[data-media-error]").inner_text() for page in (chair, expert, supervisor)]

    screens = _screen_recordings(room_id, 2)  # one per share, each sealed when it stopped
    assert len(screens) == 2 and {s["user_id"] for s in screens} == {sharer_id}, screens
    first = screens[0]
    path = Path(app.config["STORAGE_DIR"]) / first["key"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "media.recording_sealed",
                                                          AuditEvent.object_id == str(first["id"])))
    assert json.loads(event.data)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == first["sha256"]
    release()
    with av.open(str(path)) as container:
        sizes = {(frame.width, frame.height) for frame in container.decode(video=0)}
    assert sizes == {(1280, 720)} and first["frames"] > 5
