"""Regenerate envelope-v1.json, the known-answer vectors of docs/envelope.md.

Run ``python tests/crypto/vectors/make_envelope_vectors.py`` only when the format version changes: the
file is the reference an independent implementation is checked against, and tests/crypto/test_envelope_vectors.py
checks that this code still produces it byte for byte.

Everything is deterministic: private keys are SHA-256 of a label (reduced mod the P-256 order), the
certificates have fixed serials, dates and RFC 6979 signatures, and the envelope's randomness comes from
SHAKE256(seed) read sequentially (see ``random_stream``).
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import blake3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from crypto.certificates import Holder  # noqa: E402
from crypto.envelope import BidIds, read_header, seal, unwrap_content_key  # noqa: E402
from crypto.envelope.format import FRAME, TAG_SIZE  # noqa: E402
from crypto.envelope.keys import payload_key  # noqa: E402

OUTPUT = Path(__file__).with_name("envelope-v1.json")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
NOT_BEFORE = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOT_AFTER = datetime(2036, 1, 1, tzinfo=timezone.utc)
CREATED_AT = datetime(2026, 3, 1, 1, 0, 0, 123_000, tzinfo=timezone.utc)
IDS = BidIds("E3504219400202007001", "E3504219400202007001-01", "91350100M000100Y43")


def private_key(label: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % P256_ORDER
    return ec.derive_private_key(scalar, ec.SECP256R1())


def scalar_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_numbers().private_value.to_bytes(32, "big").hex()


def der(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.DER).hex()


def random_stream(seed: bytes):
    """random_bytes(n) returns the next n bytes of the SHAKE256(seed) output stream."""
    stream = hashlib.shake_256(seed).digest(1 << 16)
    position = 0

    def random_bytes(count: int) -> bytes:
        nonlocal position
        out = stream[position:position + count]
        position += count
        return out

    return random_bytes


def certificate(ca_key, subject, public_key, serial, usage, *, ca=False) -> x509.Certificate:
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bidhall test-vector CA"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bidhall")])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(serial).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(usage, critical=True))
    return builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)


def usage(**flags) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def build() -> dict:
    ca_key = private_key("bidhall test-vector CA")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bidhall test-vector CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bidhall")])
    ca_cert = certificate(ca_key, ca_name, ca_key.public_key(), 1,
                          usage(digital_signature=True, key_cert_sign=True, crl_sign=True), ca=True)
    people = {"bidder": Holder("福州某某建设工程有限公司", IDS.bidder, "bidder"),
              "user:101": Holder("代理 王工", "user:101", "opening_officer"),
              "user:102": Holder("监督 李工", "user:102", "opening_officer"),
              "user:103": Holder("交易中心 陈工", "user:103", "opening_officer")}
    parties, serial = {}, 100
    for label, holder in people.items():
        signing, encryption = private_key(f"{label} signing"), private_key(f"{label} encryption")
        parties[label] = {
            "signing_key": signing, "encryption_key": encryption,
            "signing_cert": certificate(ca_key, holder.x509_name(), signing.public_key(), serial + 1,
                                        usage(digital_signature=True, content_commitment=True)),
            "encryption_cert": certificate(ca_key, holder.x509_name(), encryption.public_key(), serial + 2,
                                           usage(key_agreement=True))}
        serial += 10
    bidder = parties["bidder"]
    officers = [(label, parties[label]) for label in ("user:101", "user:102", "user:103")]
    vectors = []
    for name, plaintext in (("three-chunks", bytes(i % 251 for i in range(2 * 4096 + 100))),
                            ("exact-chunk", bytes((7 * i) % 256 for i in range(4096)))):
        seed = f"bidhall-envelope/1 test vector {name}".encode()
        out = io.BytesIO()
        summary = seal(io.BytesIO(plaintext), out, ids=IDS, bidder_signing_key=bidder["signing_key"],
                       bidder_signing_cert=bidder["signing_cert"], bidder_encryption_cert=bidder["encryption_cert"],
                       officers=[(label, p["encryption_cert"]) for label, p in officers], threshold=2,
                       chunk_size=4096, threads=1, now=CREATED_AT, random_bytes=random_stream(seed))
        envelope = out.getvalue()
        header = read_header(io.BytesIO(envelope))
        content_key = unwrap_content_key(header, bidder["encryption_key"])
        offset, record_digests = header.size, []
        while envelope[offset:offset + 1] == b"C":
            length = int.from_bytes(envelope[offset + 13:offset + 17], "big")
            record_digests.append(blake3.blake3(envelope[offset:offset + FRAME.size + length]).hexdigest())
            offset += FRAME.size + length
        assert offset + 109 == len(envelope) and summary.chunk_count == len(record_digests)
        vectors.append({
            "name": name, "random_seed": seed.decode(), "plaintext": plaintext.hex(),
            "content_key": content_key.hex(), "nonce_prefix": header.nonce_prefix.hex(),
            "payload_key": payload_key(content_key).hex(), "key_commitment": header.key_commitment.hex(),
            "header_json": envelope[14:header.size - 64].decode(), "header_hash": header.header_hash.hex(),
            "record_digests": record_digests, "ciphertext_digest": summary.ciphertext_digest.hex(),
            "chunk_count": summary.chunk_count, "plaintext_size": summary.plaintext_size,
            "final_chunk_plaintext_size": len(plaintext) % 4096, "tag_size": TAG_SIZE,
            "envelope": envelope.hex(), "envelope_sha256": hashlib.sha256(envelope).hexdigest()})
    return {
        "format": "bidhall-envelope/1",
        "about": "Known-answer vectors for docs/envelope.md. random_bytes(n) reads the next n bytes of "
                 "SHAKE256(random_seed); private keys are P-256 scalars (hex); certificates are DER (hex); "
                 "signatures are RFC 6979 deterministic, so every byte is reproducible.",
        "created_at": "2026-03-01T01:00:00.123Z",
        "ids": {"project": IDS.project, "section": IDS.section, "bidder": IDS.bidder},
        "chunk_size": 4096, "threshold": 2,
        "ca_certificate": der(ca_cert),
        "bidder": {"signing_private_key": scalar_hex(bidder["signing_key"]),
                   "signing_certificate": der(bidder["signing_cert"]),
                   "encryption_private_key": scalar_hex(bidder["encryption_key"]),
                   "encryption_certificate": der(bidder["encryption_cert"])},
        "officers": [{"id": label, "encryption_private_key": scalar_hex(p["encryption_key"]),
                      "encryption_certificate": der(p["encryption_cert"])} for label, p in officers],
        "vectors": vectors,
    }


if __name__ == "__main__":
    OUTPUT.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")
