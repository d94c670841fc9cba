"""The one idiom of a form-posting view: run one operation, commit once, say how it went, go back."""
from __future__ import annotations

from typing import Callable

from flask import flash, redirect

from core.db import db
from core.errors import DomainError


def act_and_redirect(action: Callable[[], object], success: str | Callable[[object], str], target: str):
    """Run ``action``; on success commit and flash ``success`` (or ``success(result)``); on a refusal roll back
    and flash its message. Either way redirect to ``target``: nothing is half-saved."""
    try:
        result = action()
        db.session.commit()
        flash(success(result) if callable(success) else success, "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(target)
