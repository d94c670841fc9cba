"""Encode once per publisher: scale to a fixed size, VP8 and Opus, with timestamps from one clock.

A naive relay re-encodes every stream for every viewer; on a 2-core machine one 640×480 publisher with two
viewers saturates a core. Decoding once and encoding once, then handing the very same packets to every
viewer and to the recorder, costs about the same for one viewer or six (anchors: 38–46% of a core).

Both pipelines of a stream stamp their packets from the stream's one monotonic origin, so audio and video
start together in the recording and never go backwards, whatever timestamps the browser sends.
"""
from __future__ import annotations

import fractions
import time

import av
import numpy as np
from av import AudioFrame, VideoFrame
from av.packet import Packet

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
OPUS_FRAME = 960  # 20 ms


class StreamClock:
    """Seconds since the stream began, from the monotonic clock (browser timestamps are not trusted)."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.origin


def fit(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The largest even size inside ``box`` with the source's aspect ratio."""
    scale = min(box[0] / width, box[1] / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class VideoPipeline:
    """Scale every frame into a fixed box (letterboxed), then encode VP8 once.

    The fixed size is what lets a browser change resolution mid-call without breaking the encoder, the
    viewers' decoders or the recording: downstream of here the size never changes.
    """

    def __init__(self, clock: StreamClock, size: tuple[int, int], bitrate: int, keyframe_interval_s: float,
                 fps: int = 15) -> None:
        self.clock, self.size = clock, size
        self.codec = av.CodecContext.create("libvpx", "w")
        self.codec.width, self.codec.height = size
        self.codec.pix_fmt = "yuv420p"
        self.codec.time_base = VIDEO_TIME_BASE
        self.codec.framerate = fps
        self.codec.bit_rate = bitrate
        self.codec.gop_size = max(1, round(keyframe_interval_s * fps))
        self.codec.thread_count = 1
        self.codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "static-thresh": "1",
                              "undershoot-pct": "100", "overshoot-pct": "15", "bufsize": str(bitrate),
                              "minrate": str(bitrate), "maxrate": str(bitrate), "partitions": "0"}
        self.keyframe_interval_s = keyframe_interval_s
        self._last_pts = -1
        self._last_key = -1e9
        self._force = True
        self._canvas: np.ndarray | None = None

    def request_keyframe(self) -> None:
        self._force = True

    def encode(self, frame: VideoFrame) -> list[Packet]:
        """Runs in a worker thread: reformat and libvpx release the GIL."""
        scaled = self._scale(frame)
        pts = max(self._last_pts + 1, int(self.clock.elapsed() * 90000))
        self._last_pts = pts
        scaled.pts, scaled.time_base = pts, VIDEO_TIME_BASE
        now = self.clock.elapsed()
        if self._force or now - self._last_key >= self.keyframe_interval_s:
            scaled.pict_type = av.video.frame.PictureType.I
            self._force, self._last_key = False, now
        return list(self.codec.encode(scaled))

    def _scale(self, frame: VideoFrame) -> VideoFrame:
        width, height = fit(frame.width, frame.height, self.size)
        scaled = frame.reformat(width=width, height=height, format="yuv420p")
        if (width, height) == self.size:
            return scaled
        box_w, box_h = self.size
        if self._canvas is None:
            self._canvas = np.empty(box_w * box_h * 3 // 2, np.uint8)
        canvas = self._canvas
        canvas[:box_w * box_h] = 16
        canvas[box_w * box_h:] = 128
        planes = canvas[:box_w * box_h].reshape(box_h, box_w), canvas[box_w * box_h:].reshape(2, box_h // 2, box_w // 2)
        x, y = (box_w - width) // 2 // 2 * 2, (box_h - height) // 2 // 2 * 2
        source = scaled.to_ndarray()  # yuv420p as one (h * 3/2, w) array
        planes[0][y:y + height, x:x + width] = source[:height]
        chroma = source[height:].reshape(2, height // 2, width // 2)
        planes[1][:, y // 2:y // 2 + height // 2, x // 2:x // 2 + width // 2] = chroma
        return VideoFrame.from_ndarray(canvas.reshape(box_h * 3 // 2, box_w), format="yuv420p")


class AudioPipeline:
    """Resample to 48 kHz stereo and encode Opus once, 20 ms per packet.

    Timestamps count samples, so they are exact; when the publisher pauses (muted track, lost packets) the
    count jumps forward to the stream clock, leaving a gap instead of squeezing later audio earlier.
    """

    def __init__(self, clock: StreamClock, bitrate: int) -> None:
        self.clock = clock
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.sample_rate = AUDIO_RATE
        self.codec.layout = "stereo"
        self.codec.format = "s16"
        self.codec.bit_rate = bitrate
        self.codec.time_base = AUDIO_TIME_BASE
        self.codec.options = {"application": "voip"}
        self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=OPUS_FRAME)
        self._next: int | None = None

    def encode(self, frame: AudioFrame) -> list[Packet]:
        arrived = int(self.clock.elapsed() * AUDIO_RATE)
        if self._next is None or arrived - self._next > AUDIO_RATE // 10:
            self._next = arrived
        frame.pts = None
        packets: list[Packet] = []
        for chunk in self.resampler.resample(frame):
            chunk.pts, chunk.time_base = self._next, AUDIO_TIME_BASE
            self._next += chunk.samples
            packets.extend(self.codec.encode(chunk))
        return packets
