"""Errors of the bid envelope. Each message names the problem in words a bidder or an officer can act on.

The opening hall shows these messages and records them with the decryption ruling (rules.md §1, Art 31):
whether a failure is the bidder's fault or the platform's is decided by people, but the message must say
exactly what failed: the key, the file, a chunk, the signature.
"""
from __future__ import annotations

from ..canonical import CryptoError


class EnvelopeError(CryptoError):
    """Base of every envelope error."""

    code = "envelope_invalid"


class NotAnEnvelope(EnvelopeError):
    """The bytes do not start with the envelope magic, or use a version this code does not read."""

    code = "envelope_not_an_envelope"


class MalformedEnvelope(EnvelopeError):
    """The structure is broken: an unreadable header, a bad chunk frame, bytes after the end."""

    code = "envelope_malformed"


class HeaderTampered(EnvelopeError):
    """The header no longer matches the bidder's header signature."""

    code = "envelope_header_tampered"


class SignerMismatch(EnvelopeError):
    """The envelope was signed with a different certificate from the bidder's."""

    code = "envelope_signer_mismatch"


class BidMismatch(EnvelopeError):
    """The envelope belongs to another project, section or bidder."""

    code = "envelope_bid_mismatch"


class WrongKey(EnvelopeError):
    """The key offered does not open this envelope."""

    code = "envelope_wrong_key"


class InvalidShare(EnvelopeError):
    """An escrow share that does not belong to this envelope or this officer."""

    code = "envelope_invalid_share"


class NotEnoughShares(EnvelopeError):
    code = "envelope_not_enough_shares"


class Truncated(EnvelopeError):
    """The envelope ends early: the end of the bid is missing."""

    code = "envelope_truncated"


class ChunkOrderError(EnvelopeError):
    """A chunk is not where it should be."""

    code = "envelope_chunk_order"


class ChunkOutOfOrder(ChunkOrderError):
    code = "envelope_chunk_out_of_order"


class DuplicateChunk(ChunkOrderError):
    code = "envelope_chunk_duplicate"


class ForeignChunk(ChunkOrderError):
    """A chunk that was sealed for another envelope."""

    code = "envelope_chunk_foreign"


class OversizeChunk(EnvelopeError):
    code = "envelope_chunk_oversize"


class ChunkCorrupted(EnvelopeError):
    """A chunk fails authentication with the right key: its bytes were changed."""

    code = "envelope_chunk_corrupted"


class DigestMismatch(EnvelopeError):
    """The ciphertext is not the one the bidder signed."""

    code = "envelope_digest_mismatch"


class BadSignature(EnvelopeError):
    """The closing signature over the header and the ciphertext digest does not verify."""

    code = "envelope_bad_signature"
