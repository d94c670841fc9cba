"""The platform core: app factory, database, accounts and authentication, audit log, storage."""
from __future__ import annotations

from core.app import create_app

__all__ = ["create_app"]
