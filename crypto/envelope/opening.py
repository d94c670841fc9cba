"""Opening a bid at the opening (开标): recover the content key, then decrypt and check every chunk.

Two ways to the content key (rules.md §1, Arts 29–31):
- the bidder unwraps it with its own encryption key (``unwrap_content_key``; in the browser the same
  steps run in WebCrypto and only the content key travels to the server);
- when the host rules that a failure was not the bidder's fault, ``threshold`` opening officers each
  unwrap their escrow share (``unwrap_share``) and the shares are combined (``combine_shares``).

``open_envelope`` writes plaintext while it reads. It is complete and authentic only when the call
returns without an error: write to a temporary file and publish it only then.
"""
from __future__ import annotations

import hmac
import itertools
from collections.abc import Sequence
from typing import Any, BinaryIO

import blake3
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..shamir import Share, ShamirError
from ..shamir import combine_shares as shamir_combine
from .errors import ChunkCorrupted, InvalidShare, MalformedEnvelope, NotEnoughShares, Truncated, WrongKey
from .format import (FRAME, PREAMBLE, SIGNATURE_SIZE, TAG_SIZE, TRAILER, TRAILER_TAG, BidIds, BodyDigest,
                     EnvelopeHeader, EnvelopeSummary, check_frame, check_signer, check_trailer, chunk_nonce,
                     missing_final_chunk, parse_header, parse_preamble)
from .keys import check_content_key, key_commitment, payload_key, unwrap_secret, wrap_context
from .pipeline import DEFAULT_THREADS, OrderedPipeline
from .streams import ChunkReader, read_exact, write_all


_MAX_SUBSETS = 10_000


def read_header(stream: BinaryIO) -> EnvelopeHeader:
    """Read and parse the header (checking its signature against the certificate it carries).

    Leaves ``stream`` at the first chunk.
    """
    preamble = read_exact(stream, PREAMBLE.size)
    if len(preamble) < PREAMBLE.size:
        raise Truncated(f"the envelope ends after {len(preamble)} bytes, inside its preamble")
    length = parse_preamble(preamble)
    rest = read_exact(stream, length + SIGNATURE_SIZE)
    if len(rest) < length + SIGNATURE_SIZE:
        raise Truncated(f"the envelope ends inside its header ({PREAMBLE.size + len(rest)} bytes read)")
    return parse_header(preamble + rest[:length], rest[length:])


def _context(header: EnvelopeHeader, purpose: str, recipient: str, officer: str = "", x: int = 0) -> bytes:
    return wrap_context(header.ids, header.nonce_prefix, header.key_commitment, purpose=purpose,
                        recipient=recipient, officer=officer, x=x)


def unwrap_content_key(header: EnvelopeHeader, private_key: Any) -> bytes:
    """The bidder's way in: unwrap the content key with its encryption private key."""
    wrap = header.bidder_key
    key = unwrap_secret(wrap, private_key, _context(header, "content_key", wrap.recipient), what="bid key")
    check_content_key(key, header.key_commitment)
    return key


def unwrap_share(header: EnvelopeHeader, officer: str, private_key: Any) -> Share:
    """An opening officer's escrow share of this bid, unwrapped with the officer's encryption key."""
    entry = header.share_for(officer)
    context = _context(header, "escrow_share", entry.wrap.recipient, officer, entry.x)
    try:
        y = unwrap_secret(entry.wrap, private_key, context, what=f"escrow share of officer {officer}")
    except WrongKey as exc:
        raise InvalidShare(str(exc)) from exc
    return Share(entry.x, y)


def combine_shares(header: EnvelopeHeader, shares: Sequence[Share]) -> bytes:
    """Rebuild the content key from at least ``threshold`` escrow shares and check it against the header.

    Shares come from ``unwrap_share``, so each is authentic to its officer; if more than ``threshold`` are
    given and they disagree (a share the sealer built wrongly), every ``threshold``-subset is tried.
    """
    distinct = {share.x: share for share in shares}
    if len(distinct) < header.threshold:
        raise NotEnoughShares(f"{len(distinct)} of the {header.threshold} escrow shares needed have been "
                              f"released")
    candidates = [list(distinct.values())]
    if len(distinct) > header.threshold:
        candidates += [list(group) for group in itertools.islice(
            itertools.combinations(distinct.values(), header.threshold), _MAX_SUBSETS)]
    for group in candidates:
        try:
            key = shamir_combine(group)
        except ShamirError as exc:
            raise InvalidShare(f"the escrow shares cannot be combined: {exc}") from exc
        if hmac.compare_digest(key_commitment(key), header.key_commitment):
            return key
    raise InvalidShare("the escrow shares do not rebuild this bid's key: a share is damaged or belongs to "
                       "another bid")


