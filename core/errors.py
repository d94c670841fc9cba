"""Domain errors: every refusal carries a stable code and a message a user can act on.

Views turn them into a flash message or a JSON error (HTTP 4xx); they never become a 500.
"""
from __future__ import annotations


class DomainError(Exception):
    """A refused request. ``field`` names the form field at fault, when there is one."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        if status:
            self.status = status

    def to_json(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class ValidationError(DomainError):
    status = 422
    code = "validation_failed"


class RuleViolation(DomainError):
    """A statutory or configured rule blocks the act; the message names the rule."""

    status = 409
    code = "rule_violated"


class InvalidTransition(DomainError):
    status = 409
    code = "invalid_transition"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
