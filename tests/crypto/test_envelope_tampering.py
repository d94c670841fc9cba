"""Every way a stored bid can be damaged or forged is refused with an error that names the problem.

Each case is checked twice: by the keyless verifier (what the server runs at upload) and by
``open_envelope`` with the right key (what the opening runs).
"""
from __future__ import annotations

import io
import json
import os
import struct

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from crypto.envelope import (BadSignature, BidIds, ChunkCorrupted, ChunkOutOfOrder, DigestMismatch,
                             DuplicateChunk, EnvelopeVerifier, ForeignChunk, HeaderTampered, MalformedEnvelope,
                             NotAnEnvelope, OversizeChunk, SignerMismatch, Truncated, WrongKey, open_envelope,
                             read_header, unwrap_content_key, verify_envelope)
from crypto.envelope.format import HEADER_SIGNATURE_CONTEXT, encode_header, parse_header
from crypto.signing import sign_bytes

from .test_envelope_roundtrip import CHUNK, IDS, open_bytes, seal_bytes

FRAME = 17
TRAILER = 109


@pytest.fixture(scope="module")
def sealed(bidder, officers):
    data = os.urandom(4 * CHUNK + 1000)
    envelope, summary = seal_bytes(bidder, officers, data)
    key = unwrap_content_key(read_header(io.BytesIO(envelope)), bidder.encryption_key)
    return envelope, summary, key, data


@pytest.fixture(scope="module")
def foreign(bidder, officers):
    envelope, _ = seal_bytes(bidder, officers, os.urandom(4 * CHUNK + 1000))
    return envelope


def records(envelope: bytes, header_size: int) -> list[tuple[int, int]]:
    """(offset, size) of each chunk record, read from the layout in docs/envelope.md."""
    out, offset = [], header_size
    while envelope[offset:offset + 1] == b"C":
        length = struct.unpack(">I", envelope[offset + 13:offset + 17])[0]
        out.append((offset, FRAME + length))
        offset += FRAME + length
    return out


def assert_refused(envelope, key, bidder, error, match, *, keyless=None, keyless_match=None, ids=IDS):
    """Both readers refuse; the keyless verifier may see a different symptom (it cannot decrypt)."""
    with pytest.raises(keyless or error, match=keyless_match or match):
        verify_envelope(io.BytesIO(envelope), expected_ids=ids, bidder_signing_cert=bidder.signing_cert)
    with pytest.raises(error, match=match):
        open_bytes(envelope, key, bidder, ids=ids)


def test_a_wrong_content_key_is_recognised_before_decrypting(sealed, bidder):
    envelope, _, key, _ = sealed
    with pytest.raises(WrongKey, match="not the key the bid was sealed with"):
        open_bytes(envelope, os.urandom(32), bidder)
    with pytest.raises(WrongKey, match="32 bytes"):
        open_bytes(envelope, key[:16], bidder)


def test_a_key_of_another_bid_is_a_wrong_key(sealed, foreign, bidder):
    other_key = unwrap_content_key(read_header(io.BytesIO(foreign)), bidder.encryption_key)
    with pytest.raises(WrongKey):
        open_bytes(sealed[0], other_key, bidder)


def test_the_wrong_private_key_cannot_unwrap(sealed, other_bidder, officers):
    header = read_header(io.BytesIO(sealed[0]))
    with pytest.raises(WrongKey, match="does not belong to the encryption certificate"):
        unwrap_content_key(header, other_bidder.encryption_key)
    with pytest.raises(WrongKey, match="does not belong"):
        unwrap_content_key(header, officers[2].encryption_key)


@pytest.mark.parametrize("cut, where", [
    (5, "preamble"), (200, "header"), ("after-chunk-1", "before chunk 2|without a final chunk"),
    ("inside-chunk-2", "inside chunk 2"), ("before-trailer", "trailer"), ("inside-trailer", "trailer"),
])
def test_a_truncated_file_is_refused(sealed, bidder, cut, where):
    envelope, summary, key, _ = sealed
    chunks = records(envelope, summary.header.size)
    position = {"after-chunk-1": chunks[1][0] + chunks[1][1], "inside-chunk-2": chunks[2][0] + 100,
                "before-trailer": len(envelope) - TRAILER, "inside-trailer": len(envelope) - 10}.get(cut, cut)
    assert_refused(envelope[:position], key, bidder, Truncated, where)


def test_removing_the_final_chunk_but_keeping_the_trailer_is_truncation(sealed, bidder):
    envelope, summary, key, _ = sealed
    last = records(envelope, summary.header.size)[-1]
    damaged = envelope[:last[0]] + envelope[last[0] + last[1]:]
    assert_refused(damaged, key, bidder, Truncated, "without a final chunk: the end of the bid was cut off")


