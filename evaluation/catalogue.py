"""The evaluation methods a section can name: the templates under ``evaluation/methods/``, one file each."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from core.errors import ValidationError

METHODS_DIR = Path(__file__).parent / "methods"


@lru_cache(maxsize=1)
def method_titles() -> dict[str, str]:
    """Method key (the file's stem) → its Chinese title."""
    titles = {}
    for path in sorted(METHODS_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        meta = data.get("method", data)
        titles[path.stem] = str(meta.get("name_zh") or meta.get("name") or meta.get("title") or path.stem)
    return titles


def validate_method_key(key: str) -> str:
    key = (key or "").strip()
    if key not in method_titles():
        raise ValidationError(f"未知的评标办法 {key!r} (unknown evaluation method)", field="evaluation_method")
    return key
