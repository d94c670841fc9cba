"""Validators for Chinese identifiers: unified social credit codes, GB/T 2260 regions, project codes."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from core.errors import ValidationError

# GB 32100-2015: 18 characters from this alphabet (no I, O, Z, S, V); the last is a check character.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    """The GB 32100-2015 check character: 31 − (Σ value × weight mod 31), with 31 written as 0."""
    total = sum(CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str, field: str = "credit_code") -> str:
    code = (code or "").strip().upper()
    if len(code) != 18:
        raise ValidationError(f"统一社会信用代码应为18位，收到{len(code)}位 (a credit code has 18 characters)", field=field)
    bad = [ch for ch in code if ch not in CREDIT_CODE_ALPHABET]
    if bad:
        raise ValidationError(f"统一社会信用代码含非法字符“{bad[0]}” (invalid character in credit code)", field=field)
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        raise ValidationError(
            f"统一社会信用代码校验位错误：应为“{expected}”，实为“{code[17]}” (check character should be {expected})", field=field
        )
    return code


def make_credit_code(first17: str) -> str:
    """Complete 17 characters into a valid credit code (used by the demo data and tests)."""
    return first17 + credit_code_check_character(first17)


@lru_cache(maxsize=1)
def regions() -> dict[str, str]:
    """GB/T 2260 region codes shipped with the platform (core/data/regions.json)."""
    return json.loads((Path(__file__).parent / "data" / "regions.json").read_text(encoding="utf-8"))


def validate_region(code: str, field: str = "region_code") -> str:
    code = (code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        raise ValidationError("行政区划代码应为6位数字 (GB/T 2260 region code: 6 digits)", field=field)
    if code not in regions():
        raise ValidationError(f"未知的行政区划代码 {code} (unknown GB/T 2260 region code)", field=field)
    return code


def region_name(code: str) -> str:
    """Province, city and county names joined, e.g. 福建省宁德市蕉城区."""
    names = regions()
    parts: list[str] = []
    for level in (code[:2] + "0000", code[:4] + "00", code):
        if level in names and names[level] not in parts:
            parts.append(names[level])
    return "".join(parts) or code


# E + GB/T 2260 region (6) + platform/agency code (4) + year and month (6) + serial (3),
# as in E3504219400202007001 (CTS-EBS01-2016 examples; rules.md §1).
PROJECT_CODE = re.compile(r"^E(?P<region>\d{6})(?P<platform>\d{4})(?P<year>\d{4})(?P<month>\d{2})(?P<serial>\d{3})$")


def validate_project_code(code: str, field: str = "code") -> str:
    code = (code or "").strip().upper()
    match = PROJECT_CODE.match(code)
    if not match:
        raise ValidationError(
            "项目编号格式应为 E + 6位行政区划 + 4位平台代码 + 年月(6位) + 3位序号，例如 E3504219400202007001 "
            "(project code format: E + region + platform + YYYYMM + serial)", field=field)
    if not 1 <= int(match["month"]) <= 12:
        raise ValidationError("项目编号中的月份无效 (invalid month in project code)", field=field)
    validate_region(match["region"], field=field)
    return code
