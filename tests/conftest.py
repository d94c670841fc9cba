"""Shared fixtures: one app per session on SQLite (or PostgreSQL), data wiped between tests.

``BIDHALL_TEST_BACKEND=postgresql`` with ``TEST_DATABASE_URL`` runs the database tests on PostgreSQL; the
schema is built by the Alembic migrations, exactly as ``make run`` builds it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.factories import Factory

BACKEND = os.environ.get("BIDHALL_TEST_BACKEND", "sqlite")


def pytest_collection_modifyitems(config, items):
    # Every test that uses the database fixture is a database test: it runs on both backends.
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def instance_dir():
    path = Path(tempfile.mkdtemp(prefix="bidhall-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _database_url(instance: Path) -> str:
    if BACKEND == "postgresql":
        url = os.environ["TEST_DATABASE_URL"]
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
        return url
    return f"sqlite:///{instance / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _app(instance_dir):
    from core import create_app
    from core.db import db
    from core.migrate import upgrade

    os.environ.pop("BIDHALL_ACCELERATOR", None)
    url = _database_url(instance_dir)
    app = create_app({
        "settings": {"instance_dir": instance_dir, "database_url": url, "storage_dir": instance_dir / "storage",
                     "login_rate_limit": "1000 per minute", "secret_key": "test-secret-key-" + "x" * 32},
        "TESTING": True, "WTF_CSRF_ENABLED": False,
    })
    with app.app_context():
        if os.environ.get("BIDHALL_TEST_SCHEMA") == "create_all":
            # While a change adds models before their migration is written (see test_migrations).
            import core.all_models  # noqa: F401

            upgrade()
            db.create_all()
        else:
            upgrade()
        db.session.remove()
    return app


def wipe(app) -> None:
    from core.db import Base, db

    with app.app_context():
        engine = db.engine
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
                for table in tables:
                    conn.exec_driver_sql(f"DELETE FROM {table}")
                from core.audit import APPEND_ONLY_SQL

                for statement in APPEND_ONLY_SQL["sqlite"]:
                    conn.exec_driver_sql(statement)
        db.session.remove()


@pytest.fixture()
def app(_app):
    wipe(_app)
    from core.extensions import limiter

    limiter.reset()
    ctx = _app.app_context()
    ctx.push()
    yield _app
    from core.db import db

    db.session.remove()
    ctx.pop()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def factory(app):
    return Factory(app)


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Argon2 at its production cost dominates a suite that creates hundreds of users; tests use a light one."""
    from argon2 import PasswordHasher

    import core.accounts

    original = core.accounts._hasher
    core.accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    core.accounts._hasher = original


@pytest.fixture()
def release():
    """End the test thread's transaction before the browser acts.

    SQLite transactions here begin IMMEDIATE (see core.app), so a transaction left open by the test would
    hold the write lock that the live server's requests wait on. Read what you need first, then release.
    """
    from core.db import db

    def done():
        db.session.commit()
        db.session.remove()

    return done


@pytest.fixture()
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture()
def socket_client(app):
    """Flask-SocketIO test clients; afterwards the shared server is put back as real clients need it.

    The test client patches the process-wide Socket.IO server (packet sending, synchronous handlers); left
    patched, a later test's real python-socketio or browser client would never hear back.
    """
    from core.extensions import socketio

    made = []

    def make(flask_client):
        client = socketio.test_client(app, flask_test_client=flask_client)
        made.append(client)
        return client

    yield make
    for client in made:
        if client.is_connected():
            client.disconnect()
    server = socketio.server
    for name in ("_send_packet", "_send_eio_packet"):
        server.__dict__.pop(name, None)
    server.async_handlers = True
    server.eio.async_handlers = True
