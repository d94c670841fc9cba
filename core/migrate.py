"""Alembic, driven from the app's configuration."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import current_app

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", current_app.config["SQLALCHEMY_DATABASE_URI"].replace("%", "%%"))
    return config


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)
