"""Shamir k-of-n over GF(2^8): any k shares rebuild the key, k − 1 shares say nothing about it."""
from __future__ import annotations

import itertools
import os

import pytest

from crypto.shamir import Share, ShamirError, combine_shares, gf_inverse, gf_mul, split_secret


def test_field_multiplication_matches_fips_197_examples():
    # FIPS-197 §4.2: {57}·{83} = {c1} and {57}·{13} = {fe} in the AES field.
    assert gf_mul(0x57, 0x83) == 0xC1
    assert gf_mul(0x57, 0x13) == 0xFE
    assert gf_mul(0x02, 0x80) == 0x1B


def test_every_nonzero_element_has_an_inverse():
    for a in range(1, 256):
        assert gf_mul(a, gf_inverse(a)) == 1
    with pytest.raises(ShamirError):
        gf_inverse(0)


@pytest.mark.parametrize("shares, threshold", [(2, 2), (3, 2), (5, 3), (7, 7)])
def test_any_threshold_subset_rebuilds_the_secret(shares, threshold):
    secret = os.urandom(32)
    parts = split_secret(secret, shares, threshold)
    assert [p.x for p in parts] == list(range(1, shares + 1))
    for group in itertools.combinations(parts, threshold):
        assert combine_shares(list(group)) == secret
    assert combine_shares(list(reversed(parts))) == secret


def _lagrange_at(x: int, points: list[tuple[int, int]]) -> int:
    value = 0
    for i, (xi, yi) in enumerate(points):
        weight = 1
        for m, (xm, _) in enumerate(points):
            if m != i:
                weight = gf_mul(weight, gf_mul(x ^ xm, gf_inverse(xi ^ xm)))
        value ^= gf_mul(weight, yi)
    return value


def test_fewer_than_threshold_shares_are_consistent_with_every_secret():
    """Two shares of a 3-of-3 split: for each of the 256 possible secret bytes there is a valid third share.

    So the two shares say nothing about the secret (perfect secrecy of Shamir's scheme).
    """
    first, second, _ = split_secret(b"\x42", 3, 3)
    known = [(first.x, first.y[0]), (second.x, second.y[0])]
    thirds = set()
    for candidate in range(256):
        third = _lagrange_at(3, [(0, candidate), *known])
        thirds.add(third)
        assert combine_shares([first, second, Share(3, bytes([third]))]) == bytes([candidate])
    assert len(thirds) == 256


def test_k_minus_one_shares_do_not_rebuild_the_secret():
    secret = os.urandom(32)
    parts = split_secret(secret, 5, 3)
    assert combine_shares(parts[:2]) != secret


def test_known_answer_with_a_fixed_random_source():
    coefficients = bytes.fromhex("a1b2c3d4")  # byte 0: a1=0xa1, a2=0xb2; byte 1: a1=0xc3, a2=0xd4
    parts = split_secret(b"\x01\x02", 3, 3, random_bytes=lambda n: coefficients[:n])
    # f0(x) = 01 + a1·x + b2·x², f1(x) = 02 + c3·x + d4·x² in GF(2^8)
    expected = [bytes([1 ^ gf_mul(0xA1, x) ^ gf_mul(0xB2, gf_mul(x, x)),
                       2 ^ gf_mul(0xC3, x) ^ gf_mul(0xD4, gf_mul(x, x))]) for x in (1, 2, 3)]
    assert [p.y for p in parts] == expected
    assert [p.y.hex() for p in parts] == ["1215", "a6e2", "b5f5"]


@pytest.mark.parametrize("shares, threshold", [(1, 1), (3, 1), (2, 3), (256, 2)])
def test_bad_parameters_are_refused(shares, threshold):
    with pytest.raises(ShamirError, match="threshold"):
        split_secret(b"k" * 32, shares, threshold)


def test_bad_share_sets_are_refused():
    parts = split_secret(b"k" * 32, 3, 2)
    with pytest.raises(ShamirError, match="twice"):
        combine_shares([parts[0], parts[0]])
    with pytest.raises(ShamirError, match="different lengths"):
        combine_shares([parts[0], Share(2, b"short")])
    with pytest.raises(ShamirError, match="at least two"):
        combine_shares(parts[:1])
    assert "y=<32 bytes>" in repr(parts[0])
