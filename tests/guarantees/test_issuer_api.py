"""The issuer API: signed requests, replay and idempotency, revoked certificates, decisions and issuing."""
import base64
import json
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from core.db import db
from core.pki import Certificate, revoke
from crypto import certificates as x509ca
from crypto.signing import verify_bytes
from guarantees import protocol
from guarantees.models import Guarantee, GuaranteeState, SecurityVerification
from guarantees.records import IdempotencyRecord
from tests.guarantees.conftest import application_of, apply, guarantee_by, issue, issue_body, signed


def test_an_unsigned_request_is_refused(client, market):
    response = client.get("/api/v1/issuer/applications")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "signature_required"


def test_the_issuer_sees_its_queue_and_the_answer_is_signed_by_the_platform(client, market):
    applied = apply(market)
    response = signed(client, market.issuer, "GET", "/issuer/applications")
    assert response.status_code == 200
    assert [a["application_no"] for a in response.get_json()["applications"]] == [applied["application_no"]]
    platform = x509ca.load_certificate(client.get("/api/v1/platform/certificates").get_json()["signing"].encode())
    nonce = response.headers[protocol.HEADER_NONCE]
    verify_bytes(platform.public_key(), protocol.response_signing_bytes(nonce, 200, response.data),
                 bytes.fromhex(response.headers[protocol.HEADER_SIGNATURE]))


def test_a_forged_request_signature_is_refused(client, market):
    """The issuer's certificate is named, but another key signed: the signature does not verify."""
    full = "/api/v1/issuer/applications"
    headers = protocol.sign_request(market.issuer.holder.signing_key, market.issuer.holder.signing_cert, "GET", full, b"")
    forger = x509ca.generate_signing_key()
    forged = protocol.sign_request(forger, _self_signed(forger), "GET", full, b"", nonce=headers[protocol.HEADER_NONCE])
    headers[protocol.HEADER_SIGNATURE] = forged[protocol.HEADER_SIGNATURE]
    response = client.get(full, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "request_signature_invalid"


def _self_signed(key):
    ca = x509ca.PlatformCA.create("forger")
    request = x509ca.create_signing_request(key, "forger")
    return ca.issue_signing_certificate(request, x509ca.Holder("forger", "forger", "issuer"))


def test_a_replayed_request_is_refused_by_name_and_changes_nothing(client, market):
    applied = apply(market)
    path = f"/api/v1/issuer/applications/{applied['application_no']}/reject"
    data = json.dumps({"reason": "超出限额"}).encode()
    headers = protocol.sign_request(market.issuer.holder.signing_key, market.issuer.holder.signing_cert, "POST",
                                    path, data) | {protocol.HEADER_IDEMPOTENCY: "reject-0001"}
    first = client.post(path, data=data, headers=headers, content_type="application/json")
    assert first.status_code == 200 and first.get_json()["state"] == "rejected"
    replay = client.post(path, data=data, headers=headers, content_type="application/json")
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "request_replayed"
    assert "replayed request" in replay.get_json()["error"]["message"]


def test_a_stale_timestamp_is_refused(client, market):
    stale = datetime.now(timezone.utc) - timedelta(minutes=6)
    response = signed(client, market.issuer, "GET", "/issuer/applications", timestamp=stale)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "request_expired"


def test_idempotency_same_key_same_answer_different_body_refused(client, market):
    applied = apply(market)
    number = applied["application_no"]
    first = signed(client, market.issuer, "POST", f"/issuer/applications/{number}/approve", {"note": "ok"},
                   idempotency_key="approve-key-1")
    again = signed(client, market.issuer, "POST", f"/issuer/applications/{number}/approve", {"note": "ok"},
                   idempotency_key="approve-key-1")
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = signed(client, market.issuer, "POST", f"/issuer/applications/{number}/approve", {"note": "other"},
                     idempotency_key="approve-key-1")
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "idempotency_key_reused"
    missing = client.post(f"/api/v1/issuer/applications/{number}/approve", data=b"{}", content_type="application/json",
                          headers=protocol.sign_request(market.issuer.holder.signing_key,
                                                        market.issuer.holder.signing_cert, "POST",
                                                        f"/api/v1/issuer/applications/{number}/approve", b"{}"))
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "idempotency_key_required"
    assert db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))) == 1


def test_a_revoked_issuer_certificate_is_refused(client, market):
    row = db.session.scalar(sa.select(Certificate).where(Certificate.organisation_id == market.issuer.organisation.id,
                                                         Certificate.purpose == "signing"))
    revoke(row, "私钥泄露", actor=market.issuer.user)
    db.session.commit()
    response = signed(client, market.issuer, "GET", "/issuer/applications")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "certificate_revoked"


