"""Commands: ``flask --app wsgi draw verify <id>``, ``draw sweep``, and ``demo experts --count N``.

The ``draw`` commands hang on the draw blueprint's CLI group (evaluation.draw_views); ``demo experts`` joins
the existing ``demo`` group when this module is imported.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from core.db import db
from demo.cli import demo_cli


@click.command("verify")
@click.argument("draw_id", type=int)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the published record, for tools/verify_draw.py (published draws only).")
@with_appcontext
def verify_command(draw_id: int, output: Path | None) -> None:
    """Re-run a draw from its record against the audit log; exit 1 naming the first mismatch."""
    from evaluation.draw_models import Draw, DrawState
    from evaluation.draw_records import verify_draw

    draw = db.session.get(Draw, draw_id)
    if draw is None:
        raise click.ClickException(f"no draw {draw_id}")
    report = verify_draw(draw)
    for check in report.checks:
        click.echo(f"  ok  {check}")
    if not report.ok:
        click.echo(f"draw {draw_id} FAILED verification: {report.mismatch}", err=True)
        sys.exit(1)
    scope = "published record" if draw.state is DrawState.PUBLISHED else "sealed record (not yet published)"
    click.echo(f"draw {draw_id} verified: the {scope} re-runs to the same committee")
    if output is not None:
        if draw.state is not DrawState.PUBLISHED:
            raise click.ClickException("the record is written out only once it is published (after the award)")
        output.write_text(json.dumps(report.record, ensure_ascii=False, indent=1), encoding="utf-8")
        click.echo(f"record written to {output}")


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Time out unanswered notices past their deadline and draw the replacements (run it every minute)."""
    from evaluation.draw_confirmations import expire_overdue
    from evaluation.draw_models import Draw, DrawState

    total = 0
    for draw in db.session.scalars(sa.select(Draw).where(Draw.state.in_([DrawState.DRAWN, DrawState.COMPLETED]))):
        total += expire_overdue(draw)
        db.session.commit()
    click.echo(f"{total} notice(s) timed out and replaced")


@demo_cli.command("experts")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--seed", type=int, default=20261121, show_default=True, help="Random seed, for a repeatable pool.")
def experts_command(count: int, seed: int) -> None:
    """Generate a realistic expert pool (names, valid identity numbers, specialties, employers, history)."""
    from tqdm import tqdm

    from demo.experts import generate_pool

    with tqdm(total=count, unit="expert", desc="experts", file=sys.stderr) as bar:
        created = generate_pool(count, seed=seed, progress=bar.update)
    db.session.commit()
    click.echo(f"{created} experts added to the pool")
