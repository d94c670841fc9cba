"""A section opened through the real platform: bids sealed and uploaded by their bidders, the hall opened at the
deadline, every bid decrypted by its bidder, read out and the record published. Each bidder gets its own test
client (its own IP address) and chooses what its bid package carries: price, project manager, technical text,
creation fingerprint. Upload times are then spread over the last days before the deadline, the way the tests
move the clock, so only a planted cluster is a cluster."""
from __future__ import annotations

import hashlib
import io
import random
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta

from core.accounts import Role
from core.db import db
from crypto import certificates as x509ca
from crypto import envelope
from crypto.canonical import canonical_json
from supervision.collusion.synthetic import technical_text
from tests.pki_helpers import enrol, upload
from tests.trading.opening_helpers import at_deadline
from trading.bids import Bid


@dataclass
class BidSpec:
    price: str
    manager: str
    technical: str | None = None
    fingerprint: dict | None = None
    ip: str | None = None


@dataclass
class Bidder:
    user: object
    client: object
    headers: dict
    bid_id: int
    key: str


@dataclass
class Opened:
    section: object
    agent: object
    agent_headers: dict
    tenderee: object
    bidders: list[Bidder] = field(default_factory=list)


def fingerprint(seed: str) -> dict:
    digest = lambda what: hashlib.sha256(f"{seed}:{what}".encode()).hexdigest()
    return {"tool_version": "test", "machine_id_sha256": digest("machine"), "mac_sha256": digest("mac"),
            "host_sha256": digest("host"), "created_at": "2026-11-01T00:00:00Z"}


def clean_text(seed: int, size: int = 12_000) -> str:
    return technical_text(random.Random(seed), size)


def package(ids: dict, spec: BidSpec, n: int) -> bytes:
    technical = (spec.technical if spec.technical is not None else clean_text(1000 + n)).encode()
    manifest = {"format": "bidhall.bid-package.v1", "ids": ids,
                "price_form": {"total_price": spec.price, "duration_days": 365, "quality": "合格",
                               "project_manager": spec.manager},
                "modules": {"technical": [{"path": "施工组织设计.txt", "size": len(technical),
                                           "sha256": hashlib.sha256(technical).hexdigest()}]},
                "fingerprint": spec.fingerprint or fingerprint(f"bidder-{n}")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bidhall-bid.json", canonical_json(manifest))
        archive.writestr("modules/technical/施工组织设计.txt", technical)
    return out.getvalue()


def pay_deposits(factory, opened: Opened, accounts: dict[int, str]) -> None:
    """Cash deposits paid before the deadline: a slip per bidder, then the bank statement imported."""
    from core.clock import SHANGHAI, now
    from guarantees import deposits

    rows = ["transaction_id,value_time,account,payer_account,payer_name,amount,currency,reference"]
    for index, account in accounts.items():
        bidder = opened.bidders[index]
        slip = bidder.client.post(f"/api/v1/sections/{opened.section.id}/deposit-slip", headers=bidder.headers,
                                  json={"payer_account": account, "payer_name": "付款单位"})
        assert slip.status_code == 201, slip.get_json()
        slip = slip.get_json()
        paid = (now().astimezone(SHANGHAI) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(f"T{opened.section.id}{index},{paid},{slip['sub_account']},{account},付款单位,"
                    f"{opened.section.bid_security_amount},CNY,{slip['reference']}")
    deposits.import_statement("\n".join(rows).encode(), "statement.csv", factory.user(Role.ADMIN))
    db.session.commit()


def open_section(app, factory, monkeypatch, specs: list[BidSpec], *, project_kwargs: dict | None = None,
                 deposit_accounts: dict[int, str] | None = None) -> Opened:
    client = app.test_client()
    agent = factory.user(Role.AGENT)
    project = factory.project(agent, evaluation_method="works_reviewed_lowest_bid_price", **(project_kwargs or {}))
    section = project.sections[0]
    tenderee = factory.user(Role.TENDEREE, organisation=project.tenderee)
    officer_users = [agent, factory.user(Role.SUPERVISOR), factory.user(Role.ADMIN)]
    officers = [enrol(client, factory.token(client, u), for_organisation=False) for u in officer_users]
    agent_headers = officers[0].headers
    response = client.put(f"/api/v1/sections/{section.id}/officers", headers=agent_headers,
                          json={"user_ids": [u.id for u in officer_users], "threshold": 2})
    assert response.status_code == 200, response.get_json()
    opened = Opened(section, agent, agent_headers, tenderee)
    for n, spec in enumerate(specs):
        own = app.test_client()
        own.environ_base["REMOTE_ADDR"] = spec.ip or f"10.20.{n}.{n + 7}"
        user = factory.user(Role.BIDDER)
        holder = enrol(own, factory.token(own, user))
        info = own.get(f"/api/v1/sections/{section.id}/sealing", headers=holder.headers).get_json()
        certs = [(o["officer"], x509ca.load_certificate(o["certificate"].encode())) for o in info["officers"]]
        sealed = io.BytesIO()
        envelope.seal(io.BytesIO(package(info["ids"], spec, n)), sealed, ids=envelope.BidIds(**info["ids"]),
                      bidder_signing_key=holder.signing_key, bidder_signing_cert=holder.signing_cert,
                      bidder_encryption_cert=holder.encryption_cert, officers=certs, threshold=info["threshold"],
                      chunk_size=16384)
        _id, response = upload(own, holder.headers, section.id, sealed.getvalue())
        assert response.status_code == 201, response.get_json()
        header = envelope.read_header(io.BytesIO(sealed.getvalue()))
        import base64

        key = base64.b64encode(envelope.unwrap_content_key(header, holder.encryption_key)).decode()
        opened.bidders.append(Bidder(user, own, holder.headers, response.get_json()["id"], key))
    if deposit_accounts:
        pay_deposits(factory, opened, deposit_accounts)
    for n, bidder in enumerate(opened.bidders):  # uploads spread over the last days, hours apart
        db.session.get(Bid, bidder.bid_id).submitted_at = section.deadline - timedelta(hours=7 * n + 3, minutes=11 * n)
    db.session.commit()
    at_deadline(monkeypatch, section)
    sid = section.id
    assert client.get(f"/api/v1/sections/{sid}/opening", headers=agent_headers).status_code == 200
    assert client.post(f"/api/v1/sections/{sid}/opening/start", headers=agent_headers).status_code == 200
    for bidder in opened.bidders:
        response = bidder.client.post(f"/api/v1/bids/{bidder.bid_id}/decrypt", json={"content_key": bidder.key},
                                      headers=bidder.headers)
        assert response.status_code == 200, response.get_json()
    assert client.post(f"/api/v1/sections/{sid}/opening/read-out", headers=agent_headers).status_code == 200
    closed = client.post(f"/api/v1/sections/{sid}/opening/close", headers=agent_headers)
    assert closed.status_code == 200, closed.get_json()
    db.session.expire_all()
    return opened
