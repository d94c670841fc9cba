"""Media settings from the environment, with embedded defaults that keep every packet on this machine.

``BIDHALL_MEDIA_HOSTS``: comma-separated addresses the media server offers as ICE host candidates
(default ``127.0.0.1``: aioice never offers loopback by itself, and the embedded default must not reach out).
``BIDHALL_MEDIA_ICE_SERVERS``: a JSON list of ICE servers (``[{"urls": "turn:…", "username": …,
"credential": …}]``) given to the browsers and to the server; empty by default, because aiortc otherwise tries
a public STUN server that is not reachable from a closed evaluation network.
``BIDHALL_MEDIA_WORKERS``: empty (the default) runs every room's media in the web process; ``redis`` hands each
room to a media worker process (``flask --app wsgi media worker``) reached through ``REDIS_URL``;
``BIDHALL_MEDIA_LEASE``: seconds after which a dead worker's rooms are free for another (default 15).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaSettings:
    hosts: tuple[str, ...] = ("127.0.0.1",)
    ice_servers: tuple[dict, ...] = ()
    #: Every camera is scaled to this size before the one encode, so every viewer and recording gets one size.
    camera_size: tuple[int, int] = (640, 360)
    screen_size: tuple[int, int] = (1280, 720)
    camera_bitrate: int = 600_000
    screen_bitrate: int = 1_200_000
    audio_bitrate: int = 32_000
    #: Pre-encoded senders ignore keyframe requests, so a short interval bounds how long a lost frame lasts.
    keyframe_interval_s: float = 2.0
    max_sdp_bytes: int = 32 * 1024
    #: Offers (publish) plus subscriptions a connection may send in ``offer_window_s`` seconds.
    offer_burst: int = 20
    offer_window_s: float = 10.0
    #: How long a Socket.IO handler waits for the media loop.
    timeout_s: float = 15.0
    max_streams_per_member: int = 2
    #: "" = every room's media in this process; "redis" = each room in a media worker process.
    workers: str = ""
    #: A worker holds a room while it renews this lease; a dead worker's rooms are free again after it.
    lease_s: float = 15.0
    #: A worker lets go of a room that has had no stream and no viewer for this long.
    idle_release_s: float = 60.0

    @classmethod
    def from_env(cls) -> MediaSettings:
        hosts = tuple(h.strip() for h in os.environ.get("BIDHALL_MEDIA_HOSTS", "127.0.0.1").split(",") if h.strip())
        servers = json.loads(os.environ.get("BIDHALL_MEDIA_ICE_SERVERS") or "[]")
        if not isinstance(servers, list) or not all(isinstance(s, dict) and s.get("urls") for s in servers):
            raise ValueError("BIDHALL_MEDIA_ICE_SERVERS must be a JSON list of {urls, username?, credential?}")
        workers = os.environ.get("BIDHALL_MEDIA_WORKERS", "").strip().lower()
        if workers not in ("", "redis"):
            raise ValueError("BIDHALL_MEDIA_WORKERS is either empty (media in the web process) or 'redis'")
        return cls(hosts=hosts or ("127.0.0.1",), ice_servers=tuple(servers), workers=workers,
                   keyframe_interval_s=float(os.environ.get("BIDHALL_MEDIA_KEYFRAME_INTERVAL", "2")),
                   offer_burst=int(os.environ.get("BIDHALL_MEDIA_OFFER_BURST", "20")),
                   lease_s=float(os.environ.get("BIDHALL_MEDIA_LEASE", "15")))
