"""Checking an envelope without its key: what the server does while a bid uploads (电子招标投标办法第26条).

The platform must reject a bid that is not properly sealed, yet must not be able to read it. Without the
content key it can still check everything that makes a bid well-formed: the magic and version, the header
and its signature, that the signer is the bidder's certificate and the ids are this bid's, that the chunks
are in order, of legal size, none foreign, that a final chunk ends the stream, and that the ciphertext
digest and the closing signature match. Any byte changed anywhere makes one of those checks fail.

``EnvelopeVerifier`` is push-based (``feed`` the bytes as they arrive, in any pieces, then ``finish``),
keeps at most one header or frame in memory, and fails as early as possible, so an upload with a wrong
header is refused after its first kilobytes, not after gigabytes.
"""
from __future__ import annotations

from typing import BinaryIO

import blake3
from cryptography import x509

from .errors import EnvelopeError, MalformedEnvelope, Truncated
from .format import (FRAME, PREAMBLE, SIGNATURE_SIZE, TAG_SIZE, TRAILER, TRAILER_TAG, BidIds, BodyDigest,
                     EnvelopeHeader, EnvelopeSummary, check_frame, check_signer, check_trailer, missing_final_chunk,
                     parse_header, parse_preamble)

READ_BLOCK = 1 << 20


class EnvelopeVerifier:
    """Incremental, keyless envelope check. ``header`` is available as soon as it has arrived."""

    def __init__(self, *, expected_ids: BidIds, bidder_signing_cert: x509.Certificate) -> None:
        self._expected_ids = expected_ids
        self._signer = bidder_signing_cert
        self._stage = "preamble"
        self._need = PREAMBLE.size
        self._pending = bytearray()
        self._preamble = b""
        self.header: EnvelopeHeader | None = None
        self._body = BodyDigest()
        self._record: blake3.blake3 | None = None
        self._remaining = 0
        self._final = False
        self._plaintext = 0
        self.bytes_seen = 0
        self._summary: EnvelopeSummary | None = None
        self._failure: EnvelopeError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the next bytes of the envelope; raises the first problem found, and again on every later call."""
        if self._failure is not None:
            raise self._failure
        try:
            self._feed(memoryview(data).cast("B"))
        except EnvelopeError as exc:
            self._failure = exc
            raise

    def _feed(self, view: memoryview) -> None:
        self.bytes_seen += len(view)
        while view:
            if self._stage == "done":
                raise MalformedEnvelope("there are bytes after the end of the envelope")
            if self._stage == "body":
                take = min(self._remaining, len(view))
                assert self._record is not None
                self._record.update(view[:take])
                self._remaining -= take
                view = view[take:]
                if not self._remaining:
                    self._end_record()
                continue
            take = min(self._need - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == self._need:
                part = bytes(self._pending)
                self._pending.clear()
                self._advance(part)

    def _advance(self, part: bytes) -> None:
        if self._stage == "preamble":
            self._preamble = part
            self._stage, self._need = "header", parse_preamble(part) + SIGNATURE_SIZE
        elif self._stage == "header":
            header = parse_header(self._preamble + part[:-SIGNATURE_SIZE], part[-SIGNATURE_SIZE:])
            check_signer(header, self._signer)
            header.check_ids(self._expected_ids)
            self.header = header
            self._stage, self._need = "frame", FRAME.size
        elif self._stage == "frame":
            assert self.header is not None
            if part[0] == TRAILER_TAG[0]:
                raise missing_final_chunk(self._body.count)
            self._final, length = check_frame(part, self._body.count, self.header)
            self._record = blake3.blake3(part)
            self._remaining = length
            self._plaintext += length - TAG_SIZE
            self._stage = "body"
        elif self._stage == "trailer":
            assert self.header is not None
            signature = check_trailer(part, self.header, self._body.count, self._plaintext, self._body.digest())
            self._summary = EnvelopeSummary(self.header, self._body.digest(), self._body.count, self._plaintext,
                                            self.bytes_seen, signature)
            self._stage = "done"

    def _end_record(self) -> None:
        assert self._record is not None
        self._body.add(self._record.digest())
        self._record = None
        self._stage, self._need = ("trailer", TRAILER.size) if self._final else ("frame", FRAME.size)

    def finish(self) -> EnvelopeSummary:
        """Declare the end of the bytes; return the summary or raise Truncated saying where it stopped."""
        if self._failure is not None:
            raise self._failure
        if self._summary is None:
            where = {"preamble": "inside its preamble", "header": "inside its header",
                     "frame": f"before chunk {self._body.count}", "body": f"inside chunk {self._body.count}",
                     "trailer": "inside its trailer (the closing signature is missing)"}[self._stage]
            raise Truncated(f"the envelope ends after {self.bytes_seen} bytes, {where}: the upload is incomplete "
                            f"or the file was cut off")
        return self._summary


def verify_envelope(stream: BinaryIO, *, expected_ids: BidIds,
                    bidder_signing_cert: x509.Certificate) -> EnvelopeSummary:
    """Run :class:`EnvelopeVerifier` over a whole stream (e.g. a stored bid, before a receipt is issued)."""
    verifier = EnvelopeVerifier(expected_ids=expected_ids, bidder_signing_cert=bidder_signing_cert)
    buffer = memoryview(bytearray(READ_BLOCK))
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            count = readinto(buffer)
            if not count:
                break
            verifier.feed(buffer[:count])
        else:
            data = stream.read(READ_BLOCK)
            if not data:
                break
            verifier.feed(data)
    return verifier.finish()
