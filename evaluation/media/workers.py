"""Media workers: each room's live media in a process of its own, reached through Redis.

The embedded default runs every room's media in the web process. With ``BIDHALL_MEDIA_WORKERS=redis`` (and
``REDIS_URL``) the web processes only signal: a Socket.IO handler turns its request into a *call*
(``RoomRuntime`` method name and JSON arguments) on the room's Redis list and waits for the answer on a reply
list of its own. A media worker (``flask --app wsgi media worker``) serves at most ``--rooms`` rooms (one by
default: one process per room) and runs them exactly as the web process would (``MediaService.invoke`` on
its own media loop). Its Socket.IO messages reach the browsers through the same Redis message queue, and its
recordings go to the shared storage folder and database.

Keys (prefix ``<BIDHALL_REDIS_NAMESPACE>:media``, by default ``bidhall:media``):

- ``claims``: a list of room ids waiting for a worker. A call to a room nobody holds pushes one (at most one
  per lease, guarded by ``room:<id>:claim``).
- ``room:<id>:owner``: the worker id holding the room, a lease renewed every third of ``lease_s``; a dead
  worker's rooms are free again when it lapses, and its unanswered calls are left for the next holder,
  which drops those past their deadline.
- ``room:<id>:calls``: the room's calls, served in arrival order by the holder, concurrently on its loop.
- ``reply:<request>``: the answer, ``{"result": ...}`` or ``{"error": {...}}``, kept for a minute.
- ``worker:<id>``: present while a worker lives; with none alive a call is refused at once.
"""
from __future__ import annotations

import json
import logging
import secrets
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis

from core.errors import DomainError, Forbidden, NotFound, RuleViolation, ValidationError
from evaluation.media import loop
from evaluation.media.config import MediaSettings
from evaluation.media.presence import RateLimited

log = logging.getLogger(__name__)

REPLY_TTL_S = 60
_ERRORS = {cls.__name__: cls for cls in (DomainError, ValidationError, RuleViolation, NotFound, Forbidden,
                                          RateLimited, loop.MediaTimeout)}

