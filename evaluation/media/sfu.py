"""The selective forwarding unit: a star through the server, one peer connection per stream.

Each published stream (a camera with its microphone, or a screen) arrives on its own upstream peer
connection, offered by the publisher. Each viewer gets each remote stream on its own downstream peer
connection, offered by the server, send-only. The sender always offers, so nothing is ever renegotiated
(aiortc renegotiates badly), and a reconnecting client simply builds new connections.

Every coroutine here runs on the media loop (``evaluation.media.loop``). What must reach the Flask world
(Socket.IO messages, database rows) goes through the ``hooks`` object, whose methods must not block.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from core.errors import NotFound, RuleViolation, ValidationError
from evaluation.media.config import MediaSettings
from evaluation.media.encoding import AudioPipeline, StreamClock, VideoPipeline
from evaluation.media.fanout import EncodedTrack, Fanout, route_keyframe_requests
from evaluation.media.loop import rtc_configuration
from evaluation.media.recording import RecordingResult, StreamRecorder

log = logging.getLogger(__name__)

STREAM_KINDS = ("camera", "screen")
#: A viewer that has not connected by then is dropped (its queues would only fill).
SUBSCRIBE_CONNECT_TIMEOUT_S = 30.0


def _preferred(kind: str) -> list:
    """The server encodes VP8 and Opus only, so it offers nothing else (plus RTX for retransmissions)."""
    wanted = {"video": ("video/vp8", "video/rtx"), "audio": ("audio/opus",)}[kind]
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


class Hooks(Protocol):
    def stream_added(self, room_id: int, info: dict) -> None: ...
    def stream_removed(self, room_id: int, info: dict) -> None: ...
    def subscription_closed(self, room_id: int, sid: str, pc_id: str, stream_id: str) -> None: ...
    def recording_started(self, room_id: int, info: dict, key: str) -> None: ...
    def recording_finished(self, room_id: int, stream_id: str, result: RecordingResult) -> None: ...


class PublishedStream:
    """One publisher's stream: its upstream connection, its one encoder per track, its viewers, its file."""

    def __init__(self, runtime: RoomRuntime, *, sid: str, user_id: int, kind: str, kinds: set[str]) -> None:
        settings = runtime.settings
        self.runtime, self.sid, self.user_id, self.kind = runtime, sid, user_id, kind
        self.id = secrets.token_hex(8)
        self.pc = RTCPeerConnection(rtc_configuration(settings.ice_servers))
        self.clock = StreamClock()
        self.size = settings.camera_size if kind == "camera" else settings.screen_size
        bitrate = settings.camera_bitrate if kind == "camera" else settings.screen_bitrate
        self.video = (VideoPipeline(self.clock, self.size, bitrate, settings.keyframe_interval_s)
                      if "video" in kinds else None)
        self.audio = AudioPipeline(self.clock, settings.audio_bitrate) if "audio" in kinds else None
        self.fanouts: dict[str, Fanout] = {}
        if self.video:
            self.fanouts["video"] = Fanout("video", self.video.request_keyframe)
        if self.audio:
            self.fanouts["audio"] = Fanout("audio")
        self.recorder: StreamRecorder | None = None
        self.key = f"recordings/room-{runtime.room_id}/{user_id}-{kind}-{self.id}.webm"
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"encode-{self.id}")
        self.tasks: list[asyncio.Task] = []
        self._claimed: set[str] = set()
        self.closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def info(self) -> dict:
        return {"stream_id": self.id, "user_id": self.user_id, "kind": self.kind, "tracks": sorted(self.fanouts)}

    def start_recording(self) -> None:
        path = self.runtime.storage_dir / self.key
        self.recorder = StreamRecorder(path, video_size=self.size if self.video else None, audio=bool(self.audio))

    def _on_track(self, track: MediaStreamTrack) -> None:
        # Always attach a consumer: an unread remote track queues decoded frames without bound.
        claimed = track.kind in self.fanouts and track.kind not in self._claimed
        self._claimed.add(track.kind)
        self.tasks.append(asyncio.ensure_future(self._consume(track, claimed)))

    async def _on_state(self) -> None:
        if self.pc.connectionState == "failed":
            await self.runtime.unpublish(self.id)

    async def _consume(self, track: MediaStreamTrack, claimed: bool) -> None:
        kind = track.kind
        pipeline = (self.video if kind == "video" else self.audio) if claimed else None
        fanout = self.fanouts.get(kind)
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                if pipeline is None:
                    continue
                if kind == "video" and _backlog(track) > 1:
                    continue  # the encoder is behind: skip stale frames rather than add latency
                packets = await loop.run_in_executor(self.executor, pipeline.encode, frame)
                for packet in packets:
                    fanout.send(packet)
                    if self.recorder is not None:
                        self.recorder.write(kind, packet)
        except MediaStreamError:
            pass
        except Exception:  # one broken stream must never stop the room
            log.exception("stream %s (%s of user %s) stopped", self.id, kind, self.user_id)

    async def close(self) -> RecordingResult | None:
        if self.closed:
            return None
        self.closed = True
        await self.pc.close()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=3)
            for task in pending:
                task.cancel()
        for fanout in self.fanouts.values():
            fanout.close()
        result = None
        if self.recorder is not None:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, self.recorder.close)
        self.executor.shutdown(wait=False)
        return result


