"""``flask --app wsgi demo seed`` and ``flask --app wsgi demo totp USER``."""
from __future__ import annotations

import click
import pyotp
import sqlalchemy as sa
from flask.cli import AppGroup

from core.db import db

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
def seed_command() -> None:
    """Create the demo organisations, users and tenders; running it twice changes nothing."""
    from demo.seed import DEMO_PASSWORD, seed

    created = seed()
    db.session.commit()
    click.echo("demo data created" if created else "demo data already present: nothing changed")
    click.echo(f"demo logins (password for all: {DEMO_PASSWORD}):")
    from demo.seed import login_table

    for line in login_table():
        click.echo("  " + line)
    click.echo("bidtool key folders of the demo holders (key password as above): instance/demo-keys/<user>, e.g.\n"
               "  .venv/bin/bidtool --home instance/demo-keys/bidder1 login --server http://127.0.0.1:5000 "
               "--username bidder1\n"
               "the supervisor opens a drawn expert list, sealed to its key until the evaluation starts, with\n"
               "  .venv/bin/bidtool --home instance/demo-keys/supervisor draw-list <draw id>  "
               "(after logging in with --totp)")


@demo_cli.command("totp")
@click.argument("username")
def totp_command(username: str) -> None:
    """Print the current one-time code of a demo user whose TOTP secret the demo enrolled."""
    from core.accounts import User

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.has_totp:
        raise click.ClickException(f"no user {username!r} with a second factor")
    click.echo(pyotp.TOTP(user.totp_secret()).now())
