"""Checks on the SDP a client sends, before any peer connection is built from it.

Each refusal names its reason in Chinese and English: a description that is too large, one aiortc cannot
parse, or one that carries no media the room can use (no audio or video section we can decode or that is
sending toward us).
"""
from __future__ import annotations

from aiortc.sdp import SessionDescription

from core.errors import ValidationError

#: Codecs the server decodes from a publisher (aiortc's decoders).
DECODABLE = {"audio": {"opus", "pcmu", "pcma", "g722"}, "video": {"vp8", "h264"}}


def parse(sdp: object, kind: object, *, expected: str, max_bytes: int) -> SessionDescription:
    if kind != expected:
        raise ValidationError(f"信令类型应为 {expected} (expected an SDP {expected}, got {kind!r})", field="type",
                              code="bad_sdp_type")
    if not isinstance(sdp, str) or not sdp.strip():
        raise ValidationError("缺少SDP (the SDP is missing)", field="sdp", code="sdp_missing")
    if len(sdp.encode()) > max_bytes:
        raise ValidationError(f"SDP过大，上限 {max_bytes} 字节 (the SDP is larger than {max_bytes} bytes)",
                              field="sdp", code="sdp_too_large")
    if not sdp.lstrip().startswith("v=0"):
        raise ValidationError("SDP格式错误：应以 v=0 开头 (malformed SDP: it must start with v=0)", field="sdp",
                              code="sdp_malformed")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # noqa: BLE001  (aiortc's parser raises whatever the bad line provokes)
        raise ValidationError(f"SDP格式错误，无法解析 (malformed SDP: {type(exc).__name__})", field="sdp",
                              code="sdp_malformed") from None
    if not description.media:
        raise ValidationError("SDP中没有音视频 (the SDP has no media section)", field="sdp", code="no_usable_media")
    for media in description.media:
        if media.kind in ("audio", "video") and (not media.ice.usernameFragment or not media.dtls):
            raise ValidationError("SDP缺少ICE或DTLS参数 (malformed SDP: ICE credentials or DTLS fingerprint missing)",
                                  field="sdp", code="sdp_malformed")
    return description


def check_publish_offer(sdp: object, kind: object, max_bytes: int) -> set[str]:
    """A publisher's offer: returns the kinds (audio, video) it sends in a codec we decode."""
    description = parse(sdp, kind, expected="offer", max_bytes=max_bytes)
    usable = set()
    for media in description.media:
        if media.kind not in DECODABLE or media.port == 0 or media.direction not in ("sendonly", "sendrecv"):
            continue
        if any(codec.name.lower() in DECODABLE[media.kind] for codec in media.rtp.codecs):
            usable.add(media.kind)
    if not usable:
        raise ValidationError("发布的SDP中没有可用的音视频：需要发送方向的Opus音频或VP8/H.264视频 "
                              "(no usable media: the offer must send Opus audio or VP8/H.264 video)",
                              field="sdp", code="no_usable_media")
    return usable


def check_viewer_answer(sdp: object, kind: object, max_bytes: int) -> None:
    """A viewer's answer to the server's send-only offer: it must accept at least one section."""
    description = parse(sdp, kind, expected="answer", max_bytes=max_bytes)
    if not any(m.kind in DECODABLE and m.port != 0 and m.direction in ("recvonly", "sendrecv")
               for m in description.media):
        raise ValidationError("应答拒绝了全部音视频 (no usable media: the answer accepts no audio or video)",
                              field="sdp", code="no_usable_media")
