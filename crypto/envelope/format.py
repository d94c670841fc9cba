"""The byte layout of a bid envelope, version 1 (specified in docs/envelope.md; keep the two in step).

    envelope  = preamble header header_signature chunk* final_chunk trailer
    preamble  = MAGIC (8) | version u16 | header_length u32          (big-endian throughout)
    header    = canonical JSON (crypto.canonical), header_length bytes
    chunk     = 0x43 'C' | nonce (12) | length u32 | AES-256-GCM ciphertext and tag (length bytes)
    trailer   = 0x54 'T' | chunk_count u32 | plaintext_size u64 | body_digest (32) | signature (64)

This module only encodes, parses and checks structure; keys are in ``keys``, the work in ``sealing`` and
``opening``.
"""
from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any

import blake3
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..canonical import CanonicalJSONError, canonical_json, parse_canonical_json
from ..signing import SignatureError, certificate_fingerprint, verify_bytes
from .errors import (BadSignature, BidMismatch, ChunkOutOfOrder, DigestMismatch, DuplicateChunk, ForeignChunk,
                     HeaderTampered, InvalidShare, MalformedEnvelope, NotAnEnvelope, OversizeChunk, SignerMismatch,
                     Truncated)

MAGIC = b"\x89BHENV\r\n"
VERSION = 1
FORMAT = "bidhall-envelope/1"
PREAMBLE = struct.Struct(">8sHI")
FRAME = struct.Struct(">c12sI")
TRAILER = struct.Struct(">cIQ32s64s")
CHUNK_TAG, TRAILER_TAG = b"C", b"T"
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
SIGNATURE_SIZE = 64
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 1 << 12
MAX_CHUNK_SIZE = 1 << 23
MAX_HEADER_SIZE = 1 << 20
MAX_CHUNKS = 1 << 32
HEADER_SIGNATURE_CONTEXT = b"bidhall-envelope/1 header\x00"
TRAILER_SIGNATURE_CONTEXT = b"bidhall-envelope/1 trailer\x00"
BODY_DIGEST_CONTEXT = b"bidhall-envelope/1 body\x00"
ECDH_ES = "ECDH-ES-P256-HKDF-SHA256-A256GCM"
RSA_OAEP = "RSA-OAEP-SHA256"
ID_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_HEX = re.compile(r"[0-9a-f]*")


@dataclass(frozen=True)
class BidIds:
    """The bid's identity, bound into every chunk: which project, section and bidder it was sealed for."""

    project: str
    section: str
    bidder: str

    def __post_init__(self) -> None:
        for name in ("project", "section", "bidder"):
            value = getattr(self, name)
            if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
                raise MalformedEnvelope(f"the {name} id must be a string of 1–128 printable characters")

    def describe(self) -> str:
        return f"project {self.project}, section {self.section}, bidder {self.bidder}"


@dataclass(frozen=True)
class KeyWrap:
    """A 32-byte secret (content key or escrow share) wrapped to one encryption certificate."""

    algorithm: str
    recipient: str
    recipient_key: str
    wrapped: bytes
    ephemeral_key: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"algorithm": self.algorithm, "recipient": self.recipient, "recipient_key": self.recipient_key,
               "wrapped_key": self.wrapped.hex()}
        if self.ephemeral_key is not None:
            out["ephemeral_key"] = self.ephemeral_key.hex()
        return out

    @classmethod
    def from_json(cls, value: Any, where: str) -> KeyWrap:
        required = {"algorithm", "recipient", "recipient_key", "wrapped_key"}
        if isinstance(value, dict) and value.get("algorithm") == ECDH_ES:
            required.add("ephemeral_key")
        _fields(value, where, required)
        algorithm = value["algorithm"]
        if algorithm == ECDH_ES:
            return cls(algorithm, _hex(value, "recipient", where, 32).hex(), _hex(value, "recipient_key", where,
                       32).hex(), _hex(value, "wrapped_key", where, 48), _hex(value, "ephemeral_key", where, 65))
        if algorithm == RSA_OAEP:
            wrapped = _hex(value, "wrapped_key", where, None)
            if not 256 <= len(wrapped) <= 2048:
                raise MalformedEnvelope(f"{where}: an RSA-OAEP wrapped key has 256–2048 bytes")
            return cls(algorithm, _hex(value, "recipient", where, 32).hex(),
                       _hex(value, "recipient_key", where, 32).hex(), wrapped)
        raise MalformedEnvelope(f"{where}: unknown key-wrap algorithm {algorithm!r}")


