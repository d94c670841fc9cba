"""Configuration from the environment, with embedded defaults.

The embedded default needs nothing installed: a SQLite file and a storage folder under ``instance/``,
in-process Socket.IO. ``DATABASE_URL`` and ``REDIS_URL`` scale out with no code change.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


def _instance_dir() -> Path:
    path = Path(os.environ.get("BIDHALL_INSTANCE_DIR", Path(__file__).resolve().parent.parent / "instance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    """The session secret: from SECRET_KEY, else generated once and kept in instance/ (never a constant)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@dataclass(frozen=True)
class StatutoryClocks:
    """Publication clocks of rules.md §1 and §5, legal values as defaults (CTS-EBS01-2016; 招标投标法第24条).

    Durations are calendar days. They are compressed by the deadline accelerator like every other interval.
    """

    works_issue_to_deadline_days: int = 20
    issue_window_days: int = 5
    amendment_notice_days: int = 15
    invitation_min_invitees: int = 3
    #: Fewer bids than this at the opening and the tender fails (流标, 招标投标法实施条例第44条), per method.
    minimum_bids: dict = field(default_factory=lambda: {"open": 3, "invited": 3, "consultation": 3, "inquiry": 3})
    #: The platform rejects a file larger than this, for tender documents.
    max_document_bytes: int = 200 * 1024 * 1024


@dataclass
class Settings:
    instance_dir: Path
    database_url: str
    redis_url: str | None
    storage_dir: Path
    secret_key: str
    #: Deadline accelerator: every schedule interval is divided by this factor (1 = off).
    accelerator: int = 1
    clocks: StatutoryClocks = field(default_factory=StatutoryClocks)
    login_rate_limit: str = "10 per minute"
    #: Names this deployment's keys and channels on a shared Redis (BIDHALL_REDIS_NAMESPACE).
    redis_namespace: str = "bidhall"
    testing: bool = False

    @classmethod
    def from_env(cls, overrides: dict | None = None) -> "Settings":
        overrides = overrides or {}
        instance = Path(overrides.get("instance_dir") or _instance_dir())
        instance.mkdir(parents=True, exist_ok=True)
        values = dict(
            instance_dir=instance,
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'bidhall.sqlite3'}",
            redis_url=os.environ.get("REDIS_URL") or None,
            storage_dir=Path(os.environ.get("STORAGE_DIR") or instance / "storage"),
            secret_key=_secret_key(instance),
            accelerator=int(os.environ.get("BIDHALL_ACCELERATOR", "1")),
            login_rate_limit=os.environ.get("BIDHALL_LOGIN_RATE_LIMIT", "10 per minute"),
            redis_namespace=os.environ.get("BIDHALL_REDIS_NAMESPACE", "bidhall"),
        )
        values.update(overrides)
        settings = cls(**values)
        if settings.accelerator < 1:
            raise ValueError("BIDHALL_ACCELERATOR must be a whole number ≥ 1")
        settings.storage_dir.mkdir(parents=True, exist_ok=True)
        return settings


MONEY_QUANTUM = Decimal("0.01")
DISPLAY_TIMEZONE = "Asia/Shanghai"


def server_address() -> tuple[str, int]:
    """Where ``make run`` serves (BIDHALL_HOST, BIDHALL_PORT), and what the demo's bidtool folders point at."""
    return os.environ.get("BIDHALL_HOST", "127.0.0.1"), int(os.environ.get("BIDHALL_PORT", "5000"))


def server_url() -> str:
    host, port = server_address()
    return f"http://{host}:{port}"
