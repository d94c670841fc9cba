"""The server clock, the display zone and the deadline accelerator.

The server clock decides every deadline. The accelerator (as in Prozorro's sandbox) divides every statutory
interval by a factor, so a 20-day tender runs in minutes in a demo or a test. It is off (factor 1) by
default, and every page says when it is on.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app

from core.config import DISPLAY_TIMEZONE

SHANGHAI = ZoneInfo(DISPLAY_TIMEZONE)


def now() -> datetime:
    return datetime.now(timezone.utc)


def accelerator() -> int:
    return int(current_app.config.get("ACCELERATOR", 1))


def statutory(days: float = 0, *, hours: float = 0, minutes: float = 0) -> timedelta:
    """A legal interval as the platform applies it: real time divided by the accelerator factor."""
    return timedelta(days=days, hours=hours, minutes=minutes) / accelerator()


def local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(SHANGHAI) if moment else None


def format_local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return local(moment).strftime(fmt) if moment else ""


def parse_local(text: str) -> datetime:
    """Parse a time typed by a user in Beijing time (``2026-12-01 09:30`` or ISO ``2026-12-01T09:30``)."""
    text = (text or "").strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
        except ValueError:
            continue
    if text.endswith("Z") or "+" in text[10:]:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    raise ValueError(f"时间格式应为 YYYY-MM-DD HH:MM (time format YYYY-MM-DD HH:MM): {text!r}")
