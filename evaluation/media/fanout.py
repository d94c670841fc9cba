"""Hand the same encoded packets to every viewer's sender.

aiortc's ``RTCRtpSender`` accepts a track whose ``recv()`` returns ``av.Packet`` instead of a frame: it then
skips its own encoder and only packetises (``Encoder.pack``). Each viewer gets an :class:`EncodedTrack` fed
from the publisher's one encoder, so a viewer costs packetisation and SRTP, never an encode.

In that mode the sender's own keyframe handling does nothing, so a viewer's keyframe request (PLI/FIR) is
routed to the publisher's encoder here, and a new viewer waits for a keyframe before it gets any video.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.packet import Packet

#: Packets a slow viewer may fall behind before its oldest are dropped (about 1 s of video at 15 fps).
QUEUE_LIMIT = 64
#: Keyframe requests from all viewers of one publisher are merged to at most one per this many seconds.
KEYFRAME_MIN_GAP_S = 0.5


class EncodedTrack(MediaStreamTrack):
    """One viewer's copy of a publisher's encoded stream."""

    def __init__(self, kind: str, fanout: Fanout) -> None:
        super().__init__()
        self.kind = kind
        self._fanout = fanout
        self._queue: asyncio.Queue[Packet | None] = asyncio.Queue()
        self._waiting_for_keyframe = kind == "video"

    def offer(self, packet: Packet) -> None:
        if self._waiting_for_keyframe:
            if not packet.is_keyframe:
                return
            self._waiting_for_keyframe = False
        if self._queue.qsize() >= QUEUE_LIMIT:
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.kind == "video":
                self._waiting_for_keyframe = True
                self._fanout.request_keyframe()
                return
        self._queue.put_nowait(packet)

    def restart(self) -> None:
        """The viewer's connection is up: drop what queued while it connected and start on a fresh keyframe."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._waiting_for_keyframe = self.kind == "video"

    async def recv(self) -> Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
        self._fanout.discard(self)
        super().stop()


class Fanout:
    """The viewers of one encoded track (audio or video) of one published stream."""

    def __init__(self, kind: str, request_keyframe: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._request_keyframe = request_keyframe
        self._last_request = 0.0
        self.tracks: set[EncodedTrack] = set()
        #: Server-enforced mute: while set, nothing reaches the viewers (the recording still gets it).
        self.muted = False
        self.packets = 0

    def new_track(self) -> EncodedTrack:
        track = EncodedTrack(self.kind, self)
        self.tracks.add(track)
        self.request_keyframe(force=True)
        return track

    def discard(self, track: EncodedTrack) -> None:
        self.tracks.discard(track)

    def request_keyframe(self, force: bool = False) -> None:
        if self._request_keyframe is None:
            return
        now = time.monotonic()
        if force or now - self._last_request >= KEYFRAME_MIN_GAP_S:
            self._last_request = now
            self._request_keyframe()

    def send(self, packet: Packet) -> None:
        self.packets += 1
        if self.muted:
            return
        for track in list(self.tracks):
            track.offer(packet)

    def close(self) -> None:
        for track in list(self.tracks):
            track.stop()


def route_keyframe_requests(sender, fanout: Fanout) -> None:
    """Make a viewer's PLI/FIR reach the publisher's encoder (the sender's own flag is unused here)."""
    sender._send_keyframe = lambda: fanout.request_keyframe()
