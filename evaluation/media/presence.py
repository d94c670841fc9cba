"""Who is connected to which room, by Socket.IO connection: presence follows the connection, not ICE.

ICE consent takes about 30 s to notice a vanished peer; the Socket.IO connection notices in seconds and is
what decides whether a participant is present. One process keeps this registry (the embedded default);
running the media in several processes needs one room per process, see docs/media.md.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from core.errors import DomainError


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


@dataclass
class Connection:
    sid: str
    room_id: int
    user_id: int
    role: str
    offers: deque = field(default_factory=deque)

    def count_offer(self, burst: int, window_s: float) -> None:
        """A sliding window per connection: a flood of offers is refused before it costs any media work."""
        now = time.monotonic()
        while self.offers and now - self.offers[0] > window_s:
            self.offers.popleft()
        if len(self.offers) >= burst:
            raise RateLimited(f"信令请求过于频繁：{window_s:g} 秒内最多 {burst} 次 (too many offers: at most {burst} "
                              f"in {window_s:g} s; wait and retry)")
        self.offers.append(now)


class Presence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sid: dict[str, Connection] = {}

    def add(self, connection: Connection) -> list[str]:
        """Register a connection; returns the user's older connections to this room (the newest wins)."""
        with self._lock:
            older = [c.sid for c in self._by_sid.values()
                     if c.room_id == connection.room_id and c.user_id == connection.user_id]
            self._by_sid[connection.sid] = connection
            return older

    def get(self, sid: str) -> Connection | None:
        with self._lock:
            return self._by_sid.get(sid)

    def pop(self, sid: str) -> Connection | None:
        with self._lock:
            return self._by_sid.pop(sid, None)

    def is_present(self, room_id: int, user_id: int) -> bool:
        with self._lock:
            return any(c.room_id == room_id and c.user_id == user_id for c in self._by_sid.values())

    def sids_of(self, room_id: int, user_id: int | None = None) -> list[str]:
        with self._lock:
            return [c.sid for c in self._by_sid.values()
                    if c.room_id == room_id and (user_id is None or c.user_id == user_id)]

    def present_users(self, room_id: int) -> set[int]:
        with self._lock:
            return {c.user_id for c in self._by_sid.values() if c.room_id == room_id}

    def rooms(self) -> set[int]:
        with self._lock:
            return {c.room_id for c in self._by_sid.values()}
