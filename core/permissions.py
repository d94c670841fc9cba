"""Role gates for views: one decorator per gate, each recorded on the view so a test can read the matrix.

Every endpoint must carry exactly one of these; ``tests/test_access_matrix.py`` walks the URL map and fails
on an endpoint without a rule. Object-level checks (``project.can_manage(user)``) come after the gate.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import abort, g, redirect, request, session, url_for
from flask_login import current_user

from core.accounts import Role

PUBLIC = "public"
SIGNED_IN = "signed_in"


def _gate(rule, check: Callable[[], bool]):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path))
            if not _second_factor_ok():
                if request.path.startswith("/api/"):
                    abort(401)
                return redirect(url_for("auth.second_factor", next=request.full_path))
            if not check():
                abort(403)
            return view(*args, **kwargs)

        wrapped.access_rule = rule
        return wrapped

    return decorator


def public(view):
    """Anyone, signed in or not."""
    view.access_rule = PUBLIC
    return view


def signed_in(view):
    """Any signed-in user; the object-level check follows in the view."""
    return _gate(SIGNED_IN, lambda: True)(view)


def roles(*allowed: Role):
    """Only users holding one of ``allowed`` roles."""
    return _gate(frozenset(allowed), lambda: current_user.role in allowed)


agents_only = roles(Role.AGENT)
bidders_only = roles(Role.BIDDER)
supervisors_only = roles(Role.SUPERVISOR)
admins_only = roles(Role.ADMIN)


def _second_factor_ok() -> bool:
    """Supervisors and admins act only after enrolling and presenting a second factor.

    A user who enrolled voluntarily must present it too. API tokens are issued only after both factors.
    """
    if not (current_user.needs_totp or current_user.has_totp):
        return True
    return g.get("authenticated_by_token", False) or session.get("second_factor") is True
