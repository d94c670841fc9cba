"""Signed documents (receipts, records, guarantees): a changed byte or another signer is always caught."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.canonical import canonical_json
from crypto.signing import (SignatureError, SignatureInvalid, SignerMismatch, certificate_fingerprint, der_to_raw,
                            raw_to_der, sign_bytes, sign_document, verify_bytes, verify_document)

RECEIPT = {"type": "bid_receipt", "section": "E3504219400202007001-01", "bidder": "91350100M000100Y43",
           "envelope_size": 123456, "ciphertext_digest": "ab" * 32, "server_time": "2026-03-01T01:59:59.999Z",
           "sequence": 7, "bid_security": Decimal("20000.00")}


def test_a_signed_receipt_verifies_and_returns_its_payload(bidder):
    document = sign_document(RECEIPT, bidder.signing_key, bidder.signing_cert)
    assert document["signature"]["signer"] == certificate_fingerprint(bidder.signing_cert)
    assert len(bytes.fromhex(document["signature"]["value"])) == 64
    assert verify_document(document, bidder.signing_cert) == RECEIPT


def test_the_signed_bytes_are_canonical_json_of_algorithm_payload_and_signer(bidder):
    document = sign_document(RECEIPT, bidder.signing_key, bidder.signing_cert)
    signed = canonical_json({"algorithm": "ECDSA-P256-SHA256", "payload": RECEIPT,
                             "signer": certificate_fingerprint(bidder.signing_cert)})
    verify_bytes(bidder.signing_cert.public_key(), signed, bytes.fromhex(document["signature"]["value"]))


def test_a_changed_payload_fails(bidder):
    document = sign_document(RECEIPT, bidder.signing_key, bidder.signing_cert)
    forged = copy.deepcopy(document)
    forged["payload"]["sequence"] = 8
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_document(forged, bidder.signing_cert)


def test_a_signature_checked_against_another_certificate_names_the_mismatch(bidder, other_bidder):
    document = sign_document(RECEIPT, bidder.signing_key, bidder.signing_cert)
    with pytest.raises(SignerMismatch, match="not by the expected certificate"):
        verify_document(document, other_bidder.signing_cert)
    relabelled = copy.deepcopy(document)
    relabelled["signature"]["signer"] = certificate_fingerprint(other_bidder.signing_cert)
    with pytest.raises(SignatureInvalid):
        verify_document(relabelled, other_bidder.signing_cert)


def test_signing_with_a_key_that_is_not_the_certificates_is_refused(bidder, other_bidder):
    with pytest.raises(SignatureError, match="does not belong"):
        sign_document(RECEIPT, other_bidder.signing_key, bidder.signing_cert)


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("signature"),
    lambda d: d["signature"].update(algorithm="RSA"),
    lambda d: d["signature"].update(value="zz"),
    lambda d: d.update(payload=[1]),
])
def test_malformed_documents_are_refused(bidder, damage):
    document = sign_document(RECEIPT, bidder.signing_key, bidder.signing_cert)
    damage(document)
    with pytest.raises(SignatureError):
        verify_document(document, bidder.signing_cert)


def test_der_and_raw_signatures_convert_both_ways(bidder):
    der = bidder.signing_key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    raw = der_to_raw(der)
    assert len(raw) == 64 and raw_to_der(raw) == der
    verify_bytes(bidder.signing_cert.public_key(), b"data", raw)
    verify_bytes(bidder.signing_cert.public_key(), b"data", der, accept_der=True)
    with pytest.raises(SignatureInvalid, match="not a P-256 signature"):
        verify_bytes(bidder.signing_cert.public_key(), b"data", der)


def test_signatures_are_deterministic_rfc6979(bidder):
    assert sign_bytes(bidder.signing_key, b"x") == sign_bytes(bidder.signing_key, b"x")
