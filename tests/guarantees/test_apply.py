"""Applying for a guarantee: the application fills itself in; cipher applications hide the section; limits."""
import json
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core.audit import AuditEvent
from core.clock import local, now
from core.db import db
from crypto import certificates as x509ca
from crypto.signing import verify_document
from guarantees import protocol
from guarantees.models import Guarantee, GuaranteeState
from guarantees.terms import terms_of
from tests.guarantees.conftest import apply, guarantee_by, make_issuer


def test_the_application_fills_itself_in_and_is_signed_by_the_platform(client, market):
    applied = apply(market)
    guarantee = guarantee_by(applied["application_no"])
    section, project = market.section, market.section.project
    document = json.loads(guarantee.application_document)
    platform = x509ca.load_certificate(client.get("/api/v1/platform/certificates").get_json()["signing"].encode())
    payload = verify_document(document, platform)
    assert payload["terms"] == {"project_code": project.code, "project_name": project.name,
                                "section_code": section.code, "section_name": section.name,
                                "beneficiary": {"name": project.tenderee.name,
                                                "credit_code": project.tenderee.credit_code}}
    assert payload["principal"]["credit_code"] == market.bidder.organisation.credit_code
    assert payload["guarantor"]["credit_code"] == market.issuer.organisation.credit_code
    assert payload["amount"] == "100000.00" and payload["currency"] == "CNY"
    minimum = local(section.deadline).date() + timedelta(days=section.bid_validity_days)
    assert payload["valid_until_min"] == minimum.isoformat()
    # premium: 100,000 × 0.15% = 150.00, below the product's minimum of 200.00
    assert Decimal(payload["premium"]) == Decimal("200.00") and guarantee.state is GuaranteeState.APPLIED
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "guarantee.applied")) is not None


def test_a_cipher_application_carries_the_section_only_sealed(client, market):
    applied = apply(market, cipher=True)
    guarantee = guarantee_by(applied["application_no"])
    text = guarantee.application_document
    section, project = market.section, market.section.project
    for secret in (section.code, project.code, project.tenderee.credit_code, project.tenderee.name, section.name):
        assert secret not in text
    payload = json.loads(text)["payload"]
    assert "terms" not in payload and payload["kind"] == "cipher"
    sealed = payload["sealed_terms"]
    assert sealed["algorithm"] == "AES-256-GCM" and sealed["key_digest"] == guarantee.key_digest
    from guarantees.verification import terms_key_of

    key = terms_key_of(guarantee)
    assert protocol.open_terms(sealed, key, guarantee.application_no) == json.loads(json.dumps(terms_of(section)))


def test_a_duplicate_application_is_refused_and_changes_nothing(client, market):
    apply(market)
    before = db.session.scalar(sa.select(sa.func.count(Guarantee.id)))
    response = client.post(f"/api/v1/sections/{market.section.id}/guarantee-applications",
                           json={"product_id": market.issuer.product.id}, headers=market.bidder_headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "duplicate_application"
    assert "duplicate application" in response.get_json()["error"]["message"]
    assert db.session.scalar(sa.select(sa.func.count(Guarantee.id))) == before


def test_product_limits_cipher_support_and_the_deadline_are_enforced(client, market, factory):
    small = make_issuer(client, factory, code="SM01", max_amount="50000", supports_cipher=False)
    url = f"/api/v1/sections/{market.section.id}/guarantee-applications"
    response = client.post(url, json={"product_id": small.product.id}, headers=market.bidder_headers)
    assert response.status_code == 422 and "limits" in response.get_json()["error"]["message"]
    big = make_issuer(client, factory, code="NC01", supports_cipher=False)
    response = client.post(url, json={"product_id": big.product.id, "cipher": True}, headers=market.bidder_headers)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "cipher"
    market.section.deadline = now() - timedelta(minutes=1)
    db.session.commit()
    response = client.post(url, json={"product_id": big.product.id}, headers=market.bidder_headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "deadline_passed"
    assert db.session.scalar(sa.select(sa.func.count(Guarantee.id))) == 0


def test_products_are_listed_for_bidders(client, market):
    products = client.get("/api/v1/guarantee-products", headers=market.bidder_headers).get_json()["products"]
    assert [p["code"] for p in products] == ["BG01"]
    assert products[0]["form"] == "bank_guarantee" and products[0]["premium_rate"] == "0.001500"
