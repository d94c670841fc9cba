"""Shared setup for the benchmarks that drive the app: a throwaway instance, a section with its opening
officers and enrolled bidders, sealed bids, and the app served in a separate process.

Setup takes the short way where it is not what is measured: users, organisations and certificates are made
with the operations in-process (the holder's keys are still generated on the holder's side and certified by
the platform CA), sessions and API tokens are issued directly instead of logging in with a password, and a
sealed bid is written straight into its upload's part file and finalised through the restart path of
``trading.bid_operations`` (the server rebuilds its keyless check from the part file, exactly as after a
crash). Moving a section to its deadline rewrites the deadline in the database, the way the tests move the
clock. What each benchmark measures goes over the real path: HTTP, Socket.IO or the opening operations.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1 << 20
PRICE_FORM = [
    {"key": "total_price", "label": "投标总价(元)", "type": "money"},
    {"key": "duration_days", "label": "工期(日历天)", "type": "integer"},
    {"key": "quality", "label": "质量标准", "type": "choice", "options": ["合格", "优良"]},
    {"key": "project_manager", "label": "项目经理", "type": "text"},
]
#: A method that draws the benchmark coefficient K at the opening, so the read-out includes the draw.
METHOD = "works_comprehensive_benchmark"
PASSWORD = "bench-password-never-used-1"


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} cores"


def progress(iterable, description: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=description, total=total, unit="", leave=False, dynamic_ncols=True)


# -- the instance --------------------------------------------------------------------------------------

class Instance:
    """A fresh instance folder under /tmp with a migrated SQLite database; removed on exit."""

    def __init__(self, prefix: str, directory: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=directory or "/tmp"))
        self.env = {"BIDHALL_INSTANCE_DIR": str(self.path),
                    "DATABASE_URL": f"sqlite:///{self.path / 'bidhall.sqlite3'}",
                    "STORAGE_DIR": str(self.path / "storage"),
                    "BIDHALL_ACCELERATOR": "1"}
        os.environ.update(self.env)
        os.environ.pop("REDIS_URL", None)
        from core import create_app
        from core.migrate import upgrade

        self.app = create_app()
        self.context = self.app.app_context()
        self.context.push()
        upgrade()
        self.unmigrated = _create_unmigrated_tables()
        _cheap_password_hashing()

    @property
    def storage(self) -> Path:
        return Path(self.app.config["STORAGE_DIR"])

    def release_database(self) -> None:
        """Close this process's connections so the server process never waits on a lock of ours."""
        from core.db import db

        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    def __enter__(self) -> "Instance":
        return self

    def __exit__(self, *_exc) -> None:
        from core.db import db

        try:
            db.session.remove()
            db.engine.dispose()
            self.context.pop()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


def _create_unmigrated_tables() -> list[str]:
    """Tables of models whose migration is not written yet (the tree moves while benches run), as the tests'
    ``BIDHALL_TEST_SCHEMA=create_all`` does; returns their names so a bench can say so."""
    import sqlalchemy as sa

    import core.all_models  # noqa: F401
    from core.db import Base, db

    present = set(sa.inspect(db.engine).get_table_names())
    missing = [t.name for t in Base.metadata.sorted_tables if t.name not in present]
    if missing:
        Base.metadata.create_all(db.engine, tables=[Base.metadata.tables[name] for name in missing])
    return missing


