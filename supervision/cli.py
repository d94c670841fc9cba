"""Command line: ``flask --app wsgi supervision evaluate``, ``archive export|verify``, ``ocds export``.

The groups are registered on the supervision blueprint (``cli_group=None``), so they appear at the top level of
``flask`` without touching core/cli.py.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Blueprint
from flask.cli import AppGroup

from core.db import db

supervision_cli = AppGroup("supervision", help="Supervision: warnings and bid-rigging clues.")
archive_cli = AppGroup("archive", help="Electronic archive packages (电子档案).")
ocds_cli = AppGroup("ocds", help="Open data in the Open Contracting Data Standard.")


@supervision_cli.command("evaluate")
@click.option("--every", type=int, default=0, help="Repeat every N seconds (0: once).")
def evaluate(every: int) -> None:
    """Judge every supervision point of every section and update the warnings."""
    from supervision.warnings import evaluate_all

    while True:
        started = time.perf_counter()
        summary = evaluate_all()
        click.echo(f"{summary.sections} sections judged in {time.perf_counter() - started:.2f} s: "
                   f"{summary.raised} raised, {summary.changed} changed, {summary.cleared} cleared")
        if every <= 0:
            return
        time.sleep(every)


@supervision_cli.command("collusion")
@click.argument("section_code")
def collusion(section_code: str) -> None:
    """Run the bid-rigging analysis of one section (after its opening) and print the summary."""
    from core.errors import DomainError
    from supervision.collusion_evidence import run_analysis
    from trading.models import Section

    section = db.session.scalar(sa.select(Section).where(Section.code == section_code))
    if section is None:
        click.echo(f"no section {section_code}", err=True)
        sys.exit(2)
    try:
        analysis = run_analysis(section)
    except DomainError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    db.session.commit()
    report = analysis.data
    click.echo(f"{len(report['evidence'])} clues, {len(report['groups'])} groups, suspected: {analysis.suspected}")


def _project(reference: str):
    from trading.models import Project

    query = sa.select(Project).where(Project.code == reference)
    if reference.isdigit():
        query = sa.select(Project).where(sa.or_(Project.code == reference, Project.id == int(reference)))
    return db.session.scalar(query)


@archive_cli.command("export")
@click.argument("project")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the ZIP (default: <code>-archive.zip here).")
def archive_export(project: str, output: Path | None) -> None:
    """Write the archive package of PROJECT (its code or id)."""
    from supervision.archive import build

    found = _project(project)
    if found is None:
        click.echo(f"no project {project}", err=True)
        sys.exit(2)
    built = build(found, (output or Path(f"{found.code}-archive.zip")).resolve())
    click.echo(f"{built.path}: {len(built.files)} files, retention {built.manifest['retention']['class']}, "
               f"SHA-256 {built.sha256}")


@archive_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def archive_verify(file: Path) -> None:
    """Check an archive package's signature and every file's digest; exit 1 naming each problem."""
    from core.pki import platform
    from crypto.certificates import certificate_pem
    from supervision.archive import verify

    result = verify(file, certificate_pem(platform().ca.certificate))
    if result.ok:
        click.echo(f"archive OK: {len(result.manifest['files'])} files, signature valid "
                   f"({result.manifest['project']['code']})")
        return
    for problem in result.problems:
        click.echo(f"archive BROKEN: {problem}", err=True)
    sys.exit(1)


@ocds_cli.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("ocds-release-package.json"))
@click.option("--validate/--no-validate", default=True, help="Check against the bundled OCDS schema.")
def ocds_export(output: Path, validate: bool) -> None:
    """Write every published section as an OCDS 1.1 release package (bid extension)."""
    from supervision.ocds import release_package
    from supervision.ocds import validate as check

    package = release_package()
    output.write_text(json.dumps(package, ensure_ascii=False, indent=1))
    click.echo(f"{output}: {len(package['releases'])} releases")
    if validate:
        problems = check(package)
        for problem in problems:
            click.echo(f"invalid: {problem}", err=True)
        if problems:
            sys.exit(1)
        click.echo("valid against the OCDS 1.1 release package schema with the bid extension")


def register_commands(bp: Blueprint) -> None:
    for group in (supervision_cli, archive_cli, ocds_cli):
        bp.cli.add_command(group)
