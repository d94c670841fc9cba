"""Canonical JSON: the one byte encoding of everything the platform signs.

Receipts (回执), guarantees, opening records, certificate requests and the bid envelope header are all
signed as bytes, so two programs (this Python code, the browser's JavaScript, an auditor's tool) must turn
the same value into the same bytes. The rules are those of RFC 8785 (JSON Canonicalization Scheme)
restricted to the types we need, which makes them a few lines of JavaScript
(``JSON.stringify`` with keys sorted):

- objects: keys sorted by their UTF-16 code units (what JavaScript's default sort does), no duplicates;
- no whitespace at all;
- strings: UTF-8, escaped exactly as ``JSON.stringify`` escapes them (``\\"``, ``\\\\``, ``\\b \\f \\n \\r
  \\t``, other controls as ``\\u00xx``, everything else literal); lone surrogates are refused;
- numbers: integers only, within ±(2**53 − 1) so JavaScript reads them exactly. Floats are refused: money
  is ``decimal.Decimal`` and is written as a JSON *string* in plain notation, exactly as given (quantize
  first to fix the scale);
- ``true``, ``false``, ``null``.

It also hosts ``CryptoError``, the base of every domain error in ``crypto/``, because this is the module
every other one imports.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


class CryptoError(Exception):
    """Base of the domain errors raised by ``crypto``: the message names the problem for the user.

    ``code`` is a stable machine name (for translations and API responses); ``str(error)`` is English.
    """

    code = "crypto_error"


class CanonicalJSONError(CryptoError):
    """A value that has no canonical encoding, or bytes that are not canonical JSON."""

    code = "canonical_json_invalid"


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _normalise(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise CanonicalJSONError(f"{path}: integer {value} is outside ±(2**53−1); write it as a string")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CanonicalJSONError(f"{path}: decimal {value} is not a finite number")
        return format(value, "f")
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed in signed data; use Decimal or an integer")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: object key {key!r} is not a string")
            out[key] = _normalise(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise CanonicalJSONError(f"{path}: type {type(value).__name__} cannot be signed; convert it first")


def _encode(value: Any, parts: list[str]) -> None:
    if isinstance(value, dict):
        parts.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                parts.append(",")
            parts.append(json.dumps(key, ensure_ascii=False))
            parts.append(":")
            _encode(value[key], parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    else:
        parts.append(json.dumps(value, ensure_ascii=False))


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 bytes of ``value`` (see the module docstring for the rules)."""
    parts: list[str] = []
    _encode(_normalise(value, "$"), parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("a string contains a lone surrogate, which is not valid UTF-8") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CanonicalJSONError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_float(text: str) -> Any:
    raise CanonicalJSONError(f"number {text} is not an integer")


def _refuse_constant(text: str) -> Any:
    raise CanonicalJSONError(f"{text} is not valid JSON")


def parse_canonical_json(data: bytes) -> Any:
    """Parse ``data`` and insist that it is exactly the canonical encoding of what it contains.

    Refusing every other spelling of the same value (spaces, key order, escapes, duplicate keys) means that
    a signature over the bytes and a program reading the value can never disagree about what was signed.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalJSONError(f"not valid UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_refuse_float,
                           parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CanonicalJSONError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if canonical_json(value) != data:
        raise CanonicalJSONError("valid JSON but not in canonical form (key order, spacing or escaping differ)")
    return value


def format_utc(moment: datetime) -> str:
    """Format an aware datetime as JavaScript's ``Date.toISOString()`` does: ``2026-03-01T02:00:00.000Z``.

    Millisecond precision because deadlines are decided to the millisecond (09:59:59.999 is in time).
    """
    if moment.tzinfo is None:
        raise CanonicalJSONError("a naive datetime cannot be signed; give it a timezone (UTC)")
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc(text: str) -> datetime:
    """Parse the format of :func:`format_utc` back into an aware UTC datetime (strictly)."""
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError) as exc:
        raise CanonicalJSONError(f"time {text!r} is not in the form 2026-03-01T02:00:00.000Z") from exc
    if format_utc(moment) != text:
        raise CanonicalJSONError(f"time {text!r} is not in the form 2026-03-01T02:00:00.000Z")
    return moment
