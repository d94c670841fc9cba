"""Verifiable random draws by commit-reveal: experts, the K coefficient, tie-breaks.

Why: the law wants experts drawn at random so that nobody designates them, replacements included
(实施条例第46条, rules.md §2), and today's systems draw in an operator's browser with ``Math.random``
(anchors.md, fangjian). Here the platform commits to a secret before anyone contributes entropy; the seed
binds the secret, the contributions, the request and the ordered eligible pool; a fixed algorithm maps the
seed to the result. Anyone holding the published record can re-run the draw (RFC 3797 in spirit, with
numbered rounds for replacements). The byte-level specification and test vectors are in docs/draw.md, and
tools/verify_draw.py is an independent standard-library implementation of the same specification.
"""
from __future__ import annotations

import hashlib
import json
import operator
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FORMAT = "bidhall-draw/1"
KINDS = ("experts", "value", "order")
_TAG = "bidhall/draw/v1/"
_U64 = 1 << 64


class DrawError(ValueError):
    """A draw request or record that cannot be honoured; the message says what to change."""


class DrawShortfall(DrawError):
    """The eligible pool cannot fill a specialty (at a venue, in remote mode)."""

    def __init__(self, specialty: str, needed: int, available: int, venue: str | None = None, note: str = ""):
        self.specialty, self.needed, self.available, self.venue = specialty, needed, available, venue
        self.shortfall = needed - available
        where = f" at venue {venue}" if venue else ""
        super().__init__(f"specialty {specialty}{where} falls short by {self.shortfall}: "
                         f"{needed} needed, {available} available{note}")


class ContributionRefused(DrawError):
    """Entropy offered after the reveal: it could no longer be bound into the seed."""


# --- encoding and digests --------------------------------------------------------------------------------

def _lp(*fields: bytes) -> bytes:
    """Length-prefixed concatenation (8-byte big-endian lengths), so no two field lists collide."""
    return b"".join(len(f).to_bytes(8, "big") + f for f in fields)


def _tagged_hash(tag: str, *fields: bytes) -> bytes:
    return hashlib.sha256(_lp((_TAG + tag).encode(), *fields)).digest()


