"""The test vectors printed in docs/envelope.md, recomputed from the primitives and by the implementation."""
from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import blake3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.canonical import canonical_json
from crypto.envelope.format import BidIds
from crypto.envelope.keys import key_commitment, payload_key, wrap_context
from crypto.shamir import Share, combine_shares, split_secret

DOC = Path(__file__).resolve().parents[2] / "docs" / "envelope.md"


def vectors() -> dict[str, dict[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- vector:([\w-]+) -->\s*```text\n(.*?)\n```", text, flags=re.S)
    return {name: dict(re.findall(r"^(\w+)\s+= (.+)$", body, flags=re.M)) for name, body in blocks}


VECTORS = vectors()


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(ikm)


def test_the_document_has_all_vectors():
    assert set(VECTORS) == {"key-schedule", "chunk", "ecdh-wrap", "shamir"}


def test_key_schedule():
    v = {k: bytes.fromhex(x) for k, x in VECTORS["key-schedule"].items()}
    assert hkdf(v["content_key"], b"bidhall-envelope/1 payload key") == v["payload_key"]
    assert hkdf(v["content_key"], b"bidhall-envelope/1 key commitment") == v["key_commitment"]
    assert payload_key(v["content_key"]) == v["payload_key"]
    assert key_commitment(v["content_key"]) == v["key_commitment"]


def test_chunk_record_and_digest():
    v = {k: bytes.fromhex(x) for k, x in VECTORS["chunk"].items()}
    key = bytes.fromhex(VECTORS["key-schedule"]["payload_key"])
    assert v["header_hash"] == hashlib.sha256(b"example header").digest()
    assert v["plaintext"].decode() == "投标报价：1234567.80元"
    assert v["nonce"] == v["nonce_prefix"] + struct.pack(">I", 0) + b"\x01"
    ciphertext = AESGCM(key).encrypt(v["nonce"], v["plaintext"], v["header_hash"])
    assert v["record"] == b"C" + v["nonce"] + struct.pack(">I", len(ciphertext)) + ciphertext
    assert blake3.blake3(v["record"]).digest() == v["record_digest"]
    assert blake3.blake3(b"bidhall-envelope/1 body\x00" + v["record_digest"]).digest() == v["ciphertext_digest"]


def test_ecdh_wrap():
    v = VECTORS["ecdh-wrap"]
    recipient = ec.derive_private_key(int(v["recipient_private"], 16), ec.SECP256R1())
    ephemeral = ec.derive_private_key(int(v["ephemeral_private"], 16), ec.SECP256R1())

    def point(key):
        return key.public_key().public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint).hex()

    assert (point(recipient), point(ephemeral)) == (v["recipient_point"], v["ephemeral_point"])
    shared = ephemeral.exchange(ec.ECDH(), recipient.public_key())
    assert shared == recipient.exchange(ec.ECDH(), ephemeral.public_key())
    assert shared.hex() == v["shared_secret"]
    kek = hkdf(shared, b"bidhall-envelope/1 ecdh-es\x00" + bytes.fromhex(v["ephemeral_point"])
               + bytes.fromhex(v["recipient_point"]))
    assert kek.hex() == v["kek"]
    context = v["context"].encode()
    fields = json.loads(context)
    assert canonical_json(fields) == context
    assert wrap_context(BidIds(fields["project"], fields["section"], fields["bidder"]),
                        bytes.fromhex(fields["nonce_prefix"]), bytes.fromhex(fields["key_commitment"]),
                        purpose="content_key", recipient=fields["recipient"]) == context
    assert AESGCM(kek).encrypt(bytes(12), bytes.fromhex(v["secret"]), context).hex() == v["wrapped_key"]


def test_shamir_split():
    v = VECTORS["shamir"]
    coefficients = bytes.fromhex(v["coefficients"])
    shares = split_secret(bytes.fromhex(v["secret"]), 3, int(v["threshold"]),
                          random_bytes=lambda n: coefficients[:n])
    assert [s.y.hex() for s in shares] == [v["share_1"], v["share_2"], v["share_3"]]
    for pair in ((1, 2), (1, 3), (2, 3)):
        assert combine_shares([Share(x, bytes.fromhex(v[f"share_{x}"])) for x in pair]).hex() == v["secret"]


@pytest.mark.parametrize("x", [1, 2, 3])
def test_shamir_shares_follow_the_formula(x):
    """y_x[j] = K[j] + a_j·x in GF(2^8) for threshold 2, computed here without crypto.shamir."""
    def mul(a: int, b: int) -> int:
        out = 0
        while b:
            out, a, b = out ^ (a if b & 1 else 0), (a << 1) ^ (0x11B if a & 0x80 else 0), b >> 1
        return out

    v = VECTORS["shamir"]
    secret, coefficients = bytes.fromhex(v["secret"]), bytes.fromhex(v["coefficients"])
    assert bytes(k ^ mul(a, x) for k, a in zip(secret, coefficients)).hex() == v[f"share_{x}"]
