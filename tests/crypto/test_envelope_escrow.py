"""Escrow: when the bidder's key fails through no fault of its own, k opening officers together open the bid,
and fewer than k (or the platform alone) cannot."""
from __future__ import annotations

import io
import itertools
import os

import pytest

from crypto.envelope import (InvalidShare, NotEnoughShares, combine_shares, read_header,
                             unwrap_content_key, unwrap_share)
from crypto.envelope.format import (HEADER_SIGNATURE_CONTEXT, EscrowShare, encode_header, header_json,
                                    parse_header)
from crypto.envelope.keys import key_commitment, wrap_context, wrap_secret
from crypto.shamir import split_secret
from crypto.signing import certificate_fingerprint, sign_bytes

from .test_envelope_roundtrip import IDS, open_bytes, seal_bytes


@pytest.fixture(scope="module")
def sealed(bidder, officers):
    data = os.urandom(9000)
    envelope, _ = seal_bytes(bidder, officers, data, threshold=2)
    return envelope, read_header(io.BytesIO(envelope)), data


def shares_of(header, officers, indices):
    return [unwrap_share(header, officers[i].holder.identifier, officers[i].encryption_key) for i in indices]


def test_any_two_of_three_officers_open_the_bid(sealed, bidder, officers):
    envelope, header, data = sealed
    bidder_key = unwrap_content_key(header, bidder.encryption_key)
    for pair in itertools.combinations(range(3), 2):
        key = combine_shares(header, shares_of(header, officers, pair))
        assert key == bidder_key
        assert open_bytes(envelope, key, bidder) == data
    assert combine_shares(header, shares_of(header, officers, range(3))) == bidder_key


def test_one_officer_alone_cannot_open(sealed, officers):
    _, header, _ = sealed
    with pytest.raises(NotEnoughShares, match="1 of the 2 escrow shares"):
        combine_shares(header, shares_of(header, officers, [0]))
    with pytest.raises(NotEnoughShares):
        combine_shares(header, shares_of(header, officers, [1, 1]))


def test_a_share_unwrapped_with_the_wrong_key_or_for_an_unknown_officer(sealed, officers, bidder):
    _, header, _ = sealed
    with pytest.raises(InvalidShare, match="does not belong to the encryption certificate"):
        unwrap_share(header, officers[0].holder.identifier, officers[1].encryption_key)
    with pytest.raises(InvalidShare, match="officer user:999 holds no escrow share"):
        unwrap_share(header, "user:999", bidder.encryption_key)


def test_shares_of_another_bid_do_not_combine(sealed, bidder, officers):
    _, header, _ = sealed
    other, _ = seal_bytes(bidder, officers, b"another bid")
    other_header = read_header(io.BytesIO(other))
    mixed = shares_of(header, officers, [0]) + shares_of(other_header, officers, [1])
    with pytest.raises(InvalidShare, match="do not rebuild this bid's key"):
        combine_shares(header, mixed)


def signed_header(bidder, officers, content_key: bytes, share_values: list[bytes]):
    """A header signed by the bidder whose escrow shares hold ``share_values`` (which may be wrong)."""
    prefix, commitment = os.urandom(7), key_commitment(content_key)

    def wrap(secret, cert, purpose, officer="", x=0):
        return wrap_secret(secret, cert, wrap_context(IDS, prefix, commitment, purpose=purpose, officer=officer,
                                                      x=x, recipient=certificate_fingerprint(cert)))

    shares = tuple(EscrowShare(p.holder.identifier, x, wrap(y, p.encryption_cert, "escrow_share",
                                                              p.holder.identifier, x))
                   for x, (p, y) in enumerate(zip(officers, share_values), start=1))
    encoded = encode_header(header_json(
        ids=IDS, chunk_size=4096, nonce_prefix=prefix, key_commitment=commitment,
        created_at="2026-03-01T01:00:00.000Z", signer_certificate=bidder.signing_cert,
        bidder_key=wrap(content_key, bidder.encryption_cert, "content_key"), threshold=2, shares=shares))
    return parse_header(encoded, sign_bytes(bidder.signing_key, HEADER_SIGNATURE_CONTEXT + encoded))


def test_a_sealer_cannot_give_the_officers_a_different_key(bidder, officers):
    """The header commits to the content key, so escrow shares of any other key are detected."""
    content_key = os.urandom(32)
    decoy = split_secret(os.urandom(32), 3, 2)
    header = signed_header(bidder, officers, content_key, [s.y for s in decoy])
    assert unwrap_content_key(header, bidder.encryption_key) == content_key
    with pytest.raises(InvalidShare, match="do not rebuild this bid's key"):
        combine_shares(header, shares_of(header, officers, [0, 1]))


def test_one_bad_share_among_more_than_k_is_outvoted(bidder, officers):
    """If one share was built wrongly but k good ones remain, the good subset still opens the bid."""
    content_key = os.urandom(32)
    good = split_secret(content_key, 3, 2)
    header = signed_header(bidder, officers, content_key, [good[0].y, good[1].y, bytes(b ^ 1 for b in good[2].y)])
    assert combine_shares(header, shares_of(header, officers, [0, 1, 2])) == content_key
    with pytest.raises(InvalidShare):
        combine_shares(header, shares_of(header, officers, [0, 2]))