def test_a_chunk_from_another_bid_is_refused(sealed, foreign, bidder):
    envelope, summary, key, _ = sealed
    mine = records(envelope, summary.header.size)[1]
    theirs = records(foreign, read_header(io.BytesIO(foreign)).size)[1]
    spliced = envelope[:mine[0]] + foreign[theirs[0]:theirs[0] + theirs[1]] + envelope[mine[0] + mine[1]:]
    assert_refused(spliced, key, bidder, ForeignChunk, "chunk 1 was sealed for another envelope")


def test_a_foreign_chunk_with_a_forged_frame_fails_authentication(sealed, foreign, bidder):
    envelope, summary, key, _ = sealed
    mine = records(envelope, summary.header.size)[1]
    theirs = records(foreign, read_header(io.BytesIO(foreign)).size)[1]
    forged = envelope[mine[0]:mine[0] + FRAME] + foreign[theirs[0] + FRAME:theirs[0] + theirs[1]]
    spliced = envelope[:mine[0]] + forged + envelope[mine[0] + mine[1]:]
    assert_refused(spliced, key, bidder, ChunkCorrupted, "chunk 1 fails authentication",
                   keyless=DigestMismatch, keyless_match="does not match the digest the bidder signed")


def test_duplicated_reordered_and_dropped_chunks_are_refused(sealed, bidder):
    envelope, summary, key, _ = sealed
    c = [envelope[o:o + n] for o, n in records(envelope, summary.header.size)]
    head, tail = envelope[:summary.header.size], envelope[-TRAILER:]
    assert_refused(head + c[0] + c[0] + b"".join(c[1:]) + tail, key, bidder, DuplicateChunk,
                   "chunk 0 appears a second time, at position 1")
    assert_refused(head + c[1] + c[0] + b"".join(c[2:]) + tail, key, bidder, ChunkOutOfOrder,
                   "chunk 1 found where chunk 0 was expected")
    assert_refused(head + c[0] + b"".join(c[2:]) + tail, key, bidder, ChunkOutOfOrder,
                   "chunk 2 found where chunk 1 was expected")


def test_an_oversize_chunk_is_refused_without_reading_it(sealed, bidder):
    envelope, summary, key, _ = sealed
    offset = records(envelope, summary.header.size)[0][0]
    for claimed in (CHUNK + 17, 0xFFFFFFFF):
        damaged = envelope[:offset + 13] + struct.pack(">I", claimed) + envelope[offset + 17:]
        assert_refused(damaged, key, bidder, OversizeChunk, f"claims {claimed} bytes; a chunk holds at most 4112")


def test_a_flipped_final_flag_is_refused(sealed, bidder):
    envelope, summary, key, _ = sealed
    offset = records(envelope, summary.header.size)[0][0]
    damaged = envelope[:offset + 12] + b"\x01" + envelope[offset + 13:]
    assert_refused(damaged, key, bidder, MalformedEnvelope, "chunk 0 has an invalid length 4112 for a final")


def test_a_changed_ciphertext_byte_is_refused(sealed, bidder):
    envelope, summary, key, _ = sealed
    offset = records(envelope, summary.header.size)[2][0] + FRAME + 50
    damaged = envelope[:offset] + bytes([envelope[offset] ^ 1]) + envelope[offset + 1:]
    assert_refused(damaged, key, bidder, ChunkCorrupted, "chunk 2 fails authentication",
                   keyless=DigestMismatch, keyless_match="stored envelope was altered")


def test_a_tampered_header_is_refused(sealed, bidder):
    envelope, _, key, _ = sealed
    damaged = envelope.replace(b'"section":"E3504219400202007001-01"', b'"section":"E3504219400202007001-02"', 1)
    assert damaged != envelope
    assert_refused(damaged, key, bidder, HeaderTampered, "header was altered after sealing")
    spaced = envelope.replace(b'"chunk_size":4096', b'"chunk_size":8192', 1)
    assert_refused(spaced, key, bidder, HeaderTampered, "header was altered")
    broken = envelope.replace(b'{"bidder_key"', b'{ "bidder_key"', 1)
    broken = broken[:10] + struct.pack(">I", struct.unpack(">I", envelope[10:14])[0] + 1) + broken[14:]
    assert_refused(broken, key, bidder, HeaderTampered, "not valid canonical JSON")


def test_a_header_re_signed_with_another_certificate_is_refused(sealed, bidder, other_bidder):
    envelope, summary, key, _ = sealed
    old_cert = summary.header.signer_certificate.public_bytes(Encoding.DER).hex().encode()
    new_cert = other_bidder.signing_cert.public_bytes(Encoding.DER).hex().encode()
    header_json = envelope[14:summary.header.size - 64].replace(old_cert, new_cert)
    encoded = envelope[:8] + struct.pack(">HI", 1, len(header_json)) + header_json
    resigned = encoded + sign_bytes(other_bidder.signing_key, b"bidhall-envelope/1 header\x00" + encoded)
    forged = resigned + envelope[summary.header.size:]
    assert_refused(forged, key, bidder, SignerMismatch, "not with the bidder's signing certificate")


