"""Sealing and opening bids of every shape; the keyless verifier agrees with the sealer byte for byte."""
from __future__ import annotations

import io
import os
import random

import pytest

from crypto.envelope import (BidIds, EnvelopeError, EnvelopeVerifier, open_envelope, read_header, seal,
                             unwrap_content_key, verify_envelope)

CHUNK = 4096
IDS = BidIds("E3504219400202007001", "E3504219400202007001-01", "91350100M000100Y43")


def seal_bytes(bidder, officers, data: bytes, *, ids=IDS, threads=2, threshold=2, chunk_size=CHUNK,
               encryption_cert=None):
    out = io.BytesIO()
    summary = seal(io.BytesIO(data), out, ids=ids, bidder_signing_key=bidder.signing_key,
                   bidder_signing_cert=bidder.signing_cert,
                   bidder_encryption_cert=encryption_cert or bidder.encryption_cert,
                   officers=[(p.holder.identifier, p.encryption_cert) for p in officers], threshold=threshold,
                   chunk_size=chunk_size, threads=threads)
    return out.getvalue(), summary


def open_bytes(envelope: bytes, key: bytes, bidder, *, ids=IDS, threads=2) -> bytes:
    out = io.BytesIO()
    open_envelope(io.BytesIO(envelope), out, key, expected_ids=ids, bidder_signing_cert=bidder.signing_cert,
                  threads=threads)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 77])
@pytest.mark.parametrize("threads", [1, 2])
def test_bids_of_every_size_round_trip(bidder, officers, size, threads):
    data = os.urandom(size)
    envelope, summary = seal_bytes(bidder, officers, data, threads=threads)
    assert summary.plaintext_size == size
    assert summary.chunk_count == size // CHUNK + 1  # the final chunk is always shorter than a full one
    assert summary.envelope_size == len(envelope)
    key = unwrap_content_key(read_header(io.BytesIO(envelope)), bidder.encryption_key)
    assert open_bytes(envelope, key, bidder, threads=threads) == data


def test_the_ciphertext_hides_the_plaintext_and_differs_each_time(bidder, officers):
    data = b"MARKER-price-9876543.21 " * 500
    first, _ = seal_bytes(bidder, officers, data)
    second, _ = seal_bytes(bidder, officers, data)
    assert b"MARKER" not in first and b"9876543" not in first
    assert first != second


def test_rsa_encryption_certificate_for_the_bidder(bidder, officers):
    """The bidder may hold an RSA-OAEP encryption certificate instead of ECDH (the custodian does here)."""
    custodian = officers[2]
    data = os.urandom(3 * CHUNK)
    out = io.BytesIO()
    seal(io.BytesIO(data), out, ids=IDS, bidder_signing_key=custodian.signing_key,
         bidder_signing_cert=custodian.signing_cert, bidder_encryption_cert=custodian.encryption_cert,
         officers=[(p.holder.identifier, p.encryption_cert) for p in officers], threshold=2, chunk_size=CHUNK)
    header = read_header(io.BytesIO(out.getvalue()))
    assert header.bidder_key.algorithm == "RSA-OAEP-SHA256"
    key = unwrap_content_key(header, custodian.encryption_key)
    assert open_bytes(out.getvalue(), key, custodian) == data


def test_the_header_records_the_bid_and_the_escrow(bidder, officers):
    envelope, summary = seal_bytes(bidder, officers, b"x", threshold=2)
    header = read_header(io.BytesIO(envelope))
    assert header == summary.header
    assert header.ids == IDS and header.chunk_size == CHUNK and header.threshold == 2
    assert [s.officer for s in header.shares] == ["user:101", "user:102", "user:103"]
    assert [s.x for s in header.shares] == [1, 2, 3]
    assert header.signer_certificate == bidder.signing_cert


