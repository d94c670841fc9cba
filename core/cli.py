"""Command-line entry points: ``flask --app wsgi audit verify``, ``db upgrade``, ``demo seed``."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from tqdm import tqdm

from core.db import db

audit_cli = AppGroup("audit", help="The tamper-evident audit log.")
db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Re-walk the hash chain; exit 1 naming the first record that was changed, removed or reordered."""
    from core.audit import AuditEvent, verify_chain

    total = db.session.query(AuditEvent).count()
    with tqdm(total=total, unit="rec", desc="verifying", file=sys.stderr, disable=total < 10_000) as bar:
        report = verify_chain(progress=bar.update)
    if report.ok:
        click.echo(f"audit chain OK: {report.checked} records")
        return
    click.echo(f"audit chain BROKEN at record {report.seq}: {report.problem}", err=True)
    sys.exit(1)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from core.migrate import upgrade

    upgrade()
    click.echo("database schema up to date")


def init_app(app: Flask) -> None:
    from demo.cli import demo_cli

    app.cli.add_command(audit_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(demo_cli)
