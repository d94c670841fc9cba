"""The evaluation room in Chromium with fake camera and microphone: two experts publish, a supervisor watches.

The supervisor's page must receive and decode video from both experts (asserted with getStats()), while
publishing nothing; the experts see the recorded-and-observed indicator.
"""
from __future__ import annotations

import time

import pyotp

from tests.factories import PASSWORD
from tests.media.conftest import real_socketio_server, room_world  # noqa: F401  (fixtures)

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
    page.goto("/login")
    page.fill("#username", seat.username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    if seat.totp:
        page.wait_for_url("**/second-factor**")
        page.fill("#code", pyotp.TOTP(seat.totp).now())
        page.click("main button[type=submit]")
    page.wait_for_url("**/workspace**")
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
