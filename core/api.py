"""The JSON API under /api/v1 and its OpenAPI document, generated from the same declarations as the routes.

Every operation is declared once with ``registry.route(...)``: the route, its summary and its schemas. The
OpenAPI document at /api/v1/openapi.json is built from those declarations, so it cannot drift from the code.
Errors are ``{"error": {"code": ..., "message": ..., "field": ...}}`` with a 4xx status.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from flask_login import current_user

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import ValidationError
from core.extensions import limiter
from core.notifications import Notification
from core.permissions import PUBLIC, public, signed_in

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
}


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    view: Callable
    request_schema: dict | None = None
    response_schema: dict | None = None
    request_content: str = "application/json"


@dataclass
class ApiRegistry:
    operations: list[Operation] = field(default_factory=list)

    def route(self, rule: str, method: str = "GET", *, summary: str, tag: str, request_schema: dict | None = None,
              response_schema: dict | None = None, request_content: str = "application/json"):
        def decorator(view):
            endpoint = view.__name__
            bp.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
            self.operations.append(Operation(rule, method, endpoint, summary, tag, view, request_schema,
                                             response_schema, request_content))
            return view

        return decorator

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, dict] = {}
        for op in self.operations:
            path = "/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", op.rule)
            params = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer" if conv == "int" else "string"}}
                      for conv, name in re.findall(r"<(?:(\w+):)?(\w+)>", op.rule)]
            access = getattr(op.view, "access_rule", None)
            entry: dict[str, Any] = {
                "operationId": op.endpoint, "summary": op.summary, "tags": [op.tag], "parameters": params,
                "x-access": access if isinstance(access, str) else sorted(r.value for r in access),
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": op.response_schema or {"type": "object"}}}},
                    "4XX": {"description": "Refused", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
                },
            }
            if access != PUBLIC:
                entry["security"] = [{"bearer": []}]
            if op.request_schema is not None:
                entry["requestBody"] = {"required": True, "content": {op.request_content: {"schema": op.request_schema}}}
            paths.setdefault(path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": "bidhall API", "version": "1", "description":
                     "电子招标投标交易平台接口 (bidhall electronic tendering platform API)"},
            "servers": [{"url": "/"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                           "schemas": {"Error": ERROR_SCHEMA}},
            "paths": paths,
        }


registry = ApiRegistry()


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象 (the request body must be a JSON object)")
    return body


@registry.route("/openapi.json", summary="This OpenAPI document", tag="platform")
@public
def openapi():
    return jsonify(registry.openapi())


@registry.route("/time", summary="The server clock, which decides every deadline", tag="platform",
                response_schema={"type": "object", "properties": {"now": {"type": "string", "format": "date-time"},
                                                                    "accelerator": {"type": "integer"}}})
@public
def server_time():
    from flask import current_app

    return jsonify({"now": now().isoformat(timespec="milliseconds"), "accelerator": current_app.config["ACCELERATOR"]})


TOKEN_REQUEST = {"type": "object", "required": ["username", "password"], "properties": {
    "username": {"type": "string"}, "password": {"type": "string"}, "totp": {"type": "string"},
    "label": {"type": "string"}}}


def _rate():
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


@registry.route("/tokens", "POST", summary="Exchange a password (and one-time code) for a bearer token", tag="platform",
                request_schema=TOKEN_REQUEST,
                response_schema={"type": "object", "properties": {"token": {"type": "string"}, "expires_in_days": {"type": "integer"}}})
@public
@limiter.limit(_rate)
def create_token():
    from core.auth import TOKEN_LIFETIME, issue_token

    body = json_body()
    user = db.session.scalar(sa.select(User).where(User.username == str(body.get("username", ""))))
    if user is None or not user.active or not user.check_password(str(body.get("password", ""))):
        audit.record("user.login_failed", object_type="users", object_id=user.id if user else None,
                     username=str(body.get("username", ""))[:64], via="api")
        db.session.commit()
        return jsonify({"error": {"code": "unauthorized", "message": "用户名或密码错误 (wrong username or password)"}}), 401
    if user.has_totp or user.needs_totp:
        if not user.has_totp:
            return jsonify({"error": {"code": "second_factor_required",
                                      "message": "请先在网页上启用动态口令 (enrol a TOTP authenticator first)"}}), 401
        if not user.check_totp(str(body.get("totp", ""))):
            db.session.commit()
            return jsonify({"error": {"code": "second_factor_required", "field": "totp",
                                      "message": "动态口令错误或已使用 (wrong or reused one-time code)"}}), 401
    token = issue_token(user, str(body.get("label", "api")))
    db.session.commit()
    return jsonify({"token": token, "expires_in_days": TOKEN_LIFETIME.days})


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role.value,
            "organisation": None if user.organisation is None else {
                "id": user.organisation.id, "name": user.organisation.name, "kind": user.organisation.kind.value,
                "credit_code": user.organisation.credit_code}}


@registry.route("/me", summary="The signed-in user", tag="platform")
@signed_in
def me():
    return jsonify(user_json(current_user))


@registry.route("/notifications", summary="My in-platform notices, newest first", tag="platform")
@signed_in
def notifications():
    rows = db.session.scalars(sa.select(Notification).where(Notification.user_id == current_user.id)
                              .order_by(Notification.id.desc()).limit(200)).all()
    return jsonify({"notifications": [{"id": n.id, "title": n.title, "body": n.body, "link": n.link,
                                       "created_at": n.created_at.isoformat(), "read": n.read_at is not None}
                                      for n in rows]})


