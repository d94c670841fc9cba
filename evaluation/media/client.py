"""A headless participant: joins a room over the real Socket.IO signalling with aiortc, like the browser does.

It publishes tracks (one peer connection per stream, publisher offers), subscribes to every remote stream
(one peer connection each, the server offers), and counts what it receives per publisher. The tests, the
benchmark and an operator checking a deployment's media path (``BIDHALL_MEDIA_HOSTS``) all use it.
"""
from __future__ import annotations

import asyncio
import fractions
import time
from collections import defaultdict

import av
import numpy as np
import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)

NAMESPACE = "/media"


def sign_in(base_url: str, username: str, password: str, totp_secret: str | None = None) -> str:
    """Sign in over HTTP as a browser does (CSRF token, then the second factor when the account has one);
    returns the Cookie header the Socket.IO handshake carries."""
    import re

    import pyotp
    import requests

    def token(page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        return found.group(1) if found else ""

    http = requests.Session()
    reply = http.post(f"{base_url}/login", data={"username": username, "password": password,
                                                 "csrf_token": token(http.get(f"{base_url}/login").text)})
    if reply.status_code >= 400:
        raise Refused({"code": "sign_in_failed", "message": f"sign-in of {username} refused: HTTP {reply.status_code}"})
    if totp_secret:
        http.post(f"{base_url}/login/second-factor", data={"code": pyotp.TOTP(totp_secret).now(),
                                                           "csrf_token": token(reply.text)})
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


class Refused(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code, self.message = error.get("code"), error.get("message")


class MovingBarTrack(VideoStreamTrack):
    """Synthetic camera: a bar moving across a grey picture; ``size`` may change mid-call like a browser's."""

    def __init__(self, width: int = 640, height: int = 360, fps: int = 15) -> None:
        super().__init__()
        self.size, self.fps, self._n = (width, height), fps, 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        width, height = self.size
        picture = np.full((height * 3 // 2, width), 128, np.uint8)
        x = (self._n * 8) % max(8, width - 16)
        picture[:height, x:x + 16] = 235
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        self._n += 1
        return frame

    async def next_timestamp(self) -> tuple[int, fractions.Fraction]:
        # VideoStreamTrack paces at 30 fps; pace at our own rate instead.
        if not hasattr(self, "_start"):
            self._start, self._sent = time.monotonic(), 0
        else:
            self._sent += 1
            wait = self._start + self._sent / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return int(self._sent * 90000 / self.fps), fractions.Fraction(1, 90000)


class ToneTrack(AudioStreamTrack):
    """Synthetic microphone: a 440 Hz tone in 20 ms frames."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        start = frame.pts
        t = (np.arange(frame.samples) + start) / frame.sample_rate
        frame.planes[0].update((np.sin(2 * np.pi * 440 * t) * 3000).astype(np.int16).tobytes())
        return frame


class LoopedVideoPackets(MediaStreamTrack):
    """A pre-encoded VP8 clip sent in a loop at its frame rate: a publisher that costs almost no CPU.

    The benchmark's seven publishers use it so that the machine measures the server, not the clients' encoders.
    """

    kind = "video"

    def __init__(self, width: int = 640, height: int = 360, fps: int = 15, seconds: float = 2.0) -> None:
        super().__init__()
        self.fps = fps
        self.clip = _encode_clip(width, height, fps, seconds)
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data = self.clip[self._n % len(self.clip)]
        packet = av.Packet(data)
        packet.pts, packet.time_base = int(self._n * 90000 / self.fps), fractions.Fraction(1, 90000)
        self._n += 1
        return packet


def _encode_clip(width: int, height: int, fps: int, seconds: float) -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base, codec.framerate, codec.bit_rate = fractions.Fraction(1, fps), fps, 600_000
    codec.gop_size = int(fps * seconds)  # the clip starts with the only keyframe, so it loops cleanly
    codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0"}
    packets: list[bytes] = []
    for n in range(int(fps * seconds)):
        picture = np.full((height * 3 // 2, width), 128, np.uint8)
        x = (n * 8) % max(8, width - 16)
        picture[:height, x:x + 16] = 235
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = n
        if n == 0:
            frame.pict_type = av.video.frame.PictureType.I
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    return packets


class Participant:
    """One signed-in user in one room; ``cookie`` is the session cookie of a sign-in (``session=...``)."""

    def __init__(self, base_url: str, cookie: str, room_id: int, *, subscribe: bool = True) -> None:
        self.base_url, self.cookie, self.room_id = base_url, cookie, room_id
        self.auto_subscribe = subscribe
        self.sio = socketio.AsyncClient(reconnection=False)
        self.me: dict = {}
        self.published: dict[str, RTCPeerConnection] = {}
        self.subscriptions: dict[str, tuple[RTCPeerConnection, dict]] = {}
        self.received: dict[int, dict[str, int]] = defaultdict(lambda: {"audio": 0, "video": 0})
        self.video_sizes: dict[int, set[tuple[int, int]]] = defaultdict(set)
        self.events: list[tuple[str, dict]] = []
        self._tasks: set[asyncio.Task] = set()
        for name in ("roster", "muted", "removed", "closed", "subscription_closed", "media_reset"):
            self.sio.on(name, self._recorder(name), namespace=NAMESPACE)
        self.sio.on("stream_added", self._on_stream_added, namespace=NAMESPACE)
        self.sio.on("stream_removed", self._on_stream_removed, namespace=NAMESPACE)

    def _recorder(self, name: str):
        async def record(data):
            self.events.append((name, data))
        return record

    async def join(self) -> dict:
        refusals: list[dict] = []
        self.sio.on("connect_error", lambda data: refusals.append(data or {}), namespace=NAMESPACE)
        try:
            await self.sio.connect(self.base_url, headers={"Cookie": self.cookie}, auth={"room": self.room_id},
                                   namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            if refusals:
                raise Refused({"code": (refusals[0].get("data") or {}).get("code"),
                               "message": refusals[0].get("message")}) from None
            raise
        state = await self.request("hello", {})
        self.me = state["me"]
        if self.auto_subscribe:
            for info in state["streams"]:
                await self.subscribe(info)
        return state

    async def request(self, event: str, data: dict) -> dict:
        reply = await self.sio.call(event, data, namespace=NAMESPACE, timeout=20)
        if "error" in reply:
            raise Refused(reply["error"])
        return reply

    async def publish(self, *tracks: MediaStreamTrack, kind: str = "camera") -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for track in tracks:
            pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        try:
            reply = await self.request("publish", {"kind": kind, "sdp": pc.localDescription.sdp, "type": "offer"})
        except Refused:
            await pc.close()
            raise
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        self.published[reply["stream_id"]] = pc
        return reply["stream_id"]

    async def unpublish(self, stream_id: str) -> None:
        await self.request("unpublish", {"stream_id": stream_id})
        await self.published.pop(stream_id).close()

    async def subscribe(self, info: dict) -> None:
        if info["user_id"] == self.me.get("user_id"):
            return
        offer = await self.request("subscribe", {"stream_id": info["stream_id"]})
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        owner = info["user_id"]
        pc.on("track", lambda track: self._spawn(self._consume(track, owner)))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.subscriptions[offer["pc_id"]] = (pc, info)
        await self.request("answer", {"pc_id": offer["pc_id"], "sdp": pc.localDescription.sdp, "type": "answer"})

    async def _consume(self, track: MediaStreamTrack, owner: int) -> None:
        # Always read every remote track: an unread one queues frames without bound.
        try:
            while True:
                frame = await track.recv()
                self.received[owner][track.kind] += 1
                if track.kind == "video" and hasattr(frame, "width"):
                    self.video_sizes[owner].add((frame.width, frame.height))
        except MediaStreamError:
            pass

    async def _on_stream_added(self, info: dict) -> None:
        self.events.append(("stream_added", info))
        if self.auto_subscribe and info["user_id"] != self.me.get("user_id"):
            self._spawn(self.subscribe(info))

    async def _on_stream_removed(self, info: dict) -> None:
        self.events.append(("stream_removed", info))
        for pc_id, (pc, sub) in list(self.subscriptions.items()):
            if sub["stream_id"] == info["stream_id"]:
                del self.subscriptions[pc_id]
                await pc.close()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def leave(self) -> None:
        """Close everything: the signalling connection first (presence), then the peer connections."""
        if self.sio.connected:
            await self.sio.disconnect()
        for pc in list(self.published.values()) + [pc for pc, _ in self.subscriptions.values()]:
            await pc.close()
        self.published.clear()
        self.subscriptions.clear()
        for task in list(self._tasks):
            task.cancel()
