"""Demo data, the secret key kept in instance/, the CLI."""
import sqlalchemy as sa

from core.accounts import Role, User
from core.audit import AuditEvent
from core.db import db
from trading.models import Project, SectionState


def test_demo_seed_is_idempotent_and_prints_the_logins(runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "demo data created" in first.output and "bidhall-demo-2026" in first.output
    counts = (db.session.scalar(sa.select(sa.func.count(Project.id))),
              db.session.scalar(sa.select(sa.func.count(User.id))),
              db.session.scalar(sa.select(sa.func.count(AuditEvent.seq))))
    second = runner.invoke(args=["demo", "seed"])
    assert "nothing changed" in second.output
    assert counts == (db.session.scalar(sa.select(sa.func.count(Project.id))),
                      db.session.scalar(sa.select(sa.func.count(User.id))),
                      db.session.scalar(sa.select(sa.func.count(AuditEvent.seq))))
    roles = set(db.session.scalars(sa.select(User.role)).all())
    assert roles == set(Role)
    works = db.session.scalar(sa.select(Project).where(Project.type == "works"))
    assert len(works.sections) == 2 and all(s.state is SectionState.BIDDING for s in works.sections)
    assert works.sections[1].bid_security_amount == 0  # 二标段: bond waived
    pdf = works.sections[0].current_documents[0].file.path.read_bytes()
    assert pdf.startswith(b"%PDF")
    from pathlib import Path

    from trading.bid_operations import officers_of

    assert len(officers_of(works.sections[0])) == 3 and works.sections[0].escrow_threshold == 2
    keys = Path(runner.app.instance_path) / "demo-keys" / "bidder1"
    assert (keys / "encryption-key.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    totp = runner.invoke(args=["demo", "totp", "supervisor"])
    assert totp.exit_code == 0 and totp.output.strip().isdigit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_the_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    from core.config import Settings

    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = Settings.from_env({"instance_dir": tmp_path}).secret_key
    again = Settings.from_env({"instance_dir": tmp_path}).secret_key
    assert first == again and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = tmp_path / "other"
    assert Settings.from_env({"instance_dir": other}).secret_key != first


def test_times_are_stored_in_utc_and_shown_in_beijing_time(app, factory):
    from core.clock import format_local

    project = factory.project()
    section = db.session.get(type(project.sections[0]), project.sections[0].id)
    assert section.deadline.utcoffset().total_seconds() == 0
    shown = format_local(section.deadline)
    assert int(shown[11:13]) == (section.deadline.hour + 8) % 24
