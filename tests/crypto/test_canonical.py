"""Canonical JSON must give the bytes JavaScript's JSON.stringify gives with sorted keys (RFC 8785 subset)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from crypto.canonical import CanonicalJSONError, canonical_json, format_utc, parse_canonical_json, parse_utc


def test_keys_sorted_without_whitespace_and_chinese_kept_literal():
    value = {"price": Decimal("1234567.80"), "bidder": "福州某某建设", "sizes": [3, 1, 2], "ok": True,
             "note": None}
    assert canonical_json(value) == ('{"bidder":"福州某某建设","note":null,"ok":true,"price":"1234567.80",'
                                     '"sizes":[3,1,2]}').encode("utf-8")


def test_keys_sort_by_utf16_code_units_like_javascript():
    # U+FF5E sorts after U+1F600 in UTF-16 (0xFF5E > 0xD83D) but before it by code point.
    value = {"\U0001f600": 1, "\uff5e": 2, "a": 3}
    assert canonical_json(value) == '{"a":3,"\U0001f600":1,"\uff5e":2}'.encode("utf-8")


def test_string_escapes_match_json_stringify():
    text = 'q"b\\s/\b\f\n\r\t\x01\x1f\x7f\u2028é'
    assert canonical_json(text) == b'"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xe2\x80\xa8\xc3\xa9"'


@pytest.mark.parametrize("value, reason", [
    (1.5, "floats are not allowed"),
    (2**53, "outside"),
    (-(2**53), "outside"),
    (Decimal("NaN"), "not a finite number"),
    ({1: "x"}, "not a string"),
    (datetime(2026, 1, 1, tzinfo=timezone.utc), "cannot be signed"),
    ("\ud800", "lone surrogate"),
])
def test_values_without_a_canonical_form_are_refused(value, reason):
    with pytest.raises(CanonicalJSONError, match=reason):
        canonical_json({"field": value})


def test_decimal_is_a_plain_string_with_its_scale():
    assert canonical_json([Decimal("1E+3"), Decimal("0.10"), Decimal("-2")]) == b'["1000","0.10","-2"]'
    assert canonical_json(2**53 - 1) == b"9007199254740991"


def test_parse_round_trips_canonical_bytes():
    data = canonical_json({"b": [1, {"z": "中", "a": False}], "a": "x"})
    assert parse_canonical_json(data) == {"a": "x", "b": [1, {"a": False, "z": "中"}]}


@pytest.mark.parametrize("data, reason", [
    (b'{"b":1,"a":2}', "not in canonical form"),
    (b'{"a": 1}', "not in canonical form"),
    (b'"\\u00e9"', "not in canonical form"),
    (b'{"a":1,"a":1}', "duplicate key"),
    (b'{"a":1.0}', "not an integer"),
    (b'[NaN]', "not valid JSON"),
    (b'{"a":', "not valid JSON"),
    (b'"\xff"', "not valid UTF-8"),
])
def test_parse_refuses_every_other_spelling(data, reason):
    with pytest.raises(CanonicalJSONError, match=reason):
        parse_canonical_json(data)


def test_times_use_javascript_iso_format_to_the_millisecond():
    moment = datetime(2026, 3, 1, 9, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=8)))
    assert format_utc(moment) == "2026-03-01T01:59:59.999Z"
    assert parse_utc("2026-03-01T01:59:59.999Z") == datetime(2026, 3, 1, 1, 59, 59, 999_000, tzinfo=timezone.utc)
    for bad in ("2026-03-01T01:59:59Z", "2026-03-01 01:59:59.999Z", "2026-03-01T01:59:59.9990Z"):
        with pytest.raises(CanonicalJSONError):
            parse_utc(bad)
    with pytest.raises(CanonicalJSONError, match="naive"):
        format_utc(datetime(2026, 3, 1))
