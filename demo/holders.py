"""The demo holders' own machines, played on this one: bidtool's key folders, bid documents, sealing and upload,
and a guarantee issuer's system (demo/journey.py plays the story with them).

Each bidder's keys are the files the seed wrote as bidtool would (instance/demo-keys/<user>/); the platform
only ever receives what bidtool or the issuer's system would send it. Seven bidders' machines on one computer
would share one creation fingerprint, so each bid package gets its bidder's own (simulated) one; bidder3 and
bidder4 share a machine, the clue the collusion analysis finds in journey step 8.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app, g

from bidtool.package import build_package, creation_fingerprint
from core.accounts import User
from core.db import db
from core.pki import platform
from crypto import certificates as x509ca
from crypto import envelope
from crypto.keystore import load_private_key_file
from crypto.signing import verify_document
from trading import bid_operations
from trading.bids import Bid
from trading.models import Section
from trading.price_form import validate_price_form

if TYPE_CHECKING:
    from demo.journey import BidPlan

#: Upload chunk size: small, so a bid of tens of KiB goes up in several chunks at explicit offsets.
CHUNK = 16 * 1024


class JourneyError(RuntimeError):
    """The journey cannot be played; the message says why and what to do."""


@dataclass
class Holder:
    """What a demo holder's own machine holds: bidtool's folder with its keys and certificates."""

    user: User
    home: Path
    signing_key: object
    signing_cert: object
    encryption_key: object
    encryption_cert: object


@contextmanager
def acting_as(user: User) -> Iterator[User]:
    """Run an operation as ``user``, as a signed-in request would (the audit log names the user; no address)."""
    with current_app.test_request_context():
        g._login_user = user
        yield user


def load_holder(user: User, password: str) -> Holder:
    """The holder's bidtool folder under instance/demo-keys/<user>/, its keys opened with ``password``."""
    home = Path(current_app.instance_path) / "demo-keys" / user.username
    try:
        return Holder(user, home, load_private_key_file(home / "signing-key.pem", password),
                      x509ca.load_certificate((home / "signing-cert.pem").read_bytes()),
                      load_private_key_file(home / "encryption-key.pem", password),
                      x509ca.load_certificate((home / "encryption-cert.pem").read_bytes()))
    except (OSError, ValueError) as exc:
        raise JourneyError(f"{home} 中缺少可用的演示密钥，请先运行 flask --app wsgi demo seed "
                           f"(the demo key files of {user.username} are missing or unreadable: {exc})") from None


def sealing_info(section: Section, bidder: User) -> dict:
    """What ``GET /sections/<id>/sealing`` answers bidtool: the ids, the officers' certificates, the threshold."""
    ids = bid_operations.bid_ids(section, bidder.organisation_id)
    officers = [(officer.officer_id, certificate.x509)
                for officer, certificate in bid_operations.officer_certificates(section)]
    return {"ids": {"project": ids.project, "section": ids.section, "bidder": ids.bidder}, "officers": officers,
            "threshold": section.escrow_threshold, "price_form": [f.as_dict() for f in section.price_form]}