def _backlog(track: MediaStreamTrack) -> int:
    """Decoded frames waiting in aiortc's remote track (its queue is the only place this is visible)."""
    queue = getattr(track, "_queue", None)
    return queue.qsize() if queue is not None else 0


@dataclass
class Subscription:
    id: str
    sid: str
    stream_id: str
    pc: RTCPeerConnection
    tracks: list[EncodedTrack] = field(default_factory=list)


class RoomRuntime:
    """The live media of one room in this process."""

    def __init__(self, room_id: int, settings: MediaSettings, hooks: Hooks, storage_dir: Path) -> None:
        self.room_id, self.settings, self.hooks, self.storage_dir = room_id, settings, hooks, Path(storage_dir)
        self.streams: dict[str, PublishedStream] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.muted: dict[int, set[str]] = {}

    def snapshot(self) -> list[dict]:
        return [s.info() for s in self.streams.values() if not s.closed]

    async def describe(self) -> dict:
        return {"streams": self.snapshot()}

    async def publish(self, *, sid: str, user_id: int, kind: str, sdp: str, kinds: list[str],
                      muted: list[str] = ()) -> dict:
        """``muted``: the publisher's tracks held back from the viewers, as the roster keeps them."""
        if kind not in STREAM_KINDS:
            raise ValidationError("流类型应为 camera 或 screen (stream kind: camera or screen)", field="kind")
        for old in [s for s in self.streams.values() if s.sid == sid and s.kind == kind]:
            await self.unpublish(old.id)  # a new camera replaces the old one
        if sum(1 for s in self.streams.values() if s.user_id == user_id) >= self.settings.max_streams_per_member:
            raise RuleViolation(f"每人最多同时发布 {self.settings.max_streams_per_member} 路流 "
                                f"(at most {self.settings.max_streams_per_member} streams per participant)",
                                code="too_many_streams")
        self.muted[user_id] = set(muted)
        stream = PublishedStream(self, sid=sid, user_id=user_id, kind=kind, kinds=set(kinds))
        self.streams[stream.id] = stream
        try:
            await stream.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await stream.pc.setLocalDescription(await stream.pc.createAnswer())
        except Exception as exc:  # noqa: BLE001  (aiortc raises many kinds on a description it cannot use)
            self.streams.pop(stream.id, None)
            await stream.close()
            raise ValidationError(f"无法协商该发布请求 (the offer could not be negotiated: {exc})", field="sdp",
                                  code="sdp_rejected") from None
        for track_kind in self.muted.get(user_id, set()):
            if track_kind in stream.fanouts:
                stream.fanouts[track_kind].muted = True
        stream.start_recording()
        self.hooks.recording_started(self.room_id, stream.info(), stream.key)
        self.hooks.stream_added(self.room_id, stream.info())
        return {"stream_id": stream.id, "sdp": stream.pc.localDescription.sdp, "type": "answer"}

    async def unpublish(self, stream_id: str) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return
        for sub in [s for s in self.subscriptions.values() if s.stream_id == stream_id]:
            await self.unsubscribe(sub.id)
        self.hooks.stream_removed(self.room_id, stream.info())
        try:
            result = await stream.close()
        except Exception:  # noqa: BLE001  (one stream's failure never stops the others leaving or the room)
            log.exception("media: closing stream %s of room %s failed", stream.id, self.room_id)
            return
        if result is not None:
            self.hooks.recording_finished(self.room_id, stream.id, result)

    async def subscribe(self, *, sid: str, stream_id: str) -> dict:
        stream = self.streams.get(stream_id)
        if stream is None or stream.closed:
            raise NotFound("该音视频流已结束 (that stream has ended)", field="stream_id", code="stream_gone")
        if stream.sid == sid:
            raise ValidationError("不能订阅自己发布的流 (you cannot subscribe to your own stream)", field="stream_id")
        pc = RTCPeerConnection(rtc_configuration(self.settings.ice_servers))
        sub = Subscription(secrets.token_hex(8), sid, stream_id, pc)
        for kind, fanout in stream.fanouts.items():
            track = fanout.new_track()
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_preferred(kind))
            route_keyframe_requests(transceiver.sender, fanout)
            sub.tracks.append(track)

        async def on_state() -> None:
            if pc.connectionState == "connected":
                for track in sub.tracks:
                    track.restart()
                for fanout in stream.fanouts.values():
                    fanout.request_keyframe(force=True)  # a viewer joins: it needs a keyframe now
            elif pc.connectionState == "failed":
                await self.unsubscribe(sub.id)

        pc.on("connectionstatechange", on_state)
        self.subscriptions[sub.id] = sub
        await pc.setLocalDescription(await pc.createOffer())
        asyncio.get_running_loop().call_later(SUBSCRIBE_CONNECT_TIMEOUT_S, self._drop_if_unconnected, sub.id)
        return {"pc_id": sub.id, "stream_id": stream_id, "sdp": pc.localDescription.sdp, "type": "offer",
                "stream": stream.info()}

    def _drop_if_unconnected(self, pc_id: str) -> None:
        sub = self.subscriptions.get(pc_id)
        if sub is not None and sub.pc.connectionState != "connected":
            asyncio.ensure_future(self.unsubscribe(pc_id))

    async def accept_answer(self, *, sid: str, pc_id: str, sdp: str) -> None:
        sub = self.subscriptions.get(pc_id)
        if sub is None or sub.sid != sid:
            raise NotFound("没有这个订阅 (no such subscription)", field="pc_id", code="subscription_gone")
        if sub.pc.signalingState != "have-local-offer":
            raise ValidationError("该订阅已应答 (this subscription was already answered)", field="pc_id")
        try:
            await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # noqa: BLE001  (as above)
            await self.unsubscribe(pc_id)
            raise ValidationError(f"应答无法协商 (the answer could not be negotiated: {exc})", field="sdp",
                                  code="sdp_rejected") from None

    async def unsubscribe(self, pc_id: str) -> None:
        sub = self.subscriptions.pop(pc_id, None)
        if sub is None:
            return
        for track in sub.tracks:
            track.stop()
        await sub.pc.close()
        self.hooks.subscription_closed(self.room_id, sub.sid, sub.id, sub.stream_id)

    async def leave(self, sid: str) -> list[str]:
        """Everything of one connection goes: its streams (other viewers are told) and its subscriptions."""
        for sub in [s for s in self.subscriptions.values() if s.sid == sid]:
            await self.unsubscribe(sub.id)
        gone = [s.id for s in self.streams.values() if s.sid == sid]
        for stream_id in gone:
            await self.unpublish(stream_id)
        return gone

    async def unpublish_own(self, sid: str, stream_id: str) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.sid != sid:
            raise NotFound("没有这个发布的流 (no such stream of yours)", field="stream_id", code="stream_gone")
        await self.unpublish(stream_id)

    async def unsubscribe_own(self, sid: str, pc_id: str) -> None:
        sub = self.subscriptions.get(pc_id)
        if sub is None or sub.sid != sid:
            raise NotFound("没有这个订阅 (no such subscription)", field="pc_id", code="subscription_gone")
        await self.unsubscribe(pc_id)

    async def set_muted(self, user_id: int, kind: str, muted: bool) -> None:
        kinds = self.muted.setdefault(user_id, set())
        (kinds.add if muted else kinds.discard)(kind)
        for stream in self.streams.values():
            if stream.user_id == user_id and kind in stream.fanouts:
                stream.fanouts[kind].muted = muted

    async def close(self) -> None:
        for stream_id in list(self.streams):
            await self.unpublish(stream_id)
        for pc_id in list(self.subscriptions):
            await self.unsubscribe(pc_id)

    def stats(self) -> dict:
        return {"streams": len(self.streams), "subscriptions": len(self.subscriptions),
                "packets": {s.id: {k: f.packets for k, f in s.fanouts.items()} for s in self.streams.values()}}
