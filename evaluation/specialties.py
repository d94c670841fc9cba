"""The specialty catalogue of the expert pool (评标专家专业分类) and the professional titles (职称).

Codes are hierarchical: a class letter (A 工程, B 经济, C 货物, D 服务), a two-digit group (A04 交通运输工程)
and a two-digit specialty (A0401 公路路基路面). An expert holds specialty codes (the leaves); a draw quota
may name any level, and ``A04`` covers every ``A04xx`` (docs/draw.md §4.1, ``PoolEntry.matches``). The
catalogue is data (``evaluation/data/specialties.json``) so a province can ship its own classification.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import ValidationError

CATALOGUE_FILE = Path(__file__).parent / "data" / "specialties.json"
CODE = re.compile(r"^[A-Z](\d{2}(\d{2})?)?$")


@dataclass(frozen=True)
class Specialty:
    code: str
    name: str
    name_en: str
    level: int  # 1 class, 2 group, 3 specialty

    @property
    def is_leaf(self) -> bool:
        return self.level == 3


@dataclass(frozen=True)
class Title:
    code: str
    name: str
    name_en: str


@lru_cache(maxsize=1)
def _catalogue() -> tuple[dict[str, Specialty], dict[str, Title]]:
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    codes: dict[str, Specialty] = {}
    for cls in data["classes"]:
        codes[cls["code"]] = Specialty(cls["code"], cls["name"], cls["name_en"], 1)
        for group in cls["groups"]:
            codes[group["code"]] = Specialty(group["code"], group["name"], group["name_en"], 2)
            for item in group["specialties"]:
                codes[item["code"]] = Specialty(item["code"], item["name"], item["name_en"], 3)
    titles = {t["code"]: Title(t["code"], t["name"], t["name_en"]) for t in data["titles"]}
    return codes, titles


def specialties() -> dict[str, Specialty]:
    """Every code of the catalogue, classes and groups included, in catalogue order."""
    return _catalogue()[0]


def leaf_codes() -> list[str]:
    return [code for code, s in specialties().items() if s.is_leaf]


def titles() -> dict[str, Title]:
    return _catalogue()[1]


def specialty_name(code: str) -> str:
    """``A0401`` → ``交通运输工程/公路路基路面``; an unknown code is shown as it is."""
    codes = specialties()
    parts = [codes[code[:n]].name for n in (3, 5) if len(code) >= n and code[:n] in codes]
    return "/".join(parts) or (codes[code].name if code in codes else code)


def validate_specialty(code: str, field: str = "specialty", *, leaf: bool = False) -> str:
    """A catalogue code; ``leaf`` asks for a specialty an expert can hold rather than a class or a group."""
    code = (code or "").strip().upper()
    if not CODE.match(code) or code not in specialties():
        raise ValidationError(f"专业代码“{code}”不在专业分类目录中 (unknown specialty code {code!r})", field=field)
    if leaf and not specialties()[code].is_leaf:
        raise ValidationError(f"专业代码“{code}”是大类或类别，专家须登记到具体专业，如 {code}01…"
                              f" (register an expert under a specialty, not the class or group {code})", field=field)
    return code


def validate_title(code: str, field: str = "title") -> str:
    code = (code or "").strip()
    if code in titles():
        return code
    by_name = {t.name: t.code for t in titles().values()}
    if code in by_name:
        return by_name[code]
    raise ValidationError(f"未知的职称“{code}” (unknown professional title)", field=field)


def title_name(code: str) -> str:
    title = titles().get(code)
    return title.name if title else code


def specialty_choices(*, leaves_only: bool = False) -> list[tuple[str, str]]:
    """(code, "code name") pairs for a select box, indented by level."""
    indent = {1: "", 2: "　", 3: "　　"}
    return [(code, f"{indent[s.level]}{code} {s.name}") for code, s in specialties().items()
            if s.is_leaf or not leaves_only]