@dataclass(frozen=True)
class EscrowShare:
    """Officer ``officer``'s Shamir share (evaluation point ``x``), wrapped to the officer's certificate."""

    officer: str
    x: int
    wrap: KeyWrap


@dataclass(frozen=True)
class EnvelopeHeader:
    """A parsed header. ``encoded`` is preamble + header JSON, exactly as in the file."""

    encoded: bytes
    signature: bytes
    ids: BidIds
    chunk_size: int
    nonce_prefix: bytes
    key_commitment: bytes
    created_at: str
    signer_certificate: x509.Certificate
    bidder_key: KeyWrap
    threshold: int
    shares: tuple[EscrowShare, ...]

    @property
    def header_hash(self) -> bytes:
        """SHA-256 of preamble + header JSON: the associated data of every chunk."""
        return hashlib.sha256(self.encoded).digest()

    @property
    def signer_fingerprint(self) -> str:
        return certificate_fingerprint(self.signer_certificate)

    @property
    def size(self) -> int:
        return len(self.encoded) + SIGNATURE_SIZE

    def share_for(self, officer: str) -> EscrowShare:
        for share in self.shares:
            if share.officer == officer:
                return share
        raise InvalidShare(f"officer {officer} holds no escrow share of this bid; the officers are "
                          f"{', '.join(share.officer for share in self.shares)}")

    def check_ids(self, expected: BidIds) -> None:
        if self.ids != expected:
            raise BidMismatch(f"this envelope was sealed for {self.ids.describe()}, not for {expected.describe()}")


@dataclass(frozen=True)
class EnvelopeSummary:
    """What sealing, verifying or opening established about one envelope; a receipt names these values."""

    header: EnvelopeHeader
    ciphertext_digest: bytes
    chunk_count: int
    plaintext_size: int
    envelope_size: int
    signature: bytes


def _fields(value: Any, where: str, required: set[str]) -> None:
    if not isinstance(value, dict):
        raise MalformedEnvelope(f"{where} must be a JSON object")
    missing, extra = required - value.keys(), value.keys() - required
    if missing or extra:
        raise MalformedEnvelope(f"{where}: missing {sorted(missing)} / unexpected {sorted(extra)} fields")


def _hex(value: dict[str, Any], key: str, where: str, size: int | None) -> bytes:
    text = value.get(key)
    if not isinstance(text, str) or not _HEX.fullmatch(text) or len(text) % 2 or \
            (size is not None and len(text) != 2 * size):
        raise MalformedEnvelope(f"{where}.{key} must be {size or 'some'} bytes of lowercase hex")
    return bytes.fromhex(text)


