"""The evaluation methods a section can name: the templates under ``evaluation/methods/``, one file each."""
from __future__ import annotations

from functools import lru_cache

from core.errors import ValidationError
from evaluation.scoring import load_methods


@lru_cache(maxsize=1)
def method_titles() -> dict[str, str]:
    """Method key (the template's id) → its Chinese name; the templates are validated as they load."""
    return {key: method.name_zh for key, method in sorted(load_methods().items())}


def validate_method_key(key: str) -> str:
    key = (key or "").strip()
    if key not in method_titles():
        raise ValidationError(f"未知的评标办法 {key!r} (unknown evaluation method)", field="evaluation_method")
    return key
