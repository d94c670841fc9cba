"""Jinja filters: times in Beijing time, money in CNY."""
from __future__ import annotations

from decimal import Decimal

from core.clock import format_local
from core.validators import region_name


def money(value) -> str:
    if value is None:
        return ""
    return f"¥{Decimal(value):,.2f}"


def init_app(app) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["region"] = region_name
