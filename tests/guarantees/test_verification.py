"""验真: every check of rules.md §4 on presented and registered guarantees, each failure named, nothing changed."""
import copy
from datetime import timedelta

import sqlalchemy as sa

from core.audit import AuditEvent
from core.clock import now
from core.db import db
from core.pki import Certificate, revoke
from crypto import certificates as x509ca
from crypto.signing import sign_document
from guarantees.models import Guarantee, GuaranteeState, SecurityVerification
from guarantees.verification import guarantee_status_for_bid, verify_for_section
from tests.guarantees.conftest import apply, issued_guarantee


def _present(client, market, document, section=None, headers=None):
    return client.post(f"/api/v1/sections/{(section or market.section).id}/guarantees/present",
                       json={"document": document}, headers=headers or market.bidder_headers)


def _state_snapshot():
    db.session.expire_all()
    return [(g.id, g.state, g.document_hash) for g in db.session.scalars(sa.select(Guarantee).order_by(Guarantee.id))]


def test_the_genuine_document_passes_every_check(client, market):
    _guarantee, body = issued_guarantee(market)
    response = _present(client, market, body["document"])
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["ok"] and report["basis"] == "guarantee"
    assert {c["name"] for c in report["checks"]} == {
        "format", "certificate", "signature", "registered", "document_hash", "section", "beneficiary", "principal",
        "amount", "validity", "not_expired", "issued_before_deadline", "standing", "unique"}


def test_a_tampered_amount_fails_signature_and_hash_and_changes_nothing(client, market):
    _guarantee, body = issued_guarantee(market)
    before = _state_snapshot()
    forged = copy.deepcopy(body["document"])
    forged["payload"]["amount"] = "1000000.00"
    response = _present(client, market, forged)
    error = response.get_json()["error"]
    assert response.status_code == 422 and error["code"] == "verification_failed"
    assert set(error["failed"]) == {"signature", "document_hash"}
    assert "signature invalid" in error["message"]
    assert _state_snapshot() == before
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "guarantee.presentation_refused"))


def test_a_forged_signature_fails_the_certificate_and_signature_checks(client, market):
    _guarantee, body = issued_guarantee(market)
    forger = x509ca.generate_signing_key()
    ca = x509ca.PlatformCA.create("forger")
    fake = ca.issue_signing_certificate(x509ca.create_signing_request(forger, "x"),
                                        x509ca.Holder("伪造银行", body["document"]["payload"]["guarantor"]["credit_code"],
                                                      "issuer"))
    forged = sign_document(body["document"]["payload"], forger, fake)
    response = _present(client, market, forged)
    assert response.status_code == 422
    assert {"certificate", "signature", "document_hash"} <= set(response.get_json()["error"]["failed"])


def test_the_wrong_section_and_reuse_in_two_sections_are_named(client, market, factory):
    _guarantee, body = issued_guarantee(market)
    other = factory.project(market.agent).sections[0]
    before = _state_snapshot()
    response = _present(client, market, body["document"], section=other)
    assert response.status_code == 422
    assert {"section", "beneficiary", "unique"} <= set(response.get_json()["error"]["failed"])
    assert "no reuse" in response.get_json()["error"]["message"]
    assert _state_snapshot() == before


def test_a_cipher_guarantee_is_checked_by_opening_its_sealed_terms(client, market, factory):
    _guarantee, body = issued_guarantee(market, cipher=True)
    assert _present(client, market, body["document"]).status_code == 200
    other = factory.project(market.agent).sections[0]
    response = _present(client, market, body["document"], section=other)
    assert {"section", "unique"} <= set(response.get_json()["error"]["failed"])


def test_another_bidder_cannot_present_my_guarantee(client, market):
    _guarantee, body = issued_guarantee(market)
    _user, headers = market.bidder_user()
    response = _present(client, market, body["document"], headers=headers)
    assert {"principal", "unique"} <= set(response.get_json()["error"]["failed"])


def test_a_revoked_issuer_certificate_fails_verification_of_a_guarantee_issued_before(client, market):
    guarantee, body = issued_guarantee(market)
    row = db.session.scalar(sa.select(Certificate).where(Certificate.organisation_id == guarantee.issuer_id,
                                                         Certificate.purpose == "signing"))
    revoke(row, "私钥泄露", actor=market.issuer.user)
    db.session.commit()
    response = _present(client, market, body["document"])
    assert response.get_json()["error"]["failed"] == ["certificate"]
    assert "证书已吊销" in response.get_json()["error"]["message"]
    report = verify_for_section(market.section, market.bidder.organisation)
    assert report.failed == ["certificate"]


def test_an_unregistered_document_is_named_as_such(client, market):
    _guarantee, body = issued_guarantee(market)
    document = copy.deepcopy(body["document"])
    document["payload"]["guarantee_no"] = "NEVER-ISSUED"
    response = _present(client, market, document)
    assert {"registered", "document_hash", "standing", "unique", "signature"} <= set(response.get_json()["error"]["failed"])


def test_a_malformed_file_fails_the_format_check_only(client, market):
    response = _present(client, market, {"payload": {"type": "something else"}})
    assert response.get_json()["error"]["failed"] == ["format"]


def test_validity_expiry_and_standing_are_checked_at_the_moment_of_verification(client, market):
    guarantee, _body = issued_guarantee(market)
    later = now() + timedelta(days=400)
    report = verify_for_section(market.section, market.bidder.organisation, at=later)
    assert "not_expired" in report.failed
    guarantee.state = GuaranteeState.SURRENDERED  # as if surrendered: not a securing state any more
    db.session.commit()
    assert verify_for_section(market.section, market.bidder.organisation).basis == "missing"


def test_a_guarantee_issued_after_the_deadline_is_refused(client, market):
    number = apply(market)["application_no"]
    market.section.deadline = now() - timedelta(seconds=1)
    db.session.commit()
    from tests.guarantees.conftest import issue

    response, _ = issue(market, number)
    assert response.status_code == 422 and "issued_before_deadline" in response.get_json()["error"]["failed"]


def test_the_bid_pages_status_shows_the_last_verification(client, market):
    status = guarantee_status_for_bid(market.section.id, market.bidder.organisation_id)
    assert status["required"] and status["guarantee"] is None and status["verification"] is None
    guarantee, _ = issued_guarantee(market)
    status = guarantee_status_for_bid(market.section.id, market.bidder.organisation_id)
    assert status["guarantee"]["guarantee_no"] == guarantee.guarantee_no
    assert status["verification"]["ok"] and status["verification"]["stage"] == "issue"
    mine = client.get(f"/api/v1/sections/{market.section.id}/bid-security", headers=market.bidder_headers).get_json()
    assert mine["guarantees"][0]["state"] == "verified" and mine["status"]["verification"]["ok"]
    assert db.session.scalar(sa.select(sa.func.count(SecurityVerification.id))) == 1


def test_missing_security_is_reported(client, market):
    report = verify_for_section(market.section, market.bidder.organisation)
    assert report.basis == "missing" and report.failed == ["missing"]
    apply(market)
    assert "not issued" in verify_for_section(market.section, market.bidder.organisation).checks[0].message