def test_another_issuers_application_is_not_found(client, market, factory):
    from tests.guarantees.conftest import make_issuer

    applied = apply(market)
    other = make_issuer(client, factory, code="X1")
    response = signed(client, other, "POST", f"/issuer/applications/{applied['application_no']}/approve", {})
    assert response.status_code == 404


def test_issuing_stores_the_document_and_pdf_and_verifies_at_once(client, market):
    applied = apply(market)
    response, body = issue(market, applied["application_no"])
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["state"] == "verified" and answer["verification"]["ok"]
    guarantee = guarantee_by(applied["application_no"])
    assert guarantee.document_hash == protocol.document_hash(body["document"])
    assert guarantee.verification_code == protocol.verification_code(guarantee.document_hash)
    assert guarantee.pdf_file.path.read_bytes() == base64.b64decode(body["pdf"])
    record = db.session.scalar(sa.select(SecurityVerification))
    assert record.ok and record.stage.value == "issue"
    lookup = client.get(f"/api/v1/guarantees/check/{guarantee.verification_code.replace('-', '').lower()}")
    assert lookup.status_code == 200 and lookup.get_json()["state"] == "verified"
    assert lookup.get_json()["section"]["code"] == market.section.code


def _refused_issue(market, number, **kwargs):
    guarantee = guarantee_by(number)
    body = issue_body(market.issuer, application_of(guarantee), **kwargs)
    response = signed(market.client, market.issuer, "POST", f"/issuer/applications/{number}/issue", body)
    after = guarantee_by(number)
    assert after.state is GuaranteeState.APPLIED and after.document is None  # nothing changed
    return response


def test_a_tampered_amount_is_refused_naming_the_check(client, market):
    number = apply(market)["application_no"]
    response = _refused_issue(market, number, tamper=lambda p: p.update(amount="1000.00"))
    error = response.get_json()["error"]
    assert response.status_code == 422 and error["code"] == "verification_failed"
    assert "amount" in error["failed"] and "application" in error["failed"]


def test_the_wrong_section_is_refused(client, market):
    number = apply(market)["application_no"]
    response = _refused_issue(market, number, tamper=lambda p: p["terms"].update(section_code="E350902000020261199901"))
    assert response.status_code == 422 and {"section", "application"} <= set(response.get_json()["error"]["failed"])


def test_an_expired_guarantee_is_refused(client, market):
    number = apply(market)["application_no"]
    yesterday = date.today() - timedelta(days=1)
    response = _refused_issue(market, number, valid_from=yesterday - timedelta(days=30), valid_until=yesterday)
    assert response.status_code == 422 and {"validity", "not_expired"} <= set(response.get_json()["error"]["failed"])


def test_a_document_signed_with_a_key_the_platform_never_certified_is_refused(client, market):
    number = apply(market)["application_no"]
    forger = x509ca.generate_signing_key()
    response = _refused_issue(market, number, key=forger, certificate=_self_signed(forger))
    assert response.status_code == 422 and {"certificate", "signature"} <= set(response.get_json()["error"]["failed"])


def test_a_pdf_without_the_verification_code_is_refused(client, market):
    number = apply(market)["application_no"]
    body = issue_body(market.issuer, application_of(guarantee_by(number)))
    pdf = b"%PDF-1.4 not the guarantee"
    body |= {"pdf": base64.b64encode(pdf).decode(), "pdf_sha256": protocol.sha256_hex(pdf)}
    response = signed(client, market.issuer, "POST", f"/issuer/applications/{number}/issue", body)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "pdf"
    assert guarantee_by(number).state is GuaranteeState.APPLIED


def test_reject_needs_a_reason_and_frees_the_bidders_place(client, market):
    number = apply(market)["application_no"]
    assert signed(client, market.issuer, "POST", f"/issuer/applications/{number}/reject", {}).status_code == 422
    assert signed(client, market.issuer, "POST", f"/issuer/applications/{number}/reject",
                  {"reason": "不符合承保条件"}).status_code == 200
    assert guarantee_by(number).live is None
    apply(market)  # a new application is allowed after a rejection
    assert db.session.scalar(sa.select(sa.func.count(Guarantee.id))) == 2


def test_the_issuer_api_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/issuer/applications/{application_no}/issue" in paths
    assert paths["/api/v1/issuer/applications"]["get"]["x-access"] == "issuer_signature"
