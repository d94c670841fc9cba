"""The bridge between the media loop and the Flask world (Socket.IO messages, database rows).

The SFU's coroutines never touch the database nor block on a socket: what they report goes to a small
worker. Database work runs on one worker thread inside an app context, commits once and always releases
its session; Socket.IO messages go out from another thread.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from core.db import db
from core.extensions import socketio
from evaluation.media import loop, operations
from evaluation.media.config import MediaSettings
from evaluation.media.presence import Presence
from evaluation.media.recording import RecordingResult
from evaluation.media.sfu import RoomRuntime

log = logging.getLogger(__name__)

NAMESPACE = "/media"
EXTENSION = "bidhall_media"
#: What a handler may ask of a room's live media (the ``RoomRuntime`` coroutines).
RUNTIME_CALLS = frozenset({"describe", "publish", "unpublish_own", "subscribe", "accept_answer",
                           "unsubscribe_own", "set_muted", "leave", "close"})


def room_channel(room_id: int) -> str:
    return f"media-room-{room_id}"


class MediaService:
    def __init__(self, app: Flask, settings: MediaSettings) -> None:
        self.app, self.settings = app, settings
        self.presence = Presence()
        self.rooms: dict[int, RoomRuntime] = {}  # touched on the media loop only
        #: Streams whose file this process still writes or has yet to seal (a room's runtime may be gone and
        #: a new one started while an old stream is still closing).
        self.live_recordings: set[str] = set()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-db")
        self._out = ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-emit")
        #: With media workers, the rooms' media runs in those processes; this one only signals.
        self.remote = None
        if settings.workers == "redis":
            from evaluation.media.workers import Keys, RemoteRooms

            if not app.config.get("REDIS_URL"):
                raise RuntimeError("BIDHALL_MEDIA_WORKERS=redis needs REDIS_URL: the media workers are reached "
                                   "through Redis")
            self.remote = RemoteRooms(app.config["REDIS_URL"], settings, Keys(app.config["REDIS_NAMESPACE"]))
        loop.use_host_addresses(settings.hosts)

    @property
    def storage_dir(self) -> Path:
        return Path(self.app.config["STORAGE_DIR"])

    # -- from a handler thread --------------------------------------------------------------------
    def call(self, room_id: int, method: str, **kwargs: Any) -> Any:
        """Run one of the room's ``RoomRuntime`` methods where the room's media lives, and wait for the answer.

        In this process (the embedded default) or, with ``BIDHALL_MEDIA_WORKERS=redis``, in the media worker
        process that serves the room (``evaluation.media.workers``). Arguments and answers are plain JSON.
        """
        if method not in RUNTIME_CALLS:
            raise ValueError(f"not a media call: {method}")
        if self.remote is not None:
            return self.remote.call(room_id, method, kwargs)
        return loop.call(self.invoke(room_id, method, kwargs), self.settings.timeout_s)

    async def invoke(self, room_id: int, method: str, kwargs: dict) -> Any:
        """On the media loop: the call itself (a worker process runs the same)."""
        runtime = self._runtime(room_id)
        result = await getattr(runtime, method)(**kwargs)
        if method == "close":
            self.rooms.pop(room_id, None)
        return result

    def _runtime(self, room_id: int) -> RoomRuntime:
        runtime = self.rooms.get(room_id)
        if runtime is None:
            runtime = self.rooms[room_id] = RoomRuntime(room_id, self.settings, self, self.storage_dir)
            # The room's media starts here: whatever a dead process left recording is sealed as it stands
            # (queued before anything this runtime records).
            self.in_app(self._recover, room_id)
        return runtime

    def _recover(self, room_id: int) -> None:
        """If a dead process held live streams of the room, seal their files and tell the pages, whose peer
        connections went with it, to publish and subscribe again now rather than after ICE gives up (~30 s)."""
        if operations.seal_interrupted(room_id, self.storage_dir, live=set(self.live_recordings)):
            self.emit("media_reset", {"room_id": room_id}, to=room_channel(room_id))

    def shutdown_room(self, room_id: int) -> None:
        """Stop the room's live media: every connection is told and closed, every recording sealed."""
        for sid in self.presence.sids_of(room_id):
            socketio.emit("closed", {"room_id": room_id}, to=sid, namespace=NAMESPACE)
            socketio.server.disconnect(sid, namespace=NAMESPACE)

        self.call(room_id, "close")

    def shutdown(self) -> None:
        """Close every room of this process (a worker stopping): every recording is sealed first."""
        for room_id in self.presence.rooms() | set(self.rooms):
            self.shutdown_room(room_id)
        self.settle()

    def settle(self, timeout: float = 10) -> None:
        """Wait for the database work queued so far (tests and shutdown)."""
        self._db.submit(lambda: None).result(timeout)

    # -- hooks, called on the media loop: never block ------------------------------------------------
    def stream_added(self, room_id: int, info: dict) -> None:
        self.emit("stream_added", info, to=room_channel(room_id))

    def stream_removed(self, room_id: int, info: dict) -> None:
        self.emit("stream_removed", info, to=room_channel(room_id))

    def subscription_closed(self, room_id: int, sid: str, pc_id: str, stream_id: str) -> None:
        self.emit("subscription_closed", {"pc_id": pc_id, "stream_id": stream_id}, to=sid)

    def recording_started(self, room_id: int, info: dict, key: str) -> None:
        self.live_recordings.add(info["stream_id"])
        self.in_app(operations.start_recording, room_id, info, key)

    def recording_finished(self, room_id: int, stream_id: str, result: RecordingResult) -> None:
        def seal() -> None:
            try:
                operations.seal_recording(stream_id, sha256=result.sha256, size=result.size,
                                          duration_ms=result.duration_ms, video_frames=result.video_frames,
                                          audio_packets=result.audio_packets)
            finally:  # on the database thread, after the seal: _recover never takes it for an orphan
                self.live_recordings.discard(stream_id)

        self.in_app(seal)

    def emit(self, event: str, data: dict, *, to: str) -> None:
        self._out.submit(socketio.emit, event, data, to=to, namespace=NAMESPACE)

    def in_app(self, fn: Callable, *args, **kwargs) -> Future:
        def run() -> None:
            with self.app.app_context():
                try:
                    fn(*args, **kwargs)
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    log.exception("media: %s failed", getattr(fn, "__name__", fn))
                finally:
                    db.session.remove()

        return self._db.submit(run)


def media_service(app: Flask | None = None) -> MediaService:
    return (app or current_app).extensions[EXTENSION]


def init_app(app: Flask) -> None:
    if EXTENSION not in app.extensions:
        app.extensions[EXTENSION] = MediaService(app, MediaSettings.from_env())