def _cheap_password_hashing() -> None:
    """Benchmark users never log in with their password; Argon2 at full cost would dominate the setup."""
    from argon2 import PasswordHasher

    import core.accounts

    core.accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def free_disk_or_exit(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        sys.exit(f"not enough free disk in {directory}: {free / 2**30:.1f} GiB free, {needed / 2**30:.1f} GiB needed")


# -- parties ---------------------------------------------------------------------------------------------

@dataclass
class Party:
    user: object
    signing_key: object
    signing_cert: object
    encryption_key: object
    encryption_cert: object
    user_id: int = 0
    organisation_id: int | None = None
    credit_code: str | None = None
    bid_id: int | None = None
    content_key: str = ""

    @property
    def certificate_pem(self) -> str:
        from crypto.certificates import certificate_pem

        return certificate_pem(self.signing_cert).decode()


@dataclass
class Hall:
    section: object
    agent: Party
    officers: list[Party]
    bidders: list[Party] = field(default_factory=list)


def enrol(user, *, for_organisation: bool) -> Party:
    """Keys made on the holder's side, certified by the platform CA through the certificate operations."""
    from cryptography.hazmat.primitives import serialization

    from core import pki
    from crypto import certificates as x509ca

    signing_key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(signing_key, user.display_name).public_bytes(serialization.Encoding.PEM)
    signing = pki.issue_signing_certificate(user, csr.decode(), for_organisation=for_organisation)
    encryption_key = x509ca.generate_encryption_key()
    request = x509ca.create_encryption_request(encryption_key.public_key(), signing_key, signing.x509)
    encryption = pki.issue_encryption_certificate(user, request, for_organisation=for_organisation)
    org = user.organisation
    return Party(user, signing_key, signing.x509, encryption_key, encryption.x509, user_id=user.id,
                 organisation_id=org.id if org else None, credit_code=org.credit_code if org else None)


def _user(role, organisation, username: str, display_name: str):
    from core import account_operations as accounts

    return accounts.create_user(username=username, display_name=display_name, password=PASSWORD, role=role,
                                organisation=organisation)


def _organisation(kind, name: str, number: int):
    from core import account_operations as accounts
    from core.validators import make_credit_code

    return accounts.create_organisation(name=name, kind=kind, credit_code=make_credit_code(f"91350900MB{number:07d}"),
                                        region_code="350902")


def build_hall(bidders: int) -> Hall:
    """A published works section with three opening officers (threshold 2) and ``bidders`` enrolled bidders."""
    from core.accounts import OrgKind, Role
    from core.clock import now
    from core.db import db
    from trading import operations as trading
    from trading.bids import OpeningOfficer

    agency = _organisation(OrgKind.AGENCY, "基准招标代理有限公司", 1)
    agent = _user(Role.AGENT, agency, "bench-agent", "基准代理")
    tenderee = _organisation(OrgKind.TENDEREE, "基准市交通运输局", 2)
    project = trading.create_project(agent=agent, tenderee=tenderee, code="E3509020001202611001",
                                     name="基准道路工程", type="works", method="open", budget="20000000",
                                     ceiling_price="19000000", region_code="350902")
    start = now() - timedelta(minutes=5)
    deadline = start + timedelta(days=25)
    schedule = trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + timedelta(days=6),
                                     clarification_deadline=deadline - timedelta(days=12), deadline=deadline)
    section = trading.add_section(project, number=1, name="第1标段", ceiling_price="9000000",
                                  bid_security_amount="100000", bid_validity_days=90, evaluation_method=METHOD,
                                  schedule=schedule)
    trading.set_price_form(section, PRICE_FORM)
    trading.upload_document(section, uploader=agent, title="招标文件", stream=io.BytesIO(b"%PDF-1.4 bench"),
                            filename="招标文件.pdf", content_type="application/pdf")
    trading.publish(project)
    supervisor = _user(Role.SUPERVISOR, _organisation(OrgKind.SUPERVISORY_AUTHORITY, "基准市监督局", 3),
                       "bench-supervisor", "基准监督")
    custodian = _user(Role.ADMIN, None, "bench-custodian", "基准交易中心")
    officers = [enrol(u, for_organisation=False) for u in (agent, supervisor, custodian)]
    for position, officer in enumerate(officers):
        db.session.add(OpeningOfficer(section_id=section.id, user_id=officer.user.id, position=position))
    section.escrow_threshold = 2
    db.session.commit()
    hall = Hall(section, officers[0], officers)
    for n in progress(range(bidders), f"enrolling {bidders} bidders"):
        org = _organisation(OrgKind.BIDDER, f"基准投标人{n + 1:04d}建设有限公司", 100 + n)
        user = _user(Role.BIDDER, org, f"bench-bidder-{n + 1:04d}", f"投标人{n + 1}")
        hall.bidders.append(enrol(user, for_organisation=True))
        if n % 50 == 49:
            db.session.commit()
    db.session.commit()
    return hall


# -- bids ---------------------------------------------------------------------------------------------------

def bid_ids(hall: Hall, party: Party):
    from trading import bid_operations

    return bid_operations.bid_ids(hall.section, party.organisation_id)