# Renew or drop a lease only while it is still ours (another worker may hold the room after a lapse).
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one deployment (``BIDHALL_REDIS_NAMESPACE``, default ``bidhall``)."""

    namespace: str = "bidhall"

    @property
    def prefix(self) -> str:
        return f"{self.namespace}:media"

    @property
    def claims(self) -> str:
        return f"{self.prefix}:claims"

    def owner(self, room_id: int) -> str:
        return f"{self.prefix}:room:{room_id}:owner"

    def calls(self, room_id: int) -> str:
        return f"{self.prefix}:room:{room_id}:calls"

    def claim(self, room_id: int) -> str:
        return f"{self.prefix}:room:{room_id}:claim"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    def reply(self, request_id: str) -> str:
        return f"{self.prefix}:reply:{request_id}"


class NoMediaWorker(DomainError):
    status = 503
    code = "media_worker_unavailable"


def error_to_wire(exc: DomainError) -> dict:
    return {"class": type(exc).__name__, "code": exc.code, "status": exc.status, "message": exc.message,
            "field": exc.field}


def error_from_wire(data: dict) -> DomainError:
    cls = _ERRORS.get(data.get("class", ""), DomainError)
    return cls(data.get("message", ""), field=data.get("field"), code=data.get("code"), status=data.get("status"))


class RemoteRooms:
    """The web process's side: calls to a room's media worker, answered through Redis."""

    def __init__(self, url: str, settings: MediaSettings, keys: Keys) -> None:
        self.redis = redis.Redis.from_url(url)
        self.settings, self.keys = settings, keys

    def call(self, room_id: int, method: str, kwargs: dict) -> Any:
        deadline = time.time() + self.settings.timeout_s
        if not self.redis.exists(self.keys.owner(room_id)):
            if not any(True for _ in self.redis.scan_iter(match=self.keys.worker("*"), count=100)):
                raise NoMediaWorker("没有运行中的媒体工作进程，音视频暂不可用，请联系运维人员 (no media worker is "
                                    "running: start `flask --app wsgi media worker`)")
            self._ask_for_a_worker(room_id)
        request_id = secrets.token_hex(12)
        reply = self.keys.reply(request_id)
        self.redis.rpush(self.keys.calls(room_id), json.dumps({
            "id": request_id, "method": method, "kwargs": kwargs, "reply": reply, "deadline": deadline}))
        while (answer := self.redis.blpop([reply], timeout=1)) is None:
            if time.time() >= deadline:
                raise loop.MediaTimeout("媒体服务器响应超时，请重试 (the media worker did not answer in time; try again)")
            if not self.redis.exists(self.keys.owner(room_id)):
                self._ask_for_a_worker(room_id)  # its worker died while we waited: the next one takes the room
        payload = json.loads(answer[1])
        if "error" in payload:
            raise error_from_wire(payload["error"])
        return payload["result"]

    def _ask_for_a_worker(self, room_id: int) -> None:
        if self.redis.set(self.keys.claim(room_id), "1", nx=True, px=int(self.settings.lease_s * 1000)):
            self.redis.rpush(self.keys.claims, room_id)


class MediaWorker:
    """One media worker process: claims rooms (up to ``max_rooms``) and serves their calls."""

    def __init__(self, app, url: str, *, max_rooms: int = 1, echo=print) -> None:
        from evaluation.media.service import media_service

        self.app, self.service = app, media_service(app)
        self.settings = self.service.settings
        self.redis = redis.Redis.from_url(url)
        self.keys = Keys(app.config.get("REDIS_NAMESPACE") or "bidhall")
        self.max_rooms = max(1, int(max_rooms))
        self.id = f"{socket.gethostname()}-{secrets.token_hex(4)}"
        self.echo = echo
        self.stop = threading.Event()
        self.rooms: dict[int, threading.Thread] = {}
        self._idle_since: dict[int, float] = {}
        self._lock = threading.Lock()
        self._replies = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media-reply")
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_s * 1000)

    # -- the process ----------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or ``stop``); then close every room, sealing its recordings."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop.set())
        self.redis.set(self.keys.worker(self.id), self.max_rooms, px=self.lease_ms)
        threading.Thread(target=self._keep_leases, name="media-leases", daemon=True).start()
        self.echo(f"media worker {self.id}: serving up to {self.max_rooms} room(s) through Redis")
        try:
            while not self.stop.is_set():
                with self._lock:
                    full = len(self.rooms) >= self.max_rooms
                if full:
                    self.stop.wait(0.5)
                    continue
                item = self.redis.blpop([self.keys.claims], timeout=1)
                if item is not None:
                    self._claim(int(item[1]))
        finally:
            self._shutdown()

    def _claim(self, room_id: int) -> None:
        if not self.redis.set(self.keys.owner(room_id), self.id, nx=True, px=self.lease_ms):
            return  # another worker holds it (a duplicate claim)
        self.redis.delete(self.keys.claim(room_id))
        with self._lock:
            thread = threading.Thread(target=self._serve, args=(room_id,), name=f"media-room-{room_id}", daemon=True)
            self.rooms[room_id] = thread
        self.echo(f"media worker {self.id}: room {room_id} taken")
        thread.start()

    def _serve(self, room_id: int) -> None:
        try:
            while not self.stop.is_set() and room_id in self.rooms:
                item = self.redis.blpop([self.keys.calls(room_id)], timeout=1)
                if item is None:
                    if self._idle_for(room_id) >= self.settings.idle_release_s:
                        self._let_go(room_id, "idle")
                    continue
                request = json.loads(item[1])
                if time.time() > request.get("deadline", 0):
                    continue  # its caller has given up
                self._dispatch(room_id, request)
        except redis.RedisError:
            log.exception("media worker: room %s lost its Redis connection", room_id)
            self._let_go(room_id, "redis error")

    def _dispatch(self, room_id: int, request: dict) -> None:
        method, kwargs = request.get("method"), request.get("kwargs") or {}
        from evaluation.media.service import RUNTIME_CALLS

        if method not in RUNTIME_CALLS:
            self._reply(request, {"error": error_to_wire(ValidationError(f"unknown media call {method!r}"))})
            return
        future = loop.submit(self.service.invoke(room_id, method, kwargs))

        def done(_future) -> None:
            try:
                payload = {"result": _future.result()}
            except DomainError as exc:
                payload = {"error": error_to_wire(exc)}
            except Exception:  # noqa: BLE001  (the caller gets a reason; the room lives on)
                log.exception("media worker: %s on room %s failed", method, room_id)
                payload = {"error": error_to_wire(DomainError(
                    "媒体服务器内部错误，请重试 (the media worker failed on this request; try again)",
                    code="media_error", status=500))}
            self._replies.submit(self._reply, request, payload)
            if method == "close":
                self._replies.submit(self._let_go, room_id, "closed")

        future.add_done_callback(done)

    def _reply(self, request: dict, payload: dict) -> None:
        pipe = self.redis.pipeline()
        pipe.rpush(request["reply"], json.dumps(payload, default=list))
        pipe.expire(request["reply"], REPLY_TTL_S)
        pipe.execute()

    # -- leases and idleness ------------------------------------------------------------------------
    def _idle_for(self, room_id: int) -> float:
        runtime = self.service.rooms.get(room_id)
        busy = runtime is not None and (runtime.streams or runtime.subscriptions)
        if busy:
            self._idle_since.pop(room_id, None)
            return 0.0
        return time.monotonic() - self._idle_since.setdefault(room_id, time.monotonic())

    def _keep_leases(self) -> None:
        while not self.stop.wait(self.settings.lease_s / 3):
            try:
                self.redis.set(self.keys.worker(self.id), self.max_rooms, px=self.lease_ms)
                for room_id in list(self.rooms):
                    if not self._renew(keys=[self.keys.owner(room_id)], args=[self.id, self.lease_ms]):
                        log.warning("media worker: lost the lease of room %s", room_id)
                        self._let_go(room_id, "lease lost")
            except redis.RedisError:
                log.exception("media worker: cannot renew the leases")

    def _let_go(self, room_id: int, why: str) -> None:
        """Close the room's media here (its recordings are sealed) and free it for any worker."""
        with self._lock:
            if self.rooms.pop(room_id, None) is None:
                return
        self._idle_since.pop(room_id, None)
        if room_id in self.service.rooms:
            try:
                loop.call(self.service.invoke(room_id, "close", {}), self.settings.timeout_s)
            except Exception:  # noqa: BLE001
                log.exception("media worker: closing room %s failed", room_id)
        self._release(keys=[self.keys.owner(room_id)], args=[self.id])
        if self.redis.llen(self.keys.calls(room_id)) and self.redis.set(self.keys.claim(room_id), "1", nx=True,
                                                                       px=self.lease_ms):
            self.redis.rpush(self.keys.claims, room_id)  # a call arrived as we let go: another worker takes the room
        self.echo(f"media worker {self.id}: room {room_id} released ({why})")

    def _shutdown(self) -> None:
        for room_id in list(self.rooms):
            self._let_go(room_id, "worker stopping")
        self.service.settle()
        self._replies.shutdown(wait=True)
        self.redis.delete(self.keys.worker(self.id))
        self.echo(f"media worker {self.id}: stopped")
