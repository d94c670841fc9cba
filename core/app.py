"""The application factory."""
from __future__ import annotations

import importlib
import logging
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, g, jsonify, render_template, request, session
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from core.config import Settings
from core.errors import DomainError
from core.extensions import babel, csrf, db, limiter, login_manager, socketio

ROOT = Path(__file__).resolve().parent.parent

#: Blueprints of pages, one per domain package (``<module>.bp``).
BLUEPRINTS = ["core.auth", "core.admin", "trading.views", "evaluation.expert_views", "evaluation.draw_views",
              "evaluation.media.views", "trading.bid_views", "guarantees.views", "guarantees.issuer_views",
              "evaluation.room_views", "supervision.views", "supervision.award_views"]
#: Modules declaring JSON API operations with ``core.api.registry.route``.
API_MODULES = ["trading.api", "trading.bid_api", "core.pki_api", "trading.opening_api", "evaluation.draw_api", "evaluation.expert_api",
               "guarantees.api", "guarantees.issuer_api", "evaluation.evaluation_api", "supervision.api"]
#: Modules registering Socket.IO handlers.
EVENT_MODULES = ["trading.opening_events", "evaluation.room_events"]


def create_app(test_config: dict | None = None) -> Flask:
    test_config = dict(test_config or {})
    settings = Settings.from_env(test_config.pop("settings", None))
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(settings.instance_dir))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        STORAGE_DIR=str(settings.storage_dir),
        REDIS_URL=settings.redis_url,
        REDIS_NAMESPACE=settings.redis_namespace,
        ACCELERATOR=settings.accelerator,
        CLOCKS=settings.clocks,
        LOGIN_RATE_LIMIT=settings.login_rate_limit,
        MAX_CONTENT_LENGTH=settings.clocks.max_document_bytes + 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
    )
    app.config.update(test_config)

    db.init_app(app)
    _sqlite_pragmas(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=lambda: session.get("lang", "zh"))
    limiter.init_app(app)
    socketio.init_app(app, message_queue=settings.redis_url, channel=f"{settings.redis_namespace}-socketio",
                      cors_allowed_origins=[],
                      logger=False, engineio_logger=False)

    from core import api, auth, filters

    auth.init_app(app)
    filters.init_app(app)
    for module_name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module_name).bp)
    for module_name in API_MODULES:
        importlib.import_module(module_name)  # declares its operations on the API blueprint
    app.register_blueprint(api.bp)
    for module_name in EVENT_MODULES:
        importlib.import_module(module_name)

    from core import cli

    cli.init_app(app)

    @app.before_request
    def _csrf_unless_token():
        # CSRF guards what a cookie authenticates. An API call with a bearer token, a signature (issuers) or no
        # session cookie at all (token requests, challenges) carries no ambient credential to abuse.
        cookie_less_api = request.path.startswith("/api/") and (
            request.headers.get("Authorization", "").startswith("Bearer ")
            or app.config["SESSION_COOKIE_NAME"] not in request.cookies)
        if (app.config.get("WTF_CSRF_ENABLED", True) and request.method not in ("GET", "HEAD", "OPTIONS")
                and not cookie_less_api):
            csrf.protect()

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        db.session.rollback()
        if _wants_json():
            return jsonify(error.to_json()), error.status
        return render_template("error.html", message=error.message, status=error.status), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if _wants_json():
            return jsonify({"error": {"code": error.name.lower().replace(" ", "_"), "message": error.description}}), error.code
        return render_template("error.html", message=error.description, status=error.code), error.code

    @app.context_processor
    def _globals():
        lang = session.get("lang", "zh")
        return {"accelerator": app.config["ACCELERATOR"], "lang": lang,
                "pun": filters.PUNCTUATION.get(lang, filters.PUNCTUATION["zh"])}

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(app: Flask) -> None:
    """SQLite: WAL, foreign keys, and BEGIN IMMEDIATE so concurrent writers queue instead of failing.

    Every request may append to the audit chain (read-then-write); a deferred SQLite transaction could not
    upgrade its lock under concurrency. PostgreSQL needs none of this: it locks the chain head row.
    """
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
