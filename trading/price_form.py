"""Validating a filled price form (开标一览表) against the section's field definitions.

Pure: used by bidtool before sealing, and by the platform when the opening reads a bid's form. The field
definitions are the dicts of ``PriceFormField.as_dict()`` (key, label, type, required, options).
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any


class PriceFormInvalid(ValueError):
    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("；".join(f"{key}: {message}" for key, message in problems))


def _money(text: str) -> str:
    amount = Decimal(text.replace(",", "").replace("，", "").strip())
    if not amount.is_finite() or amount <= 0:
        raise ValueError("金额应大于0 (amount must be positive)")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("金额最多两位小数 (at most two decimals)")
    return f"{amount:.2f}"


def _integer(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise ValueError("应为整数 (a whole number)")
    return int(text)


def _decimal(text: str) -> str:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise ValueError("应为数值 (a number)")
    return str(value)


def validate_price_form(fields: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised values, or raise PriceFormInvalid naming every field at fault."""
    problems: list[tuple[str, str]] = []
    clean: dict[str, Any] = {}
    known = {f["key"] for f in fields}
    for key in values:
        if key not in known:
            problems.append((key, "开标一览表中没有这个字段 (not a field of the price form)"))
    for field in fields:
        key, label = field["key"], field["label"]
        raw = values.get(key)
        text = "" if raw is None else str(raw).strip()
        if not text:
            if field.get("required", True):
                problems.append((key, f"{label}：必填 (required)"))
            continue
        try:
            kind = field["type"]
            if kind == "money":
                clean[key] = _money(text)
            elif kind == "integer":
                clean[key] = _integer(text)
            elif kind == "decimal":
                clean[key] = _decimal(text)
            elif kind == "date":
                clean[key] = date.fromisoformat(text).isoformat()
            elif kind == "choice":
                options = field.get("options") or []
                if text not in options:
                    raise ValueError(f"应为以下之一：{'、'.join(options)} (one of the options)")
                clean[key] = text
            else:
                if len(text) > 500:
                    raise ValueError("不超过500字 (at most 500 characters)")
                clean[key] = text
        except (ValueError, InvalidOperation) as exc:
            message = str(exc) if isinstance(exc, ValueError) and str(exc) else "格式不正确 (malformed)"
            problems.append((key, f"{label}：{message}"))
    if problems:
        raise PriceFormInvalid(problems)
    return clean
