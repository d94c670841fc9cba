"""``flask --app wsgi demo seed``, ``demo journey`` (journey steps 3–5 on a tender of its own) and
``demo totp USER``."""
from __future__ import annotations

import click
import pyotp
import sqlalchemy as sa
from flask.cli import AppGroup

from core.config import server_url
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
               f"  .venv/bin/bidtool --home instance/demo-keys/bidder1 login --server {server_url()} "
               "--username bidder1\n"
               "the supervisor opens a drawn expert list, sealed to its key until the evaluation starts, with\n"
               "  .venv/bin/bidtool --home instance/demo-keys/supervisor draw-list <draw id>  "
               "(after logging in with --totp)")
    click.echo("演示开标：.venv/bin/flask --app wsgi demo journey 在一分钟内走完旅程第3–5步（保函、加密投标、不见面开标），"
               "之后可在浏览器中抽取专家、评标\n"
               "  (plays the story up to a finished opening on a new tender in under a minute; then draw the experts "
               "and evaluate in the browser)")


@demo_cli.command("journey")
@click.option("--accelerator", type=click.IntRange(1440, None), default=172800, show_default=True,
              help="Deadline accelerator of the publication step only: 21 statutory days last 1814400/N seconds.")
@click.option("--bid-kib", type=click.IntRange(4, 64 * 1024), default=48, show_default=True,
              help="Size of each bid's documents, in KiB.")
def journey_command(accelerator: int, bid_kib: int) -> None:
    """Play journey steps 3–5 on a new demo tender: security, sealed bids, the online opening (after the seed)."""
    from core.errors import DomainError
    from demo.journey import JourneyError, elapsed, next_steps, play

    try:
        result = play(accelerator=accelerator, bid_bytes=bid_kib * 1024, echo=click.echo)
    except (JourneyError, DomainError) as exc:
        db.session.rollback()
        raise click.ClickException(getattr(exc, "message", str(exc))) from None
    click.echo(f"演示开标完成：{result.project_code} 标段 {result.section_code}，用时 {elapsed(result.seconds)} "
               f"(the journey tender is opened and under evaluation)")
    for line in next_steps(result):
        click.echo("  " + line)


@demo_cli.command("totp")
@click.argument("username")
def totp_command(username: str) -> None:
    """Print the current one-time code of a demo user whose TOTP secret the demo enrolled."""
    from core.accounts import User

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.has_totp:
        raise click.ClickException(f"no user {username!r} with a second factor")
    click.echo(pyotp.TOTP(user.totp_secret()).now())
