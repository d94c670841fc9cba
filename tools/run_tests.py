"""``make test``: the whole suite on SQLite, then the database tests again on PostgreSQL when reachable.

PostgreSQL is used when TEST_DATABASE_URL is set (CI sets it to the local server). A user's laptop without
PostgreSQL runs the SQLite pass alone and says so.
"""
from __future__ import annotations

import os
import subprocess
import sys


def reachable(url: str) -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", reported below
        print(f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}", flush=True)
        return False


def run(label: str, args: list[str], env: dict[str, str]) -> int:
    print(f"\n=== {label} ===", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def main() -> int:
    extra = sys.argv[1:]
    env = dict(os.environ)
    env.pop("TEST_DATABASE_URL", None)
    status = run("suite on SQLite", extra, env | {"BIDHALL_TEST_BACKEND": "sqlite"})
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        if not reachable(url):
            return 1
        status |= run("database tests on PostgreSQL", ["-m", "db", *extra],
                      env | {"BIDHALL_TEST_BACKEND": "postgresql", "TEST_DATABASE_URL": url})
    else:
        print("TEST_DATABASE_URL not set: the PostgreSQL pass was not run", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