def test_the_keyless_verifier_accepts_any_split_of_the_bytes(bidder, officers):
    data = os.urandom(4 * CHUNK + 10)
    envelope, sealed = seal_bytes(bidder, officers, data)
    whole = verify_envelope(io.BytesIO(envelope), expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
    assert (whole.ciphertext_digest, whole.chunk_count, whole.plaintext_size, whole.envelope_size) == \
        (sealed.ciphertext_digest, sealed.chunk_count, sealed.plaintext_size, sealed.envelope_size)
    rng = random.Random(7)
    for _ in range(5):
        verifier = EnvelopeVerifier(expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
        position = 0
        while position < len(envelope):
            step = rng.choice([1, 3, 17, 500, 4113, 20000])
            verifier.feed(envelope[position:position + step])
            position += step
            if position > 4000:
                assert verifier.header is not None
        assert verifier.finish().ciphertext_digest == sealed.ciphertext_digest


def test_sealing_parameters_are_checked(bidder, officers, other_bidder):
    def attempt(**overrides):
        args = dict(ids=IDS, bidder_signing_key=bidder.signing_key, bidder_signing_cert=bidder.signing_cert,
                    bidder_encryption_cert=bidder.encryption_cert,
                    officers=[(p.holder.identifier, p.encryption_cert) for p in officers], threshold=2,
                    chunk_size=CHUNK)
        args.update(overrides)
        seal(io.BytesIO(b"bid"), io.BytesIO(), **args)

    with pytest.raises(EnvelopeError, match="no single officer"):
        attempt(threshold=1)
    with pytest.raises(EnvelopeError, match="no single officer"):
        attempt(threshold=4)
    with pytest.raises(EnvelopeError, match="listed twice"):
        attempt(officers=[("a", officers[0].encryption_cert), ("a", officers[1].encryption_cert)])
    with pytest.raises(EnvelopeError, match="does not belong"):
        attempt(bidder_signing_key=other_bidder.signing_key)
    with pytest.raises(EnvelopeError, match="chunk size"):
        attempt(chunk_size=100)
    with pytest.raises(EnvelopeError, match="encryption certificate of officer a cannot be used"):
        attempt(officers=[("a", officers[0].signing_cert), ("b", officers[1].encryption_cert)])
    with pytest.raises(EnvelopeError, match="1–128 printable"):
        BidIds("", "s", "b")
    with pytest.raises(EnvelopeError, match="officer ids"):
        attempt(officers=[("a\n", officers[0].encryption_cert), ("b", officers[1].encryption_cert)])
    with pytest.raises(EnvelopeError, match="belongs to another holder"):
        attempt(bidder_encryption_cert=other_bidder.encryption_cert)


def test_regular_files_round_trip_through_the_zero_copy_path(tmp_path, bidder, officers):
    """Files are memory-mapped; the result is the same, streams end where the envelope ends."""
    data = os.urandom(40 * CHUNK + 3)
    plain, sealed_path, opened = tmp_path / "bid.tar", tmp_path / "bid.bhe", tmp_path / "opened.tar"
    plain.write_bytes(b"skip" + data)
    with open(plain, "rb") as source, open(sealed_path, "wb") as out:
        source.seek(4)
        summary = seal(source, out, ids=IDS, bidder_signing_key=bidder.signing_key,
                       bidder_signing_cert=bidder.signing_cert, bidder_encryption_cert=bidder.encryption_cert,
                       officers=[(p.holder.identifier, p.encryption_cert) for p in officers], threshold=2,
                       chunk_size=CHUNK)
        assert source.tell() == 4 + len(data)
    envelope = sealed_path.read_bytes()
    assert summary.envelope_size == len(envelope)
    assert open_bytes(envelope, unwrap_content_key(summary.header, bidder.encryption_key), bidder) == \
        data
    with open(sealed_path, "rb") as source, open(opened, "wb") as out:
        key = unwrap_content_key(read_header(source), bidder.encryption_key)
        source.seek(0)
        open_envelope(source, out, key, expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
    assert opened.read_bytes() == data
    with open(sealed_path, "rb") as source:
        assert verify_envelope(source, expected_ids=IDS,
                               bidder_signing_cert=bidder.signing_cert).ciphertext_digest == \
            summary.ciphertext_digest


def test_a_truncated_file_on_disk_is_refused(tmp_path, bidder, officers):
    envelope, summary = seal_bytes(bidder, officers, os.urandom(40 * CHUNK))
    key = unwrap_content_key(summary.header, bidder.encryption_key)
    for cut, error in ((len(envelope) - 50, "trailer"), (len(envelope) // 2, "inside chunk|before chunk")):
        path = tmp_path / f"cut-{cut}.bhe"
        path.write_bytes(envelope[:cut])
        with open(path, "rb") as source, pytest.raises(EnvelopeError, match=error):
            open_envelope(source, io.BytesIO(), key, expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
    path = tmp_path / "longer.bhe"
    path.write_bytes(envelope + b"extra")
    with open(path, "rb") as source, pytest.raises(EnvelopeError, match="bytes after the end"):
        open_envelope(source, io.BytesIO(), key, expected_ids=IDS, bidder_signing_cert=bidder.signing_cert)
