"""The media process model: aiortc on its own asyncio loop thread beside Flask-SocketIO's threads.

Flask-SocketIO runs in ``threading`` mode (no eventlet or gevent beside aiortc: they patch the socket and
thread modules aiortc relies on). Socket.IO handlers are plain threads; they hand their work to this loop
with :func:`call`, which waits for the answer with a timeout, so a stuck peer connection can never hold a
handler thread for ever.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from core.errors import DomainError

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


class MediaTimeout(DomainError):
    status = 504
    code = "media_timeout"


def loop() -> asyncio.AbstractEventLoop:
    """The one media loop of this process, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            ready = threading.Event()
            new_loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(new_loop)
                ready.set()
                new_loop.run_forever()

            threading.Thread(target=run, name="bidhall-media-loop", daemon=True).start()
            ready.wait()
            _loop = new_loop
        return _loop


def submit(coro: Awaitable[Any]) -> Future:
    """Start ``coro`` on the media loop without waiting (a worker answers when it completes)."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def call(coro: Awaitable[Any], timeout: float) -> Any:
    """Run ``coro`` on the media loop and wait for its result (from a handler thread, never from the loop)."""
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result(timeout)
    except FutureTimeout:
        future.cancel()
        raise MediaTimeout("媒体服务器响应超时，请重试 (the media server did not answer in time; try again)") from None


def use_host_addresses(hosts: Iterable[str]) -> None:
    """Offer exactly these addresses as ICE host candidates.

    aioice gathers every interface address but never 127.0.0.1; a closed evaluation network (and every test)
    needs the opposite: a fixed, configured list. Loopback works with Chromium, which reaches it from its own
    host candidates as a peer-reflexive pair.
    """
    addresses = list(hosts)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured


def rtc_configuration(ice_servers: Iterable[dict]) -> RTCConfiguration:
    """Always an explicit list, possibly empty: aiortc's default would try a public STUN server."""
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
               for s in ice_servers]
    return RTCConfiguration(iceServers=servers)