def _check_json_value(value: Any, where: str = "request") -> None:
    if isinstance(value, float):
        raise DrawError(f"{where} holds the float {value!r}; write decimals as strings, e.g. \"0.97\"")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DrawError(f"{where} has a non-string key {key!r}")
            _check_json_value(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{where}[{index}]")
    elif not (value is None or isinstance(value, (str, int))):
        raise DrawError(f"{where} holds a {type(value).__name__}; only strings, integers, lists and objects")


_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces; floats are refused since their text is ambiguous."""
    _check_json_value(value)
    return _JSON.encode(value).encode()


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def commitment_of(secret: bytes) -> str:
    return _tagged_hash("commit", secret).hex()


def request_digest(request: Mapping[str, Any]) -> str:
    return _tagged_hash("request", canonical_json(request)).hex()


def _check_canonical_order(entries: Sequence[PoolEntry]) -> None:
    ids = [e.id for e in entries]
    if all(map(operator.lt, ids, ids[1:])):
        return
    index = next(n for n in range(1, len(ids)) if ids[n - 1] >= ids[n])
    raise DrawError(f"eligible[{index}] ({ids[index]}) breaks the canonical order: ids must be unique and ascending")


def _expert_entries(eligible: Sequence[Any]) -> list[PoolEntry]:
    entries = [e if isinstance(e, PoolEntry) else PoolEntry.from_json(e) for e in eligible]
    _check_canonical_order(entries)
    return entries


def _pool_json(kind: str, eligible: Sequence[Any]) -> list[Any]:
    if kind == "experts":
        return [e.as_json() for e in _expert_entries(eligible)]
    values = [str(v) for v in eligible]
    if len(set(values)) != len(values) or not values:
        raise DrawError(f"the {kind} draw needs a non-empty list of distinct items")
    return values


def _entries_digest(entries: Sequence[PoolEntry]) -> str:
    return _tagged_hash("eligible", b"[" + b",".join(e.canonical for e in entries) + b"]").hex()


def eligible_digest(kind: str, eligible: Sequence[Any]) -> str:
    """Digest of the ordered pool: expert entries ascending by id, or a value/order draw's items as given.
    An expert list's canonical JSON is assembled from each entry's cached encoding (same bytes, less work)."""
    if kind == "experts":
        return _entries_digest(_expert_entries(eligible))
    return _tagged_hash("eligible", canonical_json(_pool_json(kind, eligible))).hex()


# --- the ceremony: commit, contribute, reveal ----------------------------------------------------------

@dataclass(frozen=True)
class Contribution:
    contributor: str
    at: str
    entropy: str

    def as_json(self) -> dict[str, str]:
        return {"contributor": self.contributor, "at": self.at, "entropy": self.entropy}


def derive_seed(secret: bytes, contributions: Sequence[Contribution], request_hex: str, eligible_hex: str) -> bytes:
    """seed = H("seed", secret, count, each contribution in recorded order, request digest, eligible digest)."""
    parts = [_lp(c.contributor.encode(), c.at.encode(), c.entropy.encode()) for c in contributions]
    return _tagged_hash("seed", secret, len(parts).to_bytes(8, "big"), *parts,
                        bytes.fromhex(request_hex), bytes.fromhex(eligible_hex))


@dataclass(frozen=True)
class Commitment:
    """What goes into the audit log before any contribution: nothing here reveals the secret."""

    commitment: str
    request_digest: str
    eligible_digest: str

    def as_json(self) -> dict[str, str]:
        return {"commitment": self.commitment, "request_digest": self.request_digest,
                "eligible_digest": self.eligible_digest}


@dataclass
class DrawCeremony:
    """One draw's commit → contribute → reveal state; the web layer persists these fields between requests."""

    commitment: Commitment
    contributions: list[Contribution] = field(default_factory=list)
    revealed: bool = False

    @classmethod
    def open(cls, secret: bytes, request: Mapping[str, Any], eligible: Sequence[Any]) -> DrawCeremony:
        if len(secret) < 32:
            raise DrawError("the secret must hold at least 32 random bytes")
        kind = _kind_of(request)
        if kind == "experts":
            entries = _expert_entries(eligible)
            _plan_candidates(request, entries)
            pool_digest = _entries_digest(entries)
        else:
            pool_digest = eligible_digest(kind, eligible)
        return cls(Commitment(commitment_of(secret), request_digest(request), pool_digest))

    def contribute(self, contributor: str, entropy: str, at: datetime) -> Contribution:
        if self.revealed:
            raise ContributionRefused(f"entropy from {contributor} refused: the draw was already revealed, so it "
                                      "can no longer be bound into the seed")
        if not contributor.strip() or not entropy.strip():
            raise DrawError("a contribution needs a contributor and a non-empty entropy string")
        if len(entropy) > 1024:
            raise DrawError("the entropy string is limited to 1024 characters")
        if at.tzinfo is None:
            raise DrawError("the contribution time must be timezone-aware")
        contribution = Contribution(contributor, at.astimezone(UTC).isoformat(), entropy)
        self.contributions.append(contribution)
        return contribution

    def reveal(self, secret: bytes, *, min_contributions: int = 1) -> bytes:
        """Close contributions and return the seed; refuses a secret other than the committed one."""
        if commitment_of(secret) != self.commitment.commitment:
            raise DrawError("the secret does not match the published commitment")
        if len(self.contributions) < min_contributions:
            raise DrawError(f"at least {min_contributions} entropy contribution(s) needed before the reveal, "
                            f"{len(self.contributions)} received")
        self.revealed = True
        return derive_seed(secret, self.contributions, self.commitment.request_digest,
                           self.commitment.eligible_digest)


# --- the random stream ---------------------------------------------------------------------------------

class RandomStream:
    """Counter-mode SHA-256: block c = H("stream", seed, label, c); labels separate independent sub-streams."""

    def __init__(self, seed: bytes, label: str):
        self._prefix = _lp((_TAG + "stream").encode(), seed, label.encode())
        self._counter = 0
        self._block = b""
        self._offset = 0

    def _next_u64(self) -> int:
        if self._offset == len(self._block):
            counter = _lp(self._counter.to_bytes(8, "big"))
            self._block = hashlib.sha256(self._prefix + counter).digest()
            self._counter += 1
            self._offset = 0
        value = int.from_bytes(self._block[self._offset:self._offset + 8], "big")
        self._offset += 8
        return value

    def randbelow(self, n: int) -> int:
        """Uniform in [0, n): 8-byte words at or above the largest multiple of n are rejected."""
        if n < 1:
            raise DrawError("cannot draw from an empty range")
        limit = _U64 - _U64 % n
        while True:
            value = self._next_u64()
            if value < limit:
                return value % n

    def sample(self, items: Sequence[Any], k: int) -> list[Any]:
        """The first k positions of a Fisher–Yates shuffle of a copy of items."""
        pool = list(items)
        for i in range(min(k, len(pool))):
            j = i + self.randbelow(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


# --- value and order draws ---------------------------------------------------------------------------------

def draw_value(seed: bytes, choices: Sequence[Any]) -> Any:
    """One of the choices, uniformly, from the "value" sub-stream: e.g. K among 0.95…0.98."""
    if not choices:
        raise DrawError("a value draw needs at least one choice")
    return choices[RandomStream(seed, "value").randbelow(len(choices))]


def draw_order(seed: bytes, items: Sequence[Any]) -> list[Any]:
    """A uniform permutation from the "order" sub-stream: the order of tied bidders, first = ranked higher."""
    return RandomStream(seed, "order").sample(items, len(items))


def decimal_range(low: str | Decimal, high: str | Decimal, step: str | Decimal) -> list[str]:
    """Inclusive decimal grid as strings, e.g. ("0.95", "0.98", "0.01") → ["0.95", "0.96", "0.97", "0.98"]."""
    try:
        low_d, high_d, step_d = Decimal(str(low)), Decimal(str(high)), Decimal(str(step))
    except InvalidOperation as exc:
        raise DrawError(f"range bounds and step must be decimals: {exc}") from exc
    if step_d <= 0 or high_d < low_d:
        raise DrawError("the range needs low ≤ high and a positive step")
    if (high_d - low_d) % step_d:
        raise DrawError(f"the step {step_d} does not divide the range {low_d}…{high_d}")
    return [str(low_d + step_d * n) for n in range(int((high_d - low_d) / step_d) + 1)]


# --- the published record and its verification -------------------------------------------------------------

def _result_json(kind: str, result: Any, pool: list[Any]) -> dict[str, Any]:
    if kind == "experts":
        return result.as_json()
    if kind == "value":
        return {"index": pool.index(str(result)), "value": str(result)}
    return {"order": [str(item) for item in result]}


def draw_record(request: Mapping[str, Any], eligible: Sequence[Any], secret: bytes,
                contributions: Sequence[Contribution], result: Selection | Any,
                replacements: Sequence[Replacement] = ()) -> dict[str, Any]:
    """The record to publish once the list may be revealed: enough for anyone to re-run the draw."""
    kind = _kind_of(request)
    pool = _pool_json(kind, eligible)
    request_hex, eligible_hex = request_digest(request), eligible_digest(kind, eligible)
    return {
        "format": FORMAT, "kind": kind, "request": request, "request_digest": request_hex,
        "eligible": pool, "eligible_digest": eligible_hex, "commitment": commitment_of(secret),
        "contributions": [c.as_json() for c in contributions], "secret": secret.hex(),
        "seed": derive_seed(secret, contributions, request_hex, eligible_hex).hex(),
        "result": _result_json(kind, result, pool), "replacements": [r.as_json() for r in replacements],
    }


@dataclass(frozen=True)
class VerificationReport:
    checks: tuple[str, ...]
    mismatch: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


def _first_difference(name: str, expected: Any, got: Any) -> str | None:
    if isinstance(expected, list) and isinstance(got, list):
        for index, (want, have) in enumerate(zip(expected, got)):
            difference = _first_difference(f"{name}[{index}]", want, have)
            if difference:
                return difference
        return None if len(expected) == len(got) else f"{name} has {len(got)} entries, expected {len(expected)}"
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(expected.keys() | got.keys()):
            difference = _first_difference(f"{name}.{key}", expected.get(key), got.get(key))
            if difference:
                return difference
        return None
    return None if expected == got else f"{name} expected {expected!r} got {got!r}"


def _recompute_result(kind: str, seed: bytes, record: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    request, pool = record["request"], record["eligible"]
    if kind == "value":
        return _result_json(kind, draw_value(seed, pool), pool), None
    if kind == "order":
        return _result_json(kind, draw_order(seed, pool), pool), None
    entries = [PoolEntry.from_json(e) for e in pool]
    selection = select_committee(seed, request, entries)
    return selection.as_json(), (entries, selection)


def verify_record(record: Mapping[str, Any], published_commitment: str | None = None) -> VerificationReport:
    """Re-run a published draw; stop at the first field that does not match and name it (docs/draw.md §5)."""
    checks: list[str] = []
    try:
        if record.get("format") != FORMAT:
            return VerificationReport((), f"format is {record.get('format')!r}, expected {FORMAT!r}")
        request = record["request"]
        kind = _kind_of(request)
        secret = bytes.fromhex(record["secret"])
        contributions = [Contribution(c["contributor"], c["at"], c["entropy"]) for c in record["contributions"]]
        seed = derive_seed(secret, contributions, record["request_digest"], record["eligible_digest"])

        def pool_order() -> str | None:
            try:
                _pool_json(kind, record["eligible"])
            except DrawError as exc:
                return str(exc)
            return None

        def unless(holds: bool, message: str) -> str | None:
            return None if holds else message

        steps = [
            ("commitment is the one published beforehand", lambda: unless(
                published_commitment in (None, record["commitment"]),
                "commitment differs from the one published in the audit log")),
            ("commitment matches the revealed secret", lambda: unless(
                commitment_of(secret) == record["commitment"], "commitment does not match the revealed secret")),
            ("request digest matches the request", lambda: unless(
                request_digest(request) == record["request_digest"], "request_digest does not match the request")),
            ("eligible pool is in canonical order", pool_order),
            ("eligible digest matches the ordered pool", lambda: unless(
                eligible_digest(kind, record["eligible"]) == record["eligible_digest"],
                "eligible_digest does not match the eligible list")),
            ("seed matches secret, contributions and digests", lambda: unless(
                record.get("seed", seed.hex()) == seed.hex(),
                "seed does not match the secret, contributions and digests")),
        ]
        for passed, mismatch in steps:
            failure = mismatch()
            if failure:
                return VerificationReport(tuple(checks), failure)
            checks.append(passed)
        result, drawn = _recompute_result(kind, seed, record)
        difference = _first_difference("result", result, record["result"])
        if difference:
            return VerificationReport(tuple(checks), difference)
        checks.append(f"result re-computed ({kind})")
        published = record.get("replacements") or []
        if published and drawn is None:
            return VerificationReport(tuple(checks), f"replacements are only defined for expert draws, not {kind}")
        if published:
            events = [(r["replaces"], r["reason"]) for r in published]
            try:
                replacements, _ = apply_replacements(seed, request, drawn[0], drawn[1], events)
            except DrawError as exc:
                return VerificationReport(tuple(checks), f"replacements: {exc}")
            difference = _first_difference("replacements", [r.as_json() for r in replacements], published)
            if difference:
                return VerificationReport(tuple(checks), difference)
            checks.append(f"{len(replacements)} replacement(s) re-computed")
        return VerificationReport(tuple(checks))
    except DrawError as exc:
        return VerificationReport(tuple(checks), f"the draw cannot be re-run from the record: {exc}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return VerificationReport(tuple(checks), f"the record is malformed: {exc!r}")


# The expert selection lives in its own module; imported last, as it builds on the stream above.
from crypto.draw_experts import (  # noqa: E402,F401  (re-exported: crypto.draw is the draw's one entry point)
    DrawPlan, Pick, PoolEntry, Quota, Replacement, Selection, Venue,
    _kind_of, _plan_candidates, apply_replacements, check_request, parse_request, region_prefix, select_committee,
)
