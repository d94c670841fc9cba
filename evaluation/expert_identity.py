"""Experts' identity numbers and phone numbers: validated, and never stored in clear.

The resident identity number (公民身份号码, GB 11643-1999) is kept only as a keyed hash (HMAC-SHA256 under a
key derived from the application secret with HKDF) plus its last four characters for display: the platform can
still refuse a second registration of the same person, but a database dump reveals no number, and the keyed
hash cannot be reversed by trying the small space of valid numbers without the secret. Rotating SECRET_KEY
therefore needs the hashes recomputed from the source records. Mobile numbers are sealed (AES-GCM,
core.sealing_box) since the outbound-message hook must read them back.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from core.errors import ValidationError
from core.sealing_box import open_secret, seal_secret
from core.validators import regions

ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
#: GB 11643-1999 check character: weights 2^(17-i) mod 11, remainder mapped through this table (ISO 7064 MOD 11-2).
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: Experts must be adults; an expert born before this year is almost certainly a typing error.
EARLIEST_BIRTH_YEAR = 1930


def id_check_character(first17: str) -> str:
    return ID_CHECK[sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS, strict=False)) % 11]


def validate_id_number(value: str, field: str = "id_number", *, today: date | None = None) -> str:
    """An 18-character resident identity number: format, province, birth date and check character."""
    number = (value or "").strip().upper()
    if not ID_NUMBER.match(number):
        raise ValidationError(f"身份证号应为18位（前17位数字，末位数字或X），收到{len(number)}位 "
                              "(an identity number has 18 characters: 17 digits and a digit or X)", field=field)
    if number[:2] + "0000" not in regions():
        raise ValidationError(f"身份证号前两位“{number[:2]}”不是有效的省级行政区划代码 "
                              "(the first two digits must be a GB/T 2260 province)", field=field)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(f"身份证号中的出生日期“{number[6:14]}”无效 (invalid birth date in the identity number)",
                              field=field) from None
    today = today or date.today()
    if born.year < EARLIEST_BIRTH_YEAR or born > today.replace(year=today.year - 18):
        raise ValidationError(f"身份证号中的出生日期“{born.isoformat()}”不合理：专家须年满18周岁 "
                              "(implausible birth date: experts are adults)", field=field)
    expected = id_check_character(number[:17])
    if number[17] != expected:
        raise ValidationError(f"身份证号校验位错误：应为“{expected}”，实为“{number[17]}” "
                              f"(check character should be {expected})", field=field)
    return number


def make_id_number(first17: str) -> str:
    """Complete 17 digits into a valid identity number (demo data and tests)."""
    return first17 + id_check_character(first17)


def _hash_key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"bidhall expert identity numbers v1").derive(secret)


class IdNumberHasher:
    """Derives the key once, for bulk imports and the demo generator."""

    def __init__(self) -> None:
        self._key = _hash_key()

    def __call__(self, number: str) -> str:
        return hmac.new(self._key, number.encode(), hashlib.sha256).hexdigest()


def id_number_digest(number: str) -> str:
    return IdNumberHasher()(number)


def validate_mobile(value: str, field: str = "mobile") -> str:
    mobile = re.sub(r"[\s-]", "", value or "")
    if mobile.startswith("+86"):
        mobile = mobile[3:]
    if not MOBILE.match(mobile):
        raise ValidationError("手机号应为11位，以1开头 (a mainland mobile number: 11 digits starting with 1)", field=field)
    return mobile


def seal_mobile(mobile: str) -> str:
    return seal_secret(mobile)


def open_mobile(sealed: str | None) -> str | None:
    return open_secret(sealed) if sealed else None


def masked_mobile(mobile: str | None) -> str:
    return f"{mobile[:3]}****{mobile[-4:]}" if mobile else ""