def bid_files(folder: Path, plan: BidPlan, organisation: str, size: int) -> dict[str, list[Path]]:
    """The bidder's bid documents on its own disk: a technical and a commercial module of about ``size`` bytes."""
    technical = folder / "技术标"
    technical.mkdir()
    text = (f"{organisation} 施工组织设计：路基路面工程。项目经理 {plan.project_manager}，计划工期 {plan.duration_days} "
            f"日历天，质量标准{plan.quality}。一、施工部署；二、主要施工方法；三、质量保证措施；四、安全文明施工。\n")
    (technical / "施工组织设计.txt").write_text(text * max(1, size // len(text.encode()) * 3 // 4), encoding="utf-8")
    commercial = folder / "商务标"
    commercial.mkdir()
    letter = f"投标函：{organisation} 愿以人民币 {Decimal(plan.total_price):,.2f} 元承包本标段工程。\n"
    (commercial / "投标函.txt").write_text(letter * max(1, size // len(letter.encode()) // 4), encoding="utf-8")
    return {"technical": [technical], "commercial": [commercial]}


#: Bidders whose bids the story has made on one machine (journey step 8).
SHARED_MACHINE = ("bidder3", "bidder4")


def machine_fingerprint(username: str) -> dict[str, str]:
    """The creation fingerprint bidtool would record on this bidder's own machine (hashes of a simulated
    machine id, MAC address and host name)."""
    machine = "bidder3+4" if username in SHARED_MACHINE else username
    fingerprint = creation_fingerprint()
    for key, value in (("machine_id_sha256", "machine-id"), ("mac_sha256", "mac"), ("host_sha256", "host")):
        fingerprint[key] = hashlib.sha256(f"bidhall demo {machine} {value}".encode()).hexdigest()
    return fingerprint


def seal(section: Section, holder: Holder, plan: BidPlan, folder: Path, size: int) -> Path:
    """``bidtool seal``: validate the price form, build the bid package, seal it to the bidder's own encryption
    certificate and the officers' shares, signed with the bidder's signing key. Returns the sealed file."""
    info = sealing_info(section, holder.user)
    values = {"total_price": plan.total_price, "duration_days": plan.duration_days, "quality": plan.quality,
              "project_manager": plan.project_manager}
    form = validate_price_form(info["price_form"], values)
    modules = bid_files(folder, plan, holder.user.organisation.name, size)
    package, sealed = folder / "bid.zip", folder / "bid.sealed"
    build_package(package, ids=info["ids"], price_form=form, modules=modules,
                  fingerprint=machine_fingerprint(holder.user.username))
    with open(package, "rb") as plain, open(sealed, "wb") as out:
        envelope.seal(plain, out, ids=envelope.BidIds(**info["ids"]), bidder_signing_key=holder.signing_key,
                      bidder_signing_cert=holder.signing_cert, bidder_encryption_cert=holder.encryption_cert,
                      officers=info["officers"], threshold=info["threshold"])
    return sealed


def upload(section: Section, bidder: User, path: Path) -> Bid:
    """``bidtool upload``: start a resumable upload, send the file in chunks at explicit offsets, finalise."""
    size = path.stat().st_size
    with acting_as(bidder):
        upload_id = bid_operations.start_upload(section, bidder, size, None).id
        db.session.commit()
        offset = 0
        with open(path, "rb") as stream:
            while offset < size:
                data = stream.read(CHUNK)
                upload_row = bid_operations.get_upload(upload_id, bidder)
                offset = bid_operations.append_chunk(upload_row, offset, io.BytesIO(data), len(data))  # commits
        bid = bid_operations.finalise(bid_operations.get_upload(upload_id, bidder))
        db.session.commit()
    return bid


def stored_header(bid: Bid) -> envelope.EnvelopeHeader:
    """The sealed bid's header as ``GET /bids/<id>/envelope-header`` serves it to the bidder and the officers."""
    with open(Path(current_app.config["STORAGE_DIR"]) / bid.storage_key, "rb") as stream:
        return envelope.read_header(stream)


def issue_guarantee(section: Section, bidder: User, issuer: Holder, cipher: bool) -> str:
    """The bidder applies; the issuer, as its own system would (guarantees.simulator), underwrites and issues the
    signed guarantee with its PDF; the platform verifies it on receipt. Returns the guarantee number."""
    from guarantees import operations as guarantees
    from guarantees.issuer_client import IssuerClient
    from guarantees.models import GuaranteeProduct
    from guarantees.simulator import Simulator

    product = db.session.scalar(sa.select(GuaranteeProduct).where(
        GuaranteeProduct.issuer_id == issuer.user.organisation_id, GuaranteeProduct.active.is_(True))
        .order_by(GuaranteeProduct.id))
    with acting_as(bidder):
        guarantee = guarantees.apply(section, bidder, product, cipher=cipher)
        db.session.commit()
    signing = platform().signing_certificate
    server = json.loads((issuer.home / "config.json").read_text()).get("server", "http://127.0.0.1:5000")
    bank = Simulator(IssuerClient(server, issuer.signing_key, issuer.signing_cert, platform_certificate=signing),
                     prefix="CCB" if issuer.user.username == "issuer_bank" else "PICC")
    application = verify_document(json.loads(guarantee.application_document), signing)
    with acting_as(issuer.user):
        guarantees.approve(guarantee, issuer.user.organisation, "按承保规则核保通过", actor=issuer.user)
        body = bank.guarantee_for(application)
        guarantees.issue(guarantee, issuer.user.organisation, body["document"], base64.b64decode(body["pdf"]),
                         body["pdf_sha256"])
        db.session.commit()
    return guarantee.guarantee_no
