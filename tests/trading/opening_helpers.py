"""A section whose bids are sealed and submitted, moved to its deadline: the opening's starting point."""
from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta

from core.accounts import Role
from crypto import certificates as x509ca
from crypto import envelope
from crypto.canonical import canonical_json
from crypto.signing import sign_bytes
from tests.pki_helpers import Holder, enrol, upload
from trading import clock_source

PRICES = ["8650000.00", "8720000.00", "8810000.00", "8900000.00"]


def package(ids: dict, price: str, manager: str) -> bytes:
    """A real bid package (bidtool's format) with a filled price form."""
    technical = ("施工组织设计：" + manager).encode() * 500
    import hashlib

    manifest = {"format": "bidhall.bid-package.v1", "ids": ids,
                "price_form": {"total_price": price, "duration_days": 365, "quality": "合格", "project_manager": manager},
                "modules": {"technical": [{"path": "技术标.txt", "size": len(technical),
                                           "sha256": hashlib.sha256(technical).hexdigest()}]},
                "fingerprint": {"tool_version": "test", "machine_id_sha256": "0" * 64, "mac_sha256": "1" * 64,
                                "host_sha256": "2" * 64, "created_at": "2026-11-21T00:00:00Z"}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bidhall-bid.json", canonical_json(manifest))
        archive.writestr("modules/technical/技术标.txt", technical)
    return out.getvalue()


@dataclass
class Party:
    user: object
    holder: Holder
    bid_id: int | None = None
    sealed: bytes = b""


@dataclass
class World:
    section: object
    agent: object
    agent_headers: dict
    officers: list = field(default_factory=list)
    bidders: list = field(default_factory=list)


def build_world(client, factory, *, bidders: int = 3) -> World:
    agent = factory.user(Role.AGENT)
    section = factory.project(agent, evaluation_method="works_comprehensive_benchmark").sections[0]
    officer_users = [agent, factory.user(Role.SUPERVISOR), factory.user(Role.ADMIN)]
    officers = [Party(u, enrol(client, factory.token(client, u), for_organisation=False)) for u in officer_users]
    agent_headers = officers[0].holder.headers
    client.put(f"/api/v1/sections/{section.id}/officers", headers=agent_headers,
               json={"user_ids": [o.user.id for o in officers], "threshold": 2})
    world = World(section, agent, agent_headers, officers)
    for i in range(bidders):
        user = factory.user(Role.BIDDER)
        holder = enrol(client, factory.token(client, user))
        info = client.get(f"/api/v1/sections/{section.id}/sealing", headers=holder.headers).get_json()
        officer_certs = [(o["officer"], x509ca.load_certificate(o["certificate"].encode())) for o in info["officers"]]
        out = io.BytesIO()
        envelope.seal(io.BytesIO(package(info["ids"], PRICES[i % len(PRICES)], f"项目经理{i}")), out,
                      ids=envelope.BidIds(**info["ids"]), bidder_signing_key=holder.signing_key,
                      bidder_signing_cert=holder.signing_cert, bidder_encryption_cert=holder.encryption_cert,
                      officers=officer_certs, threshold=info["threshold"], chunk_size=16384)
        _id, response = upload(client, holder.headers, section.id, out.getvalue())
        assert response.status_code == 201, response.get_json()
        world.bidders.append(Party(user, holder, response.get_json()["id"], out.getvalue()))
    return world


def at_deadline(monkeypatch, section, seconds: float = 1) -> None:
    moment = section.deadline + timedelta(seconds=seconds)
    monkeypatch.setattr(clock_source, "now", lambda: moment)


def content_key(party: Party) -> str:
    header = envelope.read_header(io.BytesIO(party.sealed))
    return base64.b64encode(envelope.unwrap_content_key(header, party.holder.encryption_key)).decode()


def share_of(client, officer: Party, bid_id: int) -> dict:
    data = client.get(f"/api/v1/bids/{bid_id}/envelope-header", headers=officer.holder.headers).get_json()
    header = envelope.read_header(io.BytesIO(base64.b64decode(data["header"]) + b""))
    share = envelope.unwrap_share(header, data["officer"], officer.holder.encryption_key)
    return {"x": share.x, "y": share.y.hex()}


def sign_in(client, section_id: int, party: Party):
    challenge = client.post(f"/api/v1/sections/{section_id}/opening/challenge", headers=party.holder.headers).get_json()
    signature = sign_bytes(party.holder.signing_key, base64.b64decode(challenge["challenge"]))
    from cryptography.hazmat.primitives import serialization

    body = {"challenge": challenge["challenge"], "signature": base64.b64encode(signature).decode(),
            "certificate": party.holder.signing_cert.public_bytes(serialization.Encoding.PEM).decode()}
    return client.post(f"/api/v1/sections/{section_id}/opening/sign-in", json=body, headers=party.holder.headers), body