class _Worker:
    def __init__(self, key: bytes, chunk_size: int) -> None:
        self.cipher = AESGCM(key)
        self.record = memoryview(bytearray(FRAME.size + chunk_size + TAG_SIZE))
        self.plain = memoryview(bytearray(chunk_size))


def open_envelope(source: BinaryIO, out: BinaryIO, content_key: bytes, *, expected_ids: BidIds,
                  bidder_signing_cert: x509.Certificate, threads: int = DEFAULT_THREADS) -> EnvelopeSummary:
    """Decrypt ``source`` into ``out``, checking every chunk, the final flag, the digest and both signatures.

    Raises, in the order the checks happen: HeaderTampered, SignerMismatch, BidMismatch, WrongKey, then per
    chunk ForeignChunk / DuplicateChunk / ChunkOutOfOrder / OversizeChunk / ChunkCorrupted / Truncated, then
    DigestMismatch / BadSignature / MalformedEnvelope for the trailer.
    """
    header = read_header(source)
    check_signer(header, bidder_signing_cert)
    header.check_ids(expected_ids)
    check_content_key(content_key, header.key_commitment)
    aad, body, reader = header.header_hash, BodyDigest(), ChunkReader(source)
    state = {"index": 0, "done": False, "plaintext": 0, "body": 0}

    def fetch(worker: _Worker) -> tuple[int, bool, bytes, memoryview] | None:
        if state["done"]:
            return None
        index = state["index"]
        frame = bytes(reader.next(FRAME.size, worker.record[:FRAME.size]))
        if frame[:1] == TRAILER_TAG:
            raise missing_final_chunk(index)
        if len(frame) < FRAME.size:
            raise Truncated(f"the envelope ends before chunk {index}: the end of the bid was cut off")
        final, length = check_frame(frame, index, header)
        ciphertext = reader.next(length, worker.record[FRAME.size:FRAME.size + length])
        if len(ciphertext) < length:
            raise Truncated(f"the envelope ends inside chunk {index}: the end of the bid was cut off")
        state["index"], state["done"] = index + 1, final
        return index, final, frame, ciphertext

    def work(worker: _Worker, job: tuple[int, bool, bytes, memoryview]) -> tuple[memoryview, bytes]:
        index, final, frame, ciphertext = job
        plain = worker.plain[:len(ciphertext) - TAG_SIZE]
        try:
            worker.cipher.decrypt_into(chunk_nonce(header.nonce_prefix, index, final), ciphertext, aad, plain)
        except InvalidTag as exc:
            raise ChunkCorrupted(f"chunk {index} fails authentication: its bytes were changed or it comes from "
                                 f"another bid") from exc
        hasher = blake3.blake3(frame)
        hasher.update(ciphertext)  # after decryption, while the ciphertext is still in the CPU cache
        return plain, hasher.digest()

    def commit(job: tuple[int, bool, bytes, memoryview], result: tuple[memoryview, bytes]) -> None:
        plain, digest = result
        write_all(out, plain)
        body.add(digest)
        state["plaintext"] += len(plain)
        state["body"] += FRAME.size + len(job[3])
        job[3].release()
        reader.consumed(state["body"])

    try:
        OrderedPipeline(lambda: _Worker(payload_key(content_key), header.chunk_size), fetch, work, commit,
                        threads).run()
        trailer = bytes(reader.next(TRAILER.size, memoryview(bytearray(TRAILER.size))))
    finally:
        reader.close()
    if len(trailer) < TRAILER.size:
        raise Truncated("the envelope ends inside its trailer: the bidder's closing signature is missing")
    digest = body.digest()
    signature = check_trailer(trailer, header, body.count, state["plaintext"], digest)
    if source.read(1):
        raise MalformedEnvelope("there are bytes after the end of the envelope")
    return EnvelopeSummary(header=header, ciphertext_digest=digest, chunk_count=body.count,
                           plaintext_size=state["plaintext"],
                           envelope_size=header.size + state["body"] + TRAILER.size, signature=signature)

