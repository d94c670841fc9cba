"""Jinja filters: times in Beijing time, money in CNY; punctuation in the page's language."""
from __future__ import annotations

from decimal import Decimal

from core.clock import format_local
from core.validators import region_name


def money(value) -> str:
    if value is None:
        return ""
    return f"¥{Decimal(value):,.2f}"


#: What templates put between translated words and data (``{{ pun.colon }}``): full-width in Chinese pages,
#: ASCII with its spacing in English ones, so no Chinese punctuation is left outside ``_()``.
PUNCTUATION = {
    "zh": {"colon": "：", "lparen": "（", "rparen": "）", "sep": "、", "comma": "，", "semi": "；", "stop": "。"},
    "en": {"colon": ": ", "lparen": " (", "rparen": ")", "sep": ", ", "comma": ", ", "semi": "; ", "stop": ". "},
}


def init_app(app) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["region"] = region_name