def test_a_bid_sealed_by_another_bidder_is_refused(other_bidder, officers, bidder):
    envelope, _ = seal_bytes(other_bidder, officers, b"cover bid")
    key = unwrap_content_key(read_header(io.BytesIO(envelope)), other_bidder.encryption_key)
    assert_refused(envelope, key, bidder, SignerMismatch, "signed with certificate")


def test_an_envelope_for_another_section_is_refused(sealed, bidder):
    envelope, _, key, _ = sealed
    elsewhere = BidIds(IDS.project, "E3504219400202007001-02", IDS.bidder)
    assert_refused(envelope, key, bidder, Exception, "sealed for project E3504219400202007001, section "
                   "E3504219400202007001-01", ids=elsewhere)


def test_trailer_tampering_is_refused(sealed, bidder):
    envelope, _, key, _ = sealed
    start = len(envelope) - TRAILER
    digest_byte = start + 1 + 4 + 8
    assert_refused(envelope[:digest_byte] + bytes([envelope[digest_byte] ^ 1]) + envelope[digest_byte + 1:],
                   key, bidder, DigestMismatch, "does not match the digest the bidder signed")
    signature_byte = len(envelope) - 5
    assert_refused(envelope[:signature_byte] + bytes([envelope[signature_byte] ^ 1]) + envelope[signature_byte + 1:],
                   key, bidder, BadSignature, "closing signature")
    count = struct.unpack(">I", envelope[start + 1:start + 5])[0]
    assert_refused(envelope[:start + 1] + struct.pack(">I", count + 1) + envelope[start + 5:], key, bidder,
                   DigestMismatch, "announces 6 chunks")
    assert_refused(envelope + b"\x00", key, bidder, MalformedEnvelope, "bytes after the end")


def test_something_that_is_not_an_envelope(sealed, bidder):
    envelope, _, key, _ = sealed
    assert_refused(b"PK\x03\x04" + os.urandom(100), key, bidder, NotAnEnvelope, "not a bidhall bid envelope")
    assert_refused(envelope[:8] + b"\x00\x02" + envelope[10:], key, bidder, NotAnEnvelope, "version 2")
    assert_refused(envelope[:10] + b"\xff\xff\xff\xff" + envelope[14:], key, bidder, MalformedEnvelope,
                   "header length")


def test_the_verifier_refuses_early_and_stays_refusing(sealed, bidder, other_bidder):
    envelope = sealed[0]
    verifier = EnvelopeVerifier(expected_ids=IDS, bidder_signing_cert=other_bidder.signing_cert)
    with pytest.raises(SignerMismatch):
        verifier.feed(envelope[:sealed[1].header.size])
    assert verifier.bytes_seen == sealed[1].header.size
    with pytest.raises(SignerMismatch):
        verifier.feed(envelope[sealed[1].header.size:])
    with pytest.raises(SignerMismatch):
        verifier.finish()


def test_a_failed_open_reports_the_first_bad_chunk_with_two_threads(sealed, bidder):
    envelope, summary, key, _ = sealed
    chunks = records(envelope, summary.header.size)
    damaged = bytearray(envelope)
    for index in (3, 1):
        damaged[chunks[index][0] + FRAME + 7] ^= 0xFF
    for threads in (1, 2):
        with pytest.raises(ChunkCorrupted, match="chunk 1 fails"):
            open_bytes(bytes(damaged), key, bidder, threads=threads)


def test_a_failed_open_never_writes_past_the_bad_chunk(sealed, bidder):
    envelope, summary, key, data = sealed
    chunks = records(envelope, summary.header.size)
    damaged = bytearray(envelope)
    damaged[chunks[2][0] + FRAME + 7] ^= 0xFF
    out = io.BytesIO()
    with pytest.raises(ChunkCorrupted):
        open_envelope(io.BytesIO(bytes(damaged)), out, key, expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
    assert out.getvalue() == data[:2 * CHUNK]


def test_a_signed_but_malformed_header_is_malformed_not_tampered(sealed, bidder):
    """Only a change after signing is 'tampered'; a header its signer built wrongly is 'malformed'."""
    envelope, summary, key, _ = sealed
    fields = json.loads(envelope[14:summary.header.size - 64])
    fields["chunk_size"] = 100
    encoded = encode_header(fields)
    with pytest.raises(MalformedEnvelope, match="chunk_size must be an integer from 4096"):
        parse_header(encoded, sign_bytes(bidder.signing_key, HEADER_SIGNATURE_CONTEXT + encoded))
    tampered = envelope.replace(b'"chunk_size":4096', b'"chunk_size":1000', 1)
    assert_refused(tampered, key, bidder, HeaderTampered, "altered after sealing")
