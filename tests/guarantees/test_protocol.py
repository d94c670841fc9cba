"""The wire formats: sealed terms, request signatures, verification codes, the PDF. No database."""
import pytest

from crypto import certificates as x509ca
from crypto.canonical import parse_canonical_json
from crypto.signing import verify_bytes
from guarantees import protocol
from guarantees.pdf import pdf_shows_code, render_guarantee_pdf

TERMS = {"project_code": "E3509020001202611001", "project_name": "宁德市蕉城区某道路改造工程",
         "section_code": "E3509020001202611001001", "section_name": "一标段",
         "beneficiary": {"name": "宁德市蕉城区住房和城乡建设局", "credit_code": "11350902MB0000003X"}}


def test_sealed_terms_open_only_with_their_key_for_their_application():
    key = protocol.new_terms_key()
    sealed = protocol.seal_terms(TERMS, key, "BH20261120000001")
    assert "宁德" not in str(sealed) and sealed["key_digest"] == protocol.sha256_hex(key)
    assert protocol.open_terms(sealed, key, "BH20261120000001") == TERMS
    with pytest.raises(protocol.TermsError, match="key digest"):
        protocol.open_terms(sealed, protocol.new_terms_key(), "BH20261120000001")
    with pytest.raises(protocol.TermsError, match="another application"):
        protocol.open_terms(sealed, key, "BH20261120000002")
    altered = dict(sealed, ciphertext=("00" if sealed["ciphertext"][:2] != "00" else "11") + sealed["ciphertext"][2:])
    with pytest.raises(protocol.TermsError):
        protocol.open_terms(altered, key, "BH20261120000001")


def test_a_request_signature_covers_method_path_body_nonce_and_time():
    key = x509ca.generate_signing_key()
    ca = x509ca.PlatformCA.create("test")
    certificate = ca.issue_signing_certificate(x509ca.create_signing_request(key, "bank"),
                                               x509ca.Holder("银行", "91350900MA2Y00006X", "issuer"))
    headers = protocol.sign_request(key, certificate, "POST", "/api/v1/issuer/x", b'{"a":1}')
    signed = protocol.request_signing_bytes("POST", "/api/v1/issuer/x", b'{"a":1}', headers[protocol.HEADER_NONCE],
                                            headers[protocol.HEADER_TIMESTAMP], headers[protocol.HEADER_CERTIFICATE])
    assert parse_canonical_json(signed)["type"] == protocol.REQUEST_TYPE
    verify_bytes(key.public_key(), signed, bytes.fromhex(headers[protocol.HEADER_SIGNATURE]))
    other = protocol.request_signing_bytes("POST", "/api/v1/issuer/x", b'{"a":2}', headers[protocol.HEADER_NONCE],
                                           headers[protocol.HEADER_TIMESTAMP], headers[protocol.HEADER_CERTIFICATE])
    with pytest.raises(Exception):
        verify_bytes(key.public_key(), other, bytes.fromhex(headers[protocol.HEADER_SIGNATURE]))


def test_the_verification_code_is_16_unambiguous_characters_from_the_hash():
    code = protocol.verification_code("f" * 64)
    assert len(code) == 19 and code.count("-") == 3
    assert not set(code) & set("IO01")
    assert protocol.verification_code("0" * 63 + "1") != protocol.verification_code("1" + "0" * 63)
    assert protocol.normalise_code(code.lower().replace("-", " ")) == code


def test_the_pdf_shows_the_code_and_hides_cipher_terms():
    payload = {"form": "surety_insurance", "guarantee_no": "SI-2026-0001", "application_no": "BH1", "kind": "cipher",
               "guarantor": {"name": "保险公司", "credit_code": "X"}, "principal": {"name": "投标人", "credit_code": "Y"},
               "amount": "300000.00", "valid_from": "2026-11-20", "valid_until": "2027-03-01",
               "issued_at": "2026-11-20T01:00:00.000Z", "sealed_terms": {}}
    code = protocol.verification_code("a" * 64)
    pdf = render_guarantee_pdf(payload, document_hash="a" * 64, verification_code=code)
    assert pdf.startswith(b"%PDF") and pdf_shows_code(pdf, code) and not pdf_shows_code(pdf, "ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    assert not pdf_shows_code(b"%PDF-1.4 garbage", code)
