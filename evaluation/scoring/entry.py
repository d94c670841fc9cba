"""Checking a score an expert types, before anything is stored.

Only subjective items are typed. Objective and price items are computed from the bid data and the
opening record, so a typed score for them is refused (issue 7, "Bad input"). A subjective score must
lie in the item's range and on its step, and a score at the very top or bottom of the range needs a
comment saying why (issue 7, "Scores").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .model import ItemKind, Method
from .rounding import to_decimal


class ScoreRejected(ValueError):
    """A typed score refused; ``code`` is stable for the caller, the message is for the expert."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AcceptedScore:
    item_id: str
    value: Decimal
    comment: str


def validate_subjective_score(method: Method, item_id: str, value: object,
                              comment: str = "") -> AcceptedScore:
    """Return the accepted score as an exact Decimal, or raise ``ScoreRejected``.

    Codes: ``unknown_item``, ``computed_item``, ``not_a_number``, ``out_of_range``, ``off_step``,
    ``comment_required``.
    """
    if item_id not in method.item_index:
        raise ScoreRejected("unknown_item", f"method {method.id} has no scoring item {item_id!r}")
    item = method.item(item_id)
    if item.kind is not ItemKind.SUBJECTIVE:
        raise ScoreRejected("computed_item", f"{item.label_zh} ({item.id}) is computed from the "
                            "bid data; it cannot be typed")
    try:
        score = to_decimal(value)
    except (TypeError, ValueError):
        raise ScoreRejected("not_a_number", f"{value!r} is not a number") from None
    if not item.minimum <= score <= item.maximum:
        raise ScoreRejected("out_of_range", f"{item.label_zh} ({item.id}) takes "
                            f"{item.minimum}–{item.maximum}; {score} is outside it")
    step = item.step or Decimal(1)
    if (score - item.minimum) % step != 0:
        raise ScoreRejected("off_step", f"{item.label_zh} ({item.id}) is scored in steps of "
                            f"{step} from {item.minimum}; {score} is not on a step")
    if score in (item.minimum, item.maximum) and not comment.strip():
        raise ScoreRejected("comment_required", f"{score} is at the "
                            f"{'top' if score == item.maximum else 'bottom'} of the range of "
                            f"{item.label_zh} ({item.id}); say why in a comment")
    return AcceptedScore(item_id=item_id, value=score, comment=comment.strip())
