"""Sealing a bid: stream the plaintext through AES-256-GCM chunks into an envelope, in constant memory.

Runs on the bidder's side (bidtool; the browser does the same in JavaScript). The platform never sees the
content key: it is wrapped to the bidder's encryption certificate and split among the opening officers.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..canonical import format_utc
from ..certificates import CertificateError, Purpose, require_purpose
from ..shamir import split_secret
from ..signing import SignatureError, certificate_fingerprint, require_p256_signing_key, sign_bytes
from .errors import EnvelopeError
from .format import (CHUNK_TAG, DEFAULT_CHUNK_SIZE, FRAME, HEADER_SIGNATURE_CONTEXT, ID_PATTERN, MAX_CHUNK_SIZE,
                     MAX_CHUNKS, MIN_CHUNK_SIZE, NONCE_PREFIX_SIZE, TAG_SIZE, TRAILER, TRAILER_TAG, BidIds,
                     BodyDigest, EnvelopeSummary, EscrowShare, chunk_nonce, encode_header, header_json,
                     parse_header, record_digest, trailer_message)
from .keys import RandomBytes, key_commitment, payload_key, wrap_context, wrap_secret
from .pipeline import DEFAULT_THREADS, OrderedPipeline
from .streams import ChunkReader, write_all


class _Worker:
    def __init__(self, key: bytes, chunk_size: int) -> None:
        self.cipher = AESGCM(key)
        self.plain = memoryview(bytearray(chunk_size))
        self.record = memoryview(bytearray(FRAME.size + chunk_size + TAG_SIZE))


def _check_inputs(ids: BidIds, signing_key: Any, signing_cert: x509.Certificate,
                  encryption_cert: x509.Certificate, officers: Sequence[tuple[str, x509.Certificate]],
                  threshold: int, chunk_size: int) -> None:
    if not isinstance(ids, BidIds):
        raise EnvelopeError("ids must be a BidIds(project, section, bidder)")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise EnvelopeError(f"chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE} bytes, not {chunk_size}")
    try:
        require_p256_signing_key(signing_key, "bidder's signing key")
    except SignatureError as exc:
        raise EnvelopeError(str(exc)) from exc
    if signing_cert.public_key() != signing_key.public_key():
        raise EnvelopeError("the bidder's signing key does not belong to the signing certificate given")
    if encryption_cert.subject != signing_cert.subject:
        raise EnvelopeError("the bidder's encryption certificate belongs to another holder than its signing "
                            "certificate")
    ids_seen = [officer for officer, _ in officers]
    if len(set(ids_seen)) != len(ids_seen):
        raise EnvelopeError("an opening officer is listed twice")
    if not all(isinstance(officer, str) and ID_PATTERN.fullmatch(officer) for officer in ids_seen):
        raise EnvelopeError("officer ids must be strings of 1–128 printable characters")
    if not 2 <= threshold <= len(officers) <= 255:
        raise EnvelopeError(f"escrow needs 2 ≤ threshold ≤ officers ≤ 255, so that no single officer can open "
                            f"a bid; got threshold {threshold} with {len(officers)} officers")
    try:
        require_purpose(signing_cert, Purpose.SIGNING)
    except CertificateError as exc:
        raise EnvelopeError(f"the bidder's signing certificate cannot sign bids: {exc}") from exc
    for label, cert in [("the bidder", encryption_cert), *((f"officer {o}", c) for o, c in officers)]:
        try:
            require_purpose(cert, Purpose.ENCRYPTION)
        except CertificateError as exc:
            raise EnvelopeError(f"the encryption certificate of {label} cannot be used: {exc}") from exc


def seal(plaintext: BinaryIO, out: BinaryIO, *, ids: BidIds, bidder_signing_key: ec.EllipticCurvePrivateKey,
         bidder_signing_cert: x509.Certificate, bidder_encryption_cert: x509.Certificate,
         officers: Sequence[tuple[str, x509.Certificate]], threshold: int,
         chunk_size: int = DEFAULT_CHUNK_SIZE, threads: int = DEFAULT_THREADS, now: datetime | None = None,
         random_bytes: RandomBytes = secrets.token_bytes) -> EnvelopeSummary:
    """Encrypt ``plaintext`` into ``out`` as a signed envelope; memory stays at a few chunk buffers.

    ``officers`` are (officer id, encryption certificate) pairs in escrow order (share x = position + 1);
    any ``threshold`` of them together can open the bid. The caller checks beforehand that every
    certificate is valid and unrevoked (crypto.certificates.verify_certificate). ``random_bytes`` and
    ``now`` exist for the known-answer test vectors only.
    """
    _check_inputs(ids, bidder_signing_key, bidder_signing_cert, bidder_encryption_cert, officers, threshold,
                  chunk_size)
    content_key = random_bytes(32)
    nonce_prefix = random_bytes(NONCE_PREFIX_SIZE)
    commitment = key_commitment(content_key)

    def context(purpose: str, cert: x509.Certificate, officer: str = "", x: int = 0) -> bytes:
        return wrap_context(ids, nonce_prefix, commitment, purpose=purpose,
                            recipient=certificate_fingerprint(cert), officer=officer, x=x)

    bidder_key = wrap_secret(content_key, bidder_encryption_cert, context("content_key", bidder_encryption_cert),
                             random_bytes=random_bytes)
    shares = tuple(
        EscrowShare(officer, share.x, wrap_secret(share.y, cert, context("escrow_share", cert, officer, share.x),
                                                  random_bytes=random_bytes))
        for (officer, cert), share in zip(officers, split_secret(content_key, len(officers), threshold,
                                                                 random_bytes=random_bytes)))
    encoded = encode_header(header_json(
        ids=ids, chunk_size=chunk_size, nonce_prefix=nonce_prefix, key_commitment=commitment,
        created_at=format_utc(now or datetime.now(timezone.utc)), signer_certificate=bidder_signing_cert,
        bidder_key=bidder_key, threshold=threshold, shares=shares))
    header = parse_header(encoded, sign_bytes(bidder_signing_key, HEADER_SIGNATURE_CONTEXT + encoded))
    write_all(out, header.encoded)
    write_all(out, header.signature)

    aad, body, reader = header.header_hash, BodyDigest(), ChunkReader(plaintext)
    sizes = {"index": 0, "done": False, "plaintext": 0, "body": 0}

    def fetch(worker: _Worker) -> tuple[int, bool, memoryview] | None:
        if sizes["done"]:
            return None
        index = sizes["index"]
        if index >= MAX_CHUNKS:
            raise EnvelopeError("the bid is too large for one envelope (2**32 chunks)")
        chunk = reader.next(chunk_size, worker.plain)
        sizes["index"] = index + 1
        sizes["done"] = final = len(chunk) < chunk_size
        return index, final, chunk

    def work(worker: _Worker, job: tuple[int, bool, memoryview]) -> tuple[memoryview, bytes]:
        index, final, chunk = job
        nonce = chunk_nonce(nonce_prefix, index, final)
        end = FRAME.size + len(chunk) + TAG_SIZE
        FRAME.pack_into(worker.record, 0, CHUNK_TAG, nonce, len(chunk) + TAG_SIZE)
        worker.cipher.encrypt_into(nonce, chunk, aad, worker.record[FRAME.size:end])
        return worker.record[:end], record_digest(worker.record[:end])

    def commit(job: tuple[int, bool, memoryview], result: tuple[memoryview, bytes]) -> None:
        record, digest = result
        write_all(out, record)
        body.add(digest)
        sizes["plaintext"] += len(job[2])
        sizes["body"] += len(record)
        job[2].release()
        reader.consumed(sizes["plaintext"])

    try:
        OrderedPipeline(lambda: _Worker(payload_key(content_key), chunk_size), fetch, work, commit, threads).run()
    finally:
        reader.close()
    digest = body.digest()
    signature = sign_bytes(bidder_signing_key, trailer_message(header, body.count, sizes["plaintext"], digest))
    write_all(out, TRAILER.pack(TRAILER_TAG, body.count, sizes["plaintext"], digest, signature))
    return EnvelopeSummary(header=header, ciphertext_digest=digest, chunk_count=body.count,
                      plaintext_size=sizes["plaintext"], envelope_size=header.size + sizes["body"] + TRAILER.size,
                      signature=signature)
