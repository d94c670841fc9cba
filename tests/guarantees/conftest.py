"""A market for bid security: a published section, its tenderee, bidders, an issuer with a certified key and a
product; helpers to sign issuer API requests through the test client and to issue guarantees."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pytest

from core.accounts import Role
from core.db import db
from crypto.signing import sign_document
from guarantees import issuers, operations, protocol
from guarantees.pdf import render_guarantee_pdf
from tests.pki_helpers import Holder, enrol


@dataclass
class IssuerParty:
    user: object
    holder: Holder
    product: object
    nonce_counter: list = field(default_factory=lambda: [0])

    @property
    def organisation(self):
        return self.user.organisation


@dataclass
class Market:
    section: object
    agent: object
    tenderee: object
    issuer: IssuerParty
    bidder: object
    bidder_headers: dict
    factory: object
    client: object

    def bidder_user(self):
        user = self.factory.user(Role.BIDDER)
        return user, self.factory.token(self.client, user)


def make_issuer(client, factory, *, code: str = "BG01", form: str = "bank_guarantee", max_amount: str = "5000000",
                supports_cipher: bool = True) -> IssuerParty:
    user = factory.user(Role.ISSUER)
    holder = enrol(client, factory.token(client, user), name=user.username)
    product = issuers.create_product(user, code=code, name="投标保函", form=form, premium_rate="0.0015",
                                     minimum_premium="200", min_amount="1000", max_amount=max_amount,
                                     max_validity_days=400, supports_cipher=supports_cipher)
    db.session.commit()
    return IssuerParty(user, holder, product)


@pytest.fixture()
def market(app, client, factory) -> Market:
    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    tenderee = factory.user(Role.TENDEREE, organisation=project.tenderee)
    issuer = make_issuer(client, factory)
    bidder = factory.user(Role.BIDDER)
    return Market(project.sections[0], agent, tenderee, issuer, bidder, factory.token(client, bidder), factory, client)


def signed(client, issuer: IssuerParty, method: str, path: str, body: dict | None = None, *,
           idempotency_key: str | None = None, nonce: str | None = None, timestamp: datetime | None = None,
           key=None, certificate=None):
    """An issuer API call through the test client, signed as a real issuer would sign it."""
    full = "/api/v1" + path
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    issuer.nonce_counter[0] += 1
    headers = protocol.sign_request(key or issuer.holder.signing_key, certificate or issuer.holder.signing_cert,
                                    method, full, data, nonce=nonce, timestamp=timestamp)
    if method in ("POST", "PUT"):
        headers[protocol.HEADER_IDEMPOTENCY] = idempotency_key or f"idem-{issuer.nonce_counter[0]:06d}-{id(body)}"
    return client.open(full, method=method, data=data, headers=headers, content_type="application/json")


def apply(market: Market, *, cipher: bool = False, user=None, headers=None, section=None, product=None):
    section = section or market.section
    response = market.client.post(f"/api/v1/sections/{section.id}/guarantee-applications",
                                  json={"product_id": (product or market.issuer.product).id, "cipher": cipher},
                                  headers=headers or market.bidder_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def application_of(guarantee) -> dict:
    return operations.application_payload(guarantee)


def issue_body(issuer: IssuerParty, application: dict, *, guarantee_no: str | None = None, valid_until: date | None = None,
               valid_from: date | None = None, issued_at: datetime | None = None, tamper=None, key=None,
               certificate=None) -> dict:
    """The issue request body a bank would send: the signed document and its PDF."""
    payload = protocol.guarantee_payload(
        application, guarantee_no=guarantee_no or f"TG{application['application_no'][-8:]}",
        issued_at=issued_at or datetime.now(timezone.utc), valid_from=valid_from or date.today(),
        valid_until=valid_until or date.fromisoformat(application["valid_until_min"]) + timedelta(days=1))
    if tamper:
        tamper(payload)
    document = sign_document(payload, key or issuer.holder.signing_key, certificate or issuer.holder.signing_cert)
    digest = protocol.document_hash(document)
    pdf = render_guarantee_pdf(payload, document_hash=digest, verification_code=protocol.verification_code(digest))
    return {"document": document, "pdf": base64.b64encode(pdf).decode(), "pdf_sha256": protocol.sha256_hex(pdf)}


def issue(market: Market, application_no: str, **kwargs):
    import sqlalchemy as sa

    from guarantees.models import Guarantee

    guarantee = db.session.scalar(sa.select(Guarantee).where(Guarantee.application_no == application_no))
    body = issue_body(market.issuer, application_of(guarantee), **kwargs)
    response = signed(market.client, market.issuer, "POST", f"/issuer/applications/{application_no}/issue", body)
    return response, body


def guarantee_by(application_no: str):
    import sqlalchemy as sa

    from guarantees.models import Guarantee

    db.session.expire_all()
    return db.session.scalar(sa.select(Guarantee).where(Guarantee.application_no == application_no))


def issued_guarantee(market: Market, *, cipher: bool = False, headers=None):
    """Apply and have the issuer issue; returns (guarantee, the issue body)."""
    applied = apply(market, cipher=cipher, headers=headers)
    response, body = issue(market, applied["application_no"])
    assert response.status_code == 201, response.get_json()
    return guarantee_by(applied["application_no"]), body




def set_officers(market: Market) -> None:
    """Three opening officers with encryption certificates, threshold 2: bids can be sealed for the section."""
    from tests.pki_helpers import enrol as enrol_holder

    officers = [market.agent, market.factory.user(Role.SUPERVISOR), market.factory.user(Role.ADMIN)]
    for officer in officers:
        enrol_holder(market.client, market.factory.token(market.client, officer), for_organisation=False,
                     name=officer.username)
    response = market.client.put(f"/api/v1/sections/{market.section.id}/officers",
                                  headers=market.factory.token(market.client, market.agent),
                                  json={"user_ids": [o.id for o in officers], "threshold": 2})
    assert response.status_code == 200, response.get_json()


def submit_bid(client, section_id: int, headers: dict) -> int:
    """Seal a small bid for the bidder behind ``headers`` and upload it; returns the bid id."""
    from tests.pki_helpers import enrol as enrol_holder
    from tests.pki_helpers import seal_bid, upload

    holder = enrol_holder(client, headers)
    data = seal_bid(client, holder, section_id, "技术标：施工组织设计".encode() * 200)
    _upload, response = upload(client, headers, section_id, data)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]
