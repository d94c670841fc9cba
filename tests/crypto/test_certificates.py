"""The platform CA: dual certificates, verification with clear errors, and certificate login."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from crypto.certificates import (ECDH_P256, RSA_OAEP, CertificateError, CertificateExpired,
                                 CertificateNotYetValid, CertificateRevoked, ChallengeExpired, ChallengeInvalid,
                                 Holder, InvalidCertificateRequest, PlatformCA, Purpose, WrongCertificatePurpose,
                                 WrongIssuer, create_encryption_request, create_signing_request,
                                 generate_encryption_key, generate_signing_key, holder_of, load_certificate,
                                 certificate_pem, make_challenge, verify_certificate, verify_challenge_response)
from crypto.signing import der_to_raw

def now() -> datetime:
    return datetime.now(timezone.utc)


def verify(cert, ca, purpose=Purpose.SIGNING, revoked=(), at=None):
    return verify_certificate(cert, ca.certificate, revoked_serials=set(revoked), at=at or now(), purpose=purpose)


def test_signing_certificate_carries_the_holder_set_by_the_ca(pki, bidder):
    cert = bidder.signing_cert
    assert holder_of(cert) == Holder("福州某某建设工程有限公司", "91350100M000100Y43", "bidder")
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert name._type.name == "UTF8String"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_agreement
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert verify(cert, pki.ca).identifier == "91350100M000100Y43"


def test_the_csr_subject_is_ignored_in_favour_of_the_platform_record(pki):
    key = generate_signing_key()
    cert = pki.ca.issue_signing_certificate(create_signing_request(key, "我是别人"), Holder("本人", "user:9", "expert"))
    assert holder_of(cert).name == "本人"


def test_encryption_certificates_for_ecdh_and_rsa(pki, bidder, officers):
    ecdh = bidder.encryption_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ecdh.key_agreement and not ecdh.digital_signature
    rsa_usage = officers[2].encryption_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert rsa_usage.key_encipherment and not rsa_usage.key_agreement
    assert bidder.encryption_cert.subject == bidder.signing_cert.subject
    for party in (bidder, officers[2]):
        verify(party.encryption_cert, pki.ca, Purpose.ENCRYPTION)


def test_a_certificate_used_for_the_wrong_purpose_is_refused(pki, bidder):
    with pytest.raises(WrongCertificatePurpose, match="not an ECDSA P-256 signing certificate"):
        verify(bidder.encryption_cert, pki.ca, Purpose.SIGNING)
    with pytest.raises(WrongCertificatePurpose, match="not an encryption certificate"):
        verify(bidder.signing_cert, pki.ca, Purpose.ENCRYPTION)


def test_revoked_expired_and_not_yet_valid_certificates_are_refused(pki, bidder):
    cert = bidder.signing_cert
    with pytest.raises(CertificateRevoked, match="福州某某建设工程有限公司.*revoked"):
        verify(cert, pki.ca, revoked=[cert.serial_number])
    with pytest.raises(CertificateExpired, match="expired on"):
        verify(cert, pki.ca, at=now() + timedelta(days=800))
    with pytest.raises(CertificateNotYetValid, match="valid only from"):
        verify(cert, pki.ca, at=now() - timedelta(days=1))


def test_a_certificate_from_another_ca_is_refused(pki):
    rogue = PlatformCA.create("bidhall test CA")  # same name, different key
    key = generate_signing_key()
    cert = rogue.issue_signing_certificate(create_signing_request(key, "x"), Holder("x", "user:1", "bidder"))
    with pytest.raises(WrongIssuer, match="valid signature of the platform CA"):
        verify(cert, pki.ca)
    other = PlatformCA.create("another CA")
    cert = other.issue_signing_certificate(create_signing_request(key, "x"), Holder("x", "user:1", "bidder"))
    with pytest.raises(WrongIssuer, match="issued by O=bidhall,CN=another CA"):
        verify(cert, pki.ca)


def test_a_tampered_csr_or_a_non_p256_key_is_refused(pki):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(rsa_key, hashes.SHA256())
    with pytest.raises(InvalidCertificateRequest, match="P-256"):
        pki.ca.issue_signing_certificate(csr, Holder("x", "user:1", "bidder"))
    p384 = ec.generate_private_key(ec.SECP384R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(p384, hashes.SHA256())
    with pytest.raises(InvalidCertificateRequest, match="P-256"):
        pki.ca.issue_signing_certificate(csr, Holder("x", "user:1", "bidder"))


def test_encryption_request_must_be_signed_by_the_holders_valid_signing_certificate(pki, bidder, other_bidder):
    key = generate_encryption_key()
    request = create_encryption_request(key.public_key(), bidder.signing_key, bidder.signing_cert)
    with pytest.raises(InvalidCertificateRequest, match="not validly signed"):
        pki.ca.issue_encryption_certificate(request, other_bidder.signing_cert, revoked_serials=set())
    forged = copy.deepcopy(request)
    forged["payload"]["public_key"] = generate_encryption_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex()
    with pytest.raises(InvalidCertificateRequest, match="not validly signed"):
        pki.ca.issue_encryption_certificate(forged, bidder.signing_cert, revoked_serials=set())
    with pytest.raises(CertificateRevoked):
        pki.ca.issue_encryption_certificate(request, bidder.signing_cert,
                                            revoked_serials={bidder.signing_cert.serial_number})


def test_stale_or_mislabelled_encryption_requests_are_refused(pki, bidder):
    key = generate_encryption_key()
    old = create_encryption_request(key.public_key(), bidder.signing_key, bidder.signing_cert,
                                    now=now() - timedelta(hours=1))
    with pytest.raises(InvalidCertificateRequest, match="make a new one"):
        pki.ca.issue_encryption_certificate(old, bidder.signing_cert, revoked_serials=set())
    with pytest.raises(CertificateError, match="P-256"):
        create_encryption_request(ec.generate_private_key(ec.SECP384R1()).public_key(), bidder.signing_key,
                                  bidder.signing_cert)
    with pytest.raises(CertificateError, match="at least 2048"):
        generate_encryption_key(RSA_OAEP, rsa_bits=1024)


def test_certificates_load_from_pem_and_der(bidder):
    assert load_certificate(certificate_pem(bidder.signing_cert)) == bidder.signing_cert
    with pytest.raises(CertificateError, match="not a certificate"):
        load_certificate(b"garbage")


@pytest.mark.parametrize("fmt", ["der", "raw"])
def test_challenge_response_login_accepts_der_and_webcrypto_signatures(pki, bidder, fmt):
    issued = now()
    challenge = make_challenge("login", now=issued)
    der = bidder.signing_key.sign(challenge.data, ec.ECDSA(hashes.SHA256()))
    signature = der if fmt == "der" else der_to_raw(der)
    result = verify_challenge_response(challenge.data, signature, bidder.signing_cert, pki.ca.certificate,
                                       context="login", revoked_serials=set(), now=issued + timedelta(seconds=30))
    assert result.holder.identifier == "91350100M000100Y43"
    assert result.nonce == challenge.nonce and len(challenge.nonce) == 64


def test_challenge_response_failures_say_why(pki, bidder, other_bidder):
    issued = now()
    challenge = make_challenge("opening:section-12", now=issued)
    signature = der_to_raw(bidder.signing_key.sign(challenge.data, ec.ECDSA(hashes.SHA256())))

    def check(**overrides):
        args = dict(challenge=challenge.data, signature=signature, certificate=bidder.signing_cert,
                    ca_certificate=pki.ca.certificate, context="opening:section-12", revoked_serials=set(),
                    now=issued)
        args.update(overrides)
        return verify_challenge_response(**args)

    with pytest.raises(ChallengeExpired, match="request a new one"):
        check(now=issued + timedelta(minutes=3))
    with pytest.raises(ChallengeInvalid, match="issued for 'opening:section-12', not for 'login'"):
        check(context="login")
    with pytest.raises(ChallengeInvalid, match="not signed by 厦门另一建筑有限公司"):
        check(certificate=other_bidder.signing_cert)
    with pytest.raises(CertificateRevoked):
        check(revoked_serials={bidder.signing_cert.serial_number})
    with pytest.raises(ChallengeInvalid, match="malformed"):
        check(challenge=b'{"type":"login_challenge"}')
    with pytest.raises(ChallengeInvalid, match="not a login challenge"):
        check(challenge=b'{"type":"other"}')


def test_holder_fields_are_validated():
    with pytest.raises(CertificateError, match="identifier"):
        Holder("某公司", "信用代码", "bidder")
    with pytest.raises(CertificateError, match="role"):
        Holder("某公司", "user:1", "Bidder!")


def test_generate_encryption_key_default_is_ecdh():
    assert isinstance(generate_encryption_key(ECDH_P256), ec.EllipticCurvePrivateKey)
