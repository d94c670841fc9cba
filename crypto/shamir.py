"""Shamir's secret sharing over GF(2^8), byte by byte: the escrow of a bid's content key.

Why: a bid must still open when the bidder's own key fails through no fault of the bidder (电子招标投标办法
第31条, rules.md §1), yet no single opening officer, and not the platform alone, may be able to open it. So
the bid's 32-byte content key is split k-of-n among the section's opening officers: any k shares rebuild it,
k − 1 shares are statistically independent of it (every key is equally consistent with them).

The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B). Each byte of the secret is the
constant term of its own random polynomial of degree k − 1; share number x (1..255) holds the values of all
those polynomials at x. Coefficients are drawn byte-wise from the random source, for byte j the
coefficients a_1..a_{k−1} are consecutive bytes (see docs/envelope.md for the exact order and a vector).

Multiplication is a fixed eight-round shift-and-add with masks instead of log/exp tables, so the work does
not depend on the secret through table lookups (Python is not constant-time anyway; this removes the
obvious cache-timing channel).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .canonical import CryptoError

MAX_SHARES = 255


class ShamirError(CryptoError):
    """Parameters or shares that cannot split or rebuild a secret."""

    code = "shamir_invalid"


@dataclass(frozen=True)
class Share:
    """One share: the evaluation point ``x`` (1..255) and the polynomial values ``y`` (as long as the secret)."""

    x: int
    y: bytes

    def __repr__(self) -> str:  # never print share material into logs
        return f"Share(x={self.x}, y=<{len(self.y)} bytes>)"


def gf_mul(a: int, b: int) -> int:
    """Multiply two field elements (carry-less product reduced by 0x11B)."""
    product = 0
    for _ in range(8):
        product ^= -(b & 1) & a
        high = -((a >> 7) & 1) & 0x1B
        a = ((a << 1) & 0xFF) ^ high
        b >>= 1
    return product


def gf_inverse(a: int) -> int:
    """Multiplicative inverse as a^254 (a^255 = 1 for a ≠ 0)."""
    if a == 0:
        raise ShamirError("zero has no inverse in GF(2^8)")
    result, base, exponent = 1, a, 254
    while exponent:
        if exponent & 1:
            result = gf_mul(result, base)
        base = gf_mul(base, base)
        exponent >>= 1
    return result


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    """Horner's rule; ``coefficients[0]`` is the constant term."""
    value = 0
    for coefficient in reversed(coefficients):
        value = gf_mul(value, x) ^ coefficient
    return value


def split_secret(secret: bytes, shares: int, threshold: int, *,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> list[Share]:
    """Split ``secret`` into ``shares`` shares with x = 1..shares, any ``threshold`` of which rebuild it.

    ``random_bytes`` exists for known-answer tests only; production uses the OS CSPRNG.
    """
    if not secret:
        raise ShamirError("the secret is empty")
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise ShamirError(f"need 2 ≤ threshold ≤ shares ≤ {MAX_SHARES}; got threshold {threshold}, "
                          f"shares {shares}")
    randomness = random_bytes(len(secret) * (threshold - 1))
    if len(randomness) != len(secret) * (threshold - 1):
        raise ShamirError("the random source returned the wrong number of bytes")
    ys = [bytearray(len(secret)) for _ in range(shares)]
    for j, byte in enumerate(secret):
        coefficients = [byte, *randomness[j * (threshold - 1):(j + 1) * (threshold - 1)]]
        for i in range(shares):
            ys[i][j] = _evaluate(coefficients, i + 1)
    return [Share(x=i + 1, y=bytes(y)) for i, y in enumerate(ys)]


def combine_shares(shares: Sequence[Share]) -> bytes:
    """Rebuild the secret by Lagrange interpolation at x = 0.

    With fewer shares than the threshold this returns *some* value unrelated to the secret; callers that
    know the threshold must check the count, and the envelope checks the result against its key commitment.
    """
    if len(shares) < 2:
        raise ShamirError("at least two shares are needed")
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs):
        raise ShamirError(f"the same share was given twice (x values {sorted(xs)})")
    if any(not 1 <= x <= MAX_SHARES for x in xs):
        raise ShamirError(f"share x values must be 1..{MAX_SHARES}; got {sorted(xs)}")
    length = len(shares[0].y)
    if length == 0 or any(len(share.y) != length for share in shares):
        raise ShamirError("the shares have different lengths: they do not belong to the same secret")
    weights = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for m, xm in enumerate(xs):
            if m != i:
                numerator = gf_mul(numerator, xm)
                denominator = gf_mul(denominator, xi ^ xm)
        weights.append(gf_mul(numerator, gf_inverse(denominator)))
    secret = bytearray(length)
    for weight, share in zip(weights, shares):
        for j, y in enumerate(share.y):
            secret[j] ^= gf_mul(weight, y)
    return bytes(secret)
