"""Pure cryptography for bidhall: certificates, canonical JSON, signed documents, the sealed bid envelope.

Nothing here imports Flask or touches the database: every function takes its inputs (keys, certificates,
revoked serials, the current time) as arguments, so the web layer, the bidder tool and the tests share one
implementation. The envelope format is specified in docs/envelope.md.
"""
