"""The sealed bid envelope (数字信封): streaming AES-256-GCM chunks, key wrap, Shamir escrow, signatures.

The format is specified in docs/envelope.md. The public API:

- ``seal(plaintext, out, ...)`` on the bidder's side;
- ``verify_envelope`` / ``EnvelopeVerifier`` on the server at upload time, without any key;
- ``read_header``, ``unwrap_content_key``, ``unwrap_share``, ``combine_shares`` and ``open_envelope`` at
  the opening.
"""
from .errors import (BadSignature, BidMismatch, ChunkCorrupted, ChunkOrderError, ChunkOutOfOrder, DigestMismatch,
                     DuplicateChunk, EnvelopeError, ForeignChunk, HeaderTampered, InvalidShare, MalformedEnvelope,
                     NotAnEnvelope, NotEnoughShares, OversizeChunk, SignerMismatch, Truncated, WrongKey)
from .format import DEFAULT_CHUNK_SIZE, BidIds, EnvelopeHeader, EnvelopeSummary
from .opening import combine_shares, open_envelope, read_header, unwrap_content_key, unwrap_share
from .sealing import seal
from .verifying import EnvelopeVerifier, verify_envelope

__all__ = [
    "DEFAULT_CHUNK_SIZE", "BidIds", "EnvelopeHeader", "EnvelopeSummary", "EnvelopeVerifier", "seal",
    "verify_envelope", "read_header", "unwrap_content_key", "unwrap_share", "combine_shares", "open_envelope",
    "EnvelopeError", "NotAnEnvelope", "MalformedEnvelope", "HeaderTampered", "SignerMismatch", "BidMismatch",
    "WrongKey", "InvalidShare", "NotEnoughShares", "Truncated", "ChunkOrderError", "ChunkOutOfOrder",
    "DuplicateChunk", "ForeignChunk", "OversizeChunk", "ChunkCorrupted", "DigestMismatch", "BadSignature",
]