def bid_package(ids, n: int, module: bytes) -> bytes:
    """A bid package in bidtool's format (docs/bid-package.md): a manifest with the price form, one module."""
    from crypto.canonical import canonical_json

    manifest = {"format": "bidhall.bid-package.v1",
                "ids": {"project": ids.project, "section": ids.section, "bidder": ids.bidder},
                "price_form": {"total_price": f"{8_000_000 + 1_000 * n}.00", "duration_days": 365, "quality": "合格",
                               "project_manager": f"项目经理{n}"},
                "modules": {"technical": [{"path": "技术标.bin", "size": len(module),
                                           "sha256": hashlib.sha256(module).hexdigest()}]},
                "fingerprint": {"tool_version": "bench", "machine_id_sha256": "0" * 64, "mac_sha256": "1" * 64,
                                "host_sha256": "2" * 64, "created_at": "2026-11-21T00:00:00Z"}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("bidhall-bid.json", canonical_json(manifest))
        archive.writestr("modules/technical/技术标.bin", module)
    return out.getvalue()


def seal(hall: Hall, party: Party, plaintext, out, *, chunk_size: int = 1 << 20) -> None:
    """Seal for the bidder, with escrow shares for the section's officers, as bidtool does."""
    from crypto import envelope

    envelope.seal(plaintext, out, ids=bid_ids(hall, party), bidder_signing_key=party.signing_key,
                  bidder_signing_cert=party.signing_cert, bidder_encryption_cert=party.encryption_cert,
                  officers=[(f"user:{o.user_id}", o.encryption_cert) for o in hall.officers],
                  threshold=2, chunk_size=chunk_size)


def content_key_of(party: Party, sealed: Path) -> str:
    """What the bidder unwraps on its side and hands over at the opening (base64)."""
    from crypto import envelope

    with open(sealed, "rb") as stream:
        header = envelope.read_header(stream)
    return base64.b64encode(envelope.unwrap_content_key(header, party.encryption_key)).decode()


def submit_sealed(hall: Hall, party: Party, package: bytes, *, chunk_size: int = 1 << 20) -> Path:
    """Seal ``package`` into a file, hand it to an upload as its part file, finalise (receipt and all).
    Returns the stored bid's path; sets ``party.bid_id`` and ``party.content_key``."""
    from flask import current_app

    from core.db import db
    from trading import bid_operations

    staging = bid_operations._bid_dir() / f"staging-{party.user.id}.bhe"
    with open(staging, "wb") as out:
        seal(hall, party, io.BytesIO(package), out, chunk_size=chunk_size)
    upload = bid_operations.start_upload(hall.section, party.user, staging.stat().st_size, "127.0.0.1")
    os.replace(staging, bid_operations.part_path(upload))
    upload.received = upload.size
    bid = bid_operations.finalise(upload)
    db.session.commit()
    party.bid_id = bid.id
    stored = Path(current_app.config["STORAGE_DIR"]) / bid.storage_key
    party.content_key = content_key_of(party, stored)
    return stored


def move_to_deadline(hall: Hall) -> None:
    """The bid deadline passes (as the tests move the clock): the hall opens on its first visit."""
    from core.clock import now
    from core.db import db

    section = hall.section
    moment = now() - timedelta(seconds=1)
    section.deadline = moment
    section.issue_end = min(section.issue_end, moment)
    section.clarification_deadline = min(section.clarification_deadline, moment)
    db.session.commit()


def bearer(user) -> dict:
    from core.auth import issue_token
    from core.db import db

    token = issue_token(user, "bench")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def session_cookie(app, user) -> str:
    """The signed session cookie a password login would set (Flask-Login's own ``login_user``)."""
    from flask import session
    from flask_login import login_user

    with app.test_request_context("/login", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        login_user(user)
        session["second_factor"] = False
        value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


# -- the server in its own process ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_open_files_limit() -> tuple[int, int]:
    """Soft limit on open files up to the hard limit (each socket is a file descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Server:
    """``python -m core.serve`` (Socket.IO threading mode on Werkzeug) on 127.0.0.1, in its own process."""

    def __init__(self, instance: Instance, *, extra_env: dict | None = None, timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = instance.path / "server.log"
        env = dict(os.environ, **instance.env, BIDHALL_HOST="127.0.0.1", BIDHALL_PORT=str(self.port),
                   PYTHONUNBUFFERED="1", **(extra_env or {}))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "core.serve"], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, preexec_fn=raise_open_files_limit)
        self.pid = self.process.pid
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/api/v1/platform/certificates", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def errors(self) -> dict[str, int]:
        """Exceptions the server logged (the last line of each traceback), counted."""
        counts: dict[str, int] = {}
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        for match in re.finditer(r"^([\w.]+(?:Error|Exception|Timeout)): (.{0,90})", text, flags=re.M):
            key = f"{match.group(1)}: {match.group(2)}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def status(self) -> dict[str, int]:
        """VmHWM, VmRSS (KiB) and Threads from /proc/<pid>/status, and open file descriptors."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        figures = {key: int(re.search(rf"^{key}:\s+(\d+)", text, flags=re.M).group(1))
                   for key in ("VmHWM", "VmRSS", "Threads")}
        figures["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
        return figures

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def openssl_aes_gcm(seconds: int = 3) -> tuple[float | None, str]:
    """Bytes per second of ``openssl speed -evp aes-256-gcm`` at 16 KiB blocks (one core), and the command."""
    command = ["openssl", "speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", str(seconds)]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"{' '.join(command)} failed: {exc}"
    match = re.search(r"^AES-256-GCM\s+([\d.]+)k\s*$", output, flags=re.M | re.I)
    return (float(match.group(1)) * 1000 if match else None), " ".join(command)