def _int(value: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    number = value.get(key)
    if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
        raise MalformedEnvelope(f"{where}.{key} must be an integer from {low} to {high}")
    return number


def header_json(*, ids: BidIds, chunk_size: int, nonce_prefix: bytes, key_commitment: bytes, created_at: str,
                signer_certificate: x509.Certificate, bidder_key: KeyWrap, threshold: int,
                shares: tuple[EscrowShare, ...]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "ids": {"project": ids.project, "section": ids.section, "bidder": ids.bidder},
        "chunk_size": chunk_size,
        "nonce_prefix": nonce_prefix.hex(),
        "key_commitment": key_commitment.hex(),
        "created_at": created_at,
        "signer_certificate": signer_certificate.public_bytes(serialization.Encoding.DER).hex(),
        "bidder_key": bidder_key.to_json(),
        "escrow": {"threshold": threshold,
                   "shares": [{"officer": s.officer, "x": s.x, "wrap": s.wrap.to_json()} for s in shares]},
    }


def encode_header(fields: dict[str, Any]) -> bytes:
    """Preamble + canonical header JSON (what the header signature and the header hash cover)."""
    body = canonical_json(fields)
    if len(body) > MAX_HEADER_SIZE:
        raise MalformedEnvelope(f"the header would be {len(body)} bytes; the limit is {MAX_HEADER_SIZE}")
    return PREAMBLE.pack(MAGIC, VERSION, len(body)) + body


def parse_preamble(preamble: bytes) -> int:
    """Check magic and version; return the header length."""
    magic, version, length = PREAMBLE.unpack(preamble)
    if magic != MAGIC:
        raise NotAnEnvelope("this file is not a bidhall bid envelope (wrong magic bytes)")
    if version != VERSION:
        raise NotAnEnvelope(f"envelope format version {version} is not supported; this software reads "
                            f"version {VERSION}")
    if not 2 <= length <= MAX_HEADER_SIZE:
        raise MalformedEnvelope(f"the header length {length} is outside 2..{MAX_HEADER_SIZE}")
    return length


def parse_header(encoded: bytes, signature: bytes) -> EnvelopeHeader:
    """Parse preamble + header JSON, checking the header signature against the certificate it carries first.

    Checking the signature before the fields means any change to a signed header is reported as
    HeaderTampered; a field error (MalformedEnvelope) can only come from a header its signer wrote that way.
    Whether the certificate is the right bidder's is checked later, against the platform's record.
    """
    parse_preamble(encoded[:PREAMBLE.size])
    try:
        value = parse_canonical_json(encoded[PREAMBLE.size:])
    except CanonicalJSONError as exc:
        raise HeaderTampered(f"the envelope header is not valid canonical JSON ({exc}): it was altered") from exc
    if not isinstance(value, dict):
        raise HeaderTampered("the envelope header is not a JSON object: it was altered")
    try:
        certificate = x509.load_der_x509_certificate(_hex(value, "signer_certificate", "header", None))
        verify_bytes(certificate.public_key(), HEADER_SIGNATURE_CONTEXT + encoded, signature,
                     what="header signature")
    except (ValueError, SignatureError) as exc:
        raise HeaderTampered("the envelope header does not match the bidder's header signature: the header "
                             "was altered after sealing") from exc
    _fields(value, "header", {"format", "ids", "chunk_size", "nonce_prefix", "key_commitment", "created_at",
                              "signer_certificate", "bidder_key", "escrow"})
    if value["format"] != FORMAT:
        raise NotAnEnvelope(f"header format {value['format']!r} is not {FORMAT}")
    _fields(value["ids"], "header.ids", {"project", "section", "bidder"})
    escrow = value["escrow"]
    _fields(escrow, "header.escrow", {"threshold", "shares"})
    entries = escrow["shares"]
    if not isinstance(entries, list) or not 2 <= len(entries) <= 255:
        raise MalformedEnvelope("header.escrow.shares must list 2 to 255 officers")
    shares = []
    for x, entry in enumerate(entries, start=1):
        where = f"header.escrow.shares[{x - 1}]"
        _fields(entry, where, {"officer", "x", "wrap"})
        officer = entry["officer"]
        if entry["x"] != x or not isinstance(officer, str) or not ID_PATTERN.fullmatch(officer):
            raise MalformedEnvelope(f"{where} must have x = {x} and an officer id")
        shares.append(EscrowShare(officer, x, KeyWrap.from_json(entry["wrap"], f"{where}.wrap")))
    if len({share.officer for share in shares}) != len(shares):
        raise MalformedEnvelope("header.escrow.shares names an officer twice")
    if not isinstance(value["created_at"], str) or len(value["created_at"]) > 64:
        raise MalformedEnvelope("header.created_at must be a time string")
    return EnvelopeHeader(
        encoded=encoded, signature=signature, ids=BidIds(**value["ids"]),
        chunk_size=_int(value, "chunk_size", "header", MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
        nonce_prefix=_hex(value, "nonce_prefix", "header", NONCE_PREFIX_SIZE),
        key_commitment=_hex(value, "key_commitment", "header", 32), created_at=value["created_at"],
        signer_certificate=certificate, bidder_key=KeyWrap.from_json(value["bidder_key"], "header.bidder_key"),
        threshold=_int(escrow, "threshold", "header.escrow", 2, len(shares)), shares=tuple(shares))


def chunk_nonce(prefix: bytes, index: int, final: bool) -> bytes:
    """STREAM nonce: 7-byte per-bid prefix | 32-bit chunk counter | final flag (0x01 on the last chunk)."""
    return prefix + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def check_frame(frame: bytes, index: int, header: EnvelopeHeader) -> tuple[bool, int]:
    """Check a chunk frame against its expected position; return (final, ciphertext length).

    The frame repeats the nonce in clear so that splicing, reordering, duplication and oversize chunks are
    reported precisely (even without the key); decryption still uses the nonce computed from the position.
    """
    tag, nonce, length = FRAME.unpack(frame)
    if tag != CHUNK_TAG:
        raise MalformedEnvelope(f"expected chunk {index} but found a record of type {tag!r}")
    if nonce[:NONCE_PREFIX_SIZE] != header.nonce_prefix:
        raise ForeignChunk(f"chunk {index} was sealed for another envelope (nonce prefix "
                           f"{nonce[:NONCE_PREFIX_SIZE].hex()}, this bid's is {header.nonce_prefix.hex()})")
    counter, flag = int.from_bytes(nonce[7:11], "big"), nonce[11]
    if counter < index:
        raise DuplicateChunk(f"chunk {counter} appears a second time, at position {index}")
    if counter > index:
        raise ChunkOutOfOrder(f"chunk {counter} found where chunk {index} was expected: chunks are missing "
                              f"or out of order")
    full = header.chunk_size + TAG_SIZE
    if length > full:
        raise OversizeChunk(f"chunk {index} claims {length} bytes; a chunk holds at most {full}")
    if flag not in (0, 1) or (flag == 0 and length != full) or (flag == 1 and not TAG_SIZE <= length < full):
        raise MalformedEnvelope(f"chunk {index} has an invalid length {length} for a "
                                f"{'final' if flag == 1 else 'non-final'} chunk")
    return flag == 1, length


class BodyDigest:
    """The ciphertext digest: BLAKE3(context | BLAKE3(record_0) | BLAKE3(record_1) | ...).

    Hashing each chunk record on its own lets the two worker threads hash in parallel (one sequential
    BLAKE3 over the whole body would pin the hashing to one core); the list of per-record digests is then
    hashed in order, so the result still commits to every byte and to the order and number of chunks.
    """

    def __init__(self) -> None:
        self._hasher = blake3.blake3(BODY_DIGEST_CONTEXT)
        self.count = 0

    def add(self, record_digest: bytes) -> None:
        self._hasher.update(record_digest)
        self.count += 1

    def digest(self) -> bytes:
        return self._hasher.digest()


def record_digest(record: Any) -> bytes:
    """BLAKE3 of one whole chunk record (frame and ciphertext)."""
    return blake3.blake3(record).digest()


def trailer_message(header: EnvelopeHeader, chunk_count: int, plaintext_size: int, digest: bytes) -> bytes:
    """What the closing signature covers: the header hash, the sizes and the ciphertext digest."""
    return TRAILER_SIGNATURE_CONTEXT + header.header_hash + struct.pack(">IQ", chunk_count,
                                                                        plaintext_size) + digest


def check_trailer(trailer: bytes, header: EnvelopeHeader, chunk_count: int, plaintext_size: int,
                  digest: bytes) -> bytes:
    """Check the trailer against what was read; return the closing signature."""
    tag, count, size, claimed, signature = TRAILER.unpack(trailer)
    if tag != TRAILER_TAG:
        raise MalformedEnvelope(f"the trailer was expected after the final chunk, found a record of type {tag!r}")
    if (count, size) != (chunk_count, plaintext_size):
        raise DigestMismatch(f"the trailer announces {count} chunks and {size} bytes but the envelope holds "
                             f"{chunk_count} chunks and {plaintext_size} bytes: it was altered")
    if claimed != digest:
        raise DigestMismatch("the ciphertext does not match the digest the bidder signed: the stored envelope "
                             "was altered")
    try:
        verify_bytes(header.signer_certificate.public_key(), trailer_message(header, count, size, digest),
                     signature, what="closing signature")
    except SignatureError as exc:
        raise BadSignature("the bidder's closing signature over the header and the ciphertext digest does not "
                           "verify: the trailer was altered") from exc
    return signature


def check_signer(header: EnvelopeHeader, expected: x509.Certificate) -> None:
    """The envelope must be signed by the bidder's signing certificate on record."""
    fingerprint = certificate_fingerprint(expected)
    if header.signer_fingerprint != fingerprint:
        raise SignerMismatch(f"the envelope was signed with certificate {header.signer_fingerprint[:16]}… "
                             f"(serial {header.signer_certificate.serial_number:x}), not with the bidder's "
                             f"signing certificate {fingerprint[:16]}… (serial {expected.serial_number:x})")


def missing_final_chunk(chunks_read: int) -> Truncated:
    """The trailer came where a chunk was expected: the final chunk (and maybe more) was removed."""
    where = f"after chunk {chunks_read - 1}" if chunks_read else "before its first chunk"
    return Truncated(f"the envelope reaches its trailer {where} without a final chunk: the end of the bid "
                     f"was cut off")
