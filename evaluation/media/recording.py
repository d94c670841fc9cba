"""Record the encoded packets the room receives, one WebM file per participant per stream, no re-encoding.

aiortc's MediaRecorder is not used: it re-encodes on the event loop, fixes its encoder size at the first
frame (a browser's mid-call resolution change silently ends the recording) and writes non-monotonic
timestamps. Here the packets are the ones every viewer gets, already at a fixed size, stamped from one
monotonic clock per stream; the muxer only copies them. Each file is closed, hashed (SHA-256) and its hash
put into the audit chain (see operations.seal_recording); ``verify.verify_recordings`` re-hashes the files.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import av
from av.packet import Packet

from evaluation.media.encoding import AUDIO_RATE

log = logging.getLogger(__name__)

MUXER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1"}


@dataclass
class RecordingResult:
    path: Path
    size: int
    sha256: str
    duration_ms: int
    video_frames: int
    audio_packets: int


class StreamRecorder:
    """Muxes one stream's packets (a VP8 track and/or an Opus track) into one WebM file."""

    def __init__(self, path: Path, *, video_size: tuple[int, int] | None, audio: bool) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Close a cluster every second and write each packet through: a process killed mid-call leaves a file
        # readable up to its last second (by default the muxer keeps seconds of media, and at first all of
        # it, in memory, so such a file would be empty).
        self.container = av.open(str(path), mode="w", format="webm", options=MUXER_OPTIONS)
        self.video = self.audio = None
        if video_size is not None:
            self.video = self.container.add_stream("libvpx", rate=15)
            self.video.width, self.video.height = video_size
            self.video.pix_fmt = "yuv420p"
        if audio:
            self.audio = self.container.add_stream("libopus", rate=AUDIO_RATE)
            self.audio.layout = "stereo"
        self.video_frames = self.audio_packets = 0
        self._first_ms: float | None = None
        self._last_ms = 0.0
        self.failed = False

    def write(self, kind: str, packet: Packet) -> None:
        """Copy the packet (the original is shared with the viewers' senders) and mux the copy."""
        stream = self.video if kind == "video" else self.audio
        if stream is None or self.failed or packet.pts is None:
            return
        if kind == "video" and self.video_frames == 0 and not packet.is_keyframe:
            return  # a recording starts on a keyframe so that it decodes from its first frame
        copy = Packet(bytes(packet))
        copy.pts = copy.dts = packet.pts
        copy.time_base = packet.time_base
        copy.is_keyframe = packet.is_keyframe
        copy.stream = stream
        try:
            self.container.mux(copy)
        except av.FFmpegError as exc:
            # A recording that cannot be written stops alone; the room and the other recordings go on.
            log.error("recording %s stopped: %s", self.path, exc)
            self.failed = True
            return
        at_ms = float(packet.pts * packet.time_base * 1000)
        self._first_ms = at_ms if self._first_ms is None else min(self._first_ms, at_ms)
        self._last_ms = max(self._last_ms, at_ms)
        if kind == "video":
            self.video_frames += 1
        else:
            self.audio_packets += 1

    def close(self) -> RecordingResult:
        """Blocking (flushes and hashes the file): run it off the event loop."""
        try:
            self.container.close()
        except av.FFmpegError as exc:
            log.error("recording %s closed with an error: %s", self.path, exc)
        if not self.path.exists():
            # Nothing reached the muxer (the stream ended before its first keyframe): an empty file, so the
            # recording is still sealed and verified like any other, with no frames.
            self.path.touch()
        duration = 0 if self._first_ms is None else round(self._last_ms - self._first_ms)
        return RecordingResult(self.path, self.path.stat().st_size, file_sha256(self.path), duration,
                               self.video_frames, self.audio_packets)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def probe_interrupted(path: Path) -> RecordingResult:
    """What an interrupted file holds (its writer died before closing it): the packets that can still be read.

    Only demuxes (no decoding); a truncated tail ends the count. Hashed as it is, so from now on the audit chain
    vouches for exactly these bytes.
    """
    video = audio = 0
    first_ms: float | None = None
    last_ms = 0.0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.pts is None or packet.size == 0:
                    continue
                at_ms = float(packet.pts * packet.time_base * 1000)
                first_ms = at_ms if first_ms is None else min(first_ms, at_ms)
                last_ms = max(last_ms, at_ms)
                if packet.stream.type == "video":
                    video += 1
                else:
                    audio += 1
    except (av.FFmpegError, EOFError) as exc:
        log.warning("interrupted recording %s is cut short: %s", path, exc)
    duration = 0 if first_ms is None else round(last_ms - first_ms)
    return RecordingResult(path, path.stat().st_size, file_sha256(path), duration, video, audio)
