"""Drawing experts (抽取专家): the pool, the request's quotas and venues, the selection and replacements.

Part of the verifiable draw of docs/draw.md; the ceremony, the random stream and the record are in
``crypto.draw``, which re-exports everything here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Sequence

from crypto.draw import KINDS, _JSON, DrawError, DrawShortfall, RandomStream, _check_canonical_order

# --- expert pool, request and selection ------------------------------------------------------------------

@dataclass(frozen=True)
class PoolEntry:
    """An eligible expert as published: the facts the algorithm reads, nothing more."""

    id: str
    specialties: tuple[str, ...]
    employer: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        specialties = tuple(sorted(set(self.specialties)))
        object.__setattr__(self, "specialties", specialties)
        object.__setattr__(self, "_codes", "".join("|" + code for code in specialties))  # for matches()

    def as_json(self) -> dict[str, Any]:
        return {"employer": self.employer, "id": self.id, "region": self.region,
                "specialties": list(self.specialties)}

    @cached_property
    def canonical(self) -> bytes:
        """This entry's canonical JSON (keys in sorted order), kept because a pool is digested at every draw."""
        text = _JSON.encode
        return ('{{"employer":{},"id":{},"region":{},"specialties":[{}]}}'.format(
            text(self.employer), text(self.id), text(self.region), ",".join(map(text, self.specialties)))).encode()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PoolEntry:
        return cls(str(data["id"]), tuple(data["specialties"]), str(data.get("employer", "")),
                   str(data.get("region", "")))

    def matches(self, specialty: str) -> bool:
        """Holds a code under ``specialty`` in the hierarchical catalogue (A04 covers A0401, A0402...)."""
        return "|" + specialty in self._codes


@dataclass(frozen=True)
class Quota:
    specialty: str
    count: int
    reserves: int

    @property
    def need(self) -> int:
        return self.count + self.reserves


@dataclass(frozen=True)
class Venue:
    id: str
    seats: int
    regions: tuple[str, ...]

    def is_near(self, entry: PoolEntry) -> bool:
        return entry.region.startswith(self.regions)


def region_prefix(code: str) -> str:
    """GB/T 2260 significance: 350900 → 3509 (city), 350000 → 35 (province), 350902 stays whole."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


@dataclass(frozen=True)
class DrawPlan:
    quotas: tuple[Quota, ...]
    venues: tuple[Venue, ...]
    one_per_employer: bool


def _kind_of(request: Mapping[str, Any]) -> str:
    kind = request.get("kind")
    if kind not in KINDS:
        raise DrawError(f"request.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def _count(value: Any, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise DrawError(f"{where} must be an integer ≥ {minimum}, got {value!r}")
    return value


def parse_request(request: Mapping[str, Any]) -> DrawPlan:
    """Read an experts request: quotas in order, optional remote venues, the one-per-employer switch."""
    quotas = []
    for i, q in enumerate(request.get("quotas") or ()):
        if not isinstance(q, Mapping) or not isinstance(q.get("specialty"), str) or not q["specialty"]:
            raise DrawError(f"request.quotas[{i}] needs a specialty code")
        quotas.append(Quota(q["specialty"], _count(q.get("count"), f"request.quotas[{i}].count", 1),
                            _count(q.get("reserves", 0), f"request.quotas[{i}].reserves", 0)))
    if not quotas:
        raise DrawError("request.quotas must name at least one specialty with a count")
    venues = []
    for j, v in enumerate(request.get("venues") or ()):
        regions = tuple(region_prefix(str(r)) for r in v.get("regions") or ())
        if not v.get("id") or not regions:
            raise DrawError(f"request.venues[{j}] needs an id and at least one region code")
        venues.append(Venue(str(v["id"]), _count(v.get("seats"), f"request.venues[{j}].seats", 1), regions))
    if len({v.id for v in venues}) != len(venues):
        raise DrawError("request.venues ids must be distinct")
    members = sum(q.count for q in quotas)
    if venues and sum(v.seats for v in venues) < members:
        raise DrawError(f"the venues offer {sum(v.seats for v in venues)} seats for {members} members")
    return DrawPlan(tuple(quotas), tuple(venues), bool(request.get("one_per_employer", True)))


@dataclass(frozen=True)
class Pick:
    expert_id: str
    quota: int
    venue: str | None = None
    seat: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.expert_id, "quota": self.quota, "venue": self.venue, "seat": self.seat}


@dataclass(frozen=True)
class Selection:
    members: tuple[Pick, ...]
    reserves: tuple[Pick, ...]

    def as_json(self) -> dict[str, Any]:
        return {"members": [p.as_json() for p in self.members], "reserves": [p.as_json() for p in self.reserves]}


def _seat_keys(entries: Sequence[PoolEntry], one_per_employer: bool) -> set[str]:
    """One key per expert who could sit beside the others: the employer, or the expert alone without one."""
    if not one_per_employer:
        return {e.id for e in entries}
    return {e.employer or "\0" + e.id for e in entries}


def _units(entries: Sequence[PoolEntry], one_per_employer: bool) -> int:
    return len(_seat_keys(entries, one_per_employer))


def _draw_distinct(stream: RandomStream, candidates: Sequence[PoolEntry], need: int, employers: set[str],
                   one_per_employer: bool) -> list[PoolEntry]:
    """Partial Fisher–Yates over the candidates, skipping anyone whose employer already has a seat."""
    pool, picked, i = list(candidates), [], 0
    while len(picked) < need and i < len(pool):
        j = i + stream.randbelow(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
        entry, i = pool[i], i + 1
        if one_per_employer and entry.employer and entry.employer in employers:
            continue
        picked.append(entry)
        if entry.employer:
            employers.add(entry.employer)
    return picked


def _check_pool_fills(plan: DrawPlan, by_quota: list[list[PoolEntry]]) -> None:
    """Refuse before drawing when a specialty, or all together, lacks enough experts (or employers)."""
    everywhere = tuple(prefix for v in plan.venues for prefix in v.regions)
    union: set[str] = set()
    for q, matching in zip(plan.quotas, by_quota):
        candidates = [e for e in matching if e.region.startswith(everywhere)] if everywhere else matching
        keys = _seat_keys(candidates, plan.one_per_employer)
        if len(keys) < q.need:
            note = " (one per employer)" if plan.one_per_employer else ""
            raise DrawShortfall(q.specialty, q.need, len(keys), note=note)
        union |= keys
    available = len(union)
    needed = sum(q.need for q in plan.quotas)
    if available < needed:
        raise DrawShortfall("+".join(q.specialty for q in plan.quotas), needed, available,
                            note=" across all specialties together")


def check_request(request: Mapping[str, Any], eligible: Sequence[PoolEntry]) -> tuple[DrawPlan, list[list[PoolEntry]]]:
    """Refuse, before any commitment, a malformed request or one the ordered pool cannot fill (§4.2)."""
    _check_canonical_order(eligible)
    return _plan_candidates(request, eligible)


def _plan_candidates(request: Mapping[str, Any], entries: Sequence[PoolEntry]) -> tuple[DrawPlan, list[list[PoolEntry]]]:
    plan = parse_request(request)
    by_quota = [[e for e in entries if "|" + q.specialty in e._codes] for q in plan.quotas]
    _check_pool_fills(plan, by_quota)
    return plan, by_quota


def select_committee(seed: bytes, request: Mapping[str, Any], eligible: Sequence[PoolEntry]) -> Selection:
    """Members and ordered reserves per quota, in request order (docs/draw.md §4.1); remote mode per §4.3."""
    plan, by_quota = check_request(request, eligible)
    if plan.venues:
        return _select_remote(seed, plan, by_quota)
    drawn: set[str] = set()
    employers: set[str] = set()
    members: list[Pick] = []
    reserves: list[Pick] = []
    for i, q in enumerate(plan.quotas):
        candidates = [e for e in by_quota[i] if e.id not in drawn]
        picks = _draw_distinct(RandomStream(seed, f"experts/quota/{i}"), candidates, q.need, employers,
                               plan.one_per_employer)
        if len(picks) < q.need:
            raise DrawShortfall(q.specialty, q.need, len(picks), note=" after earlier specialties took shared "
                                "experts or employers")
        drawn.update(e.id for e in picks)
        members += [Pick(e.id, i) for e in picks[:q.count]]
        reserves += [Pick(e.id, i) for e in picks[q.count:]]
    return Selection(tuple(members), tuple(reserves))


def _assign_venues(seed: bytes, plan: DrawPlan, near: list[list[list[PoolEntry]]]) -> tuple[list[list[int]], ...]:
    """Step 1 of 双随机: each member slot takes a random free seat among venues that still have nearby
    experts of its specialty; each reserve then goes to one of the venues holding members of its quota."""
    room = [[_units(nearby, plan.one_per_employer) for nearby in by_quota] for by_quota in near]
    seats_left = [v.seats for v in plan.venues]
    members = [[0] * len(plan.quotas) for _ in plan.venues]
    reserves = [[0] * len(plan.quotas) for _ in plan.venues]
    stream = RandomStream(seed, "venues")
    for i, q in enumerate(plan.quotas):
        for slot in range(q.count):
            open_venues = [j for j in range(len(plan.venues)) if seats_left[j] and room[j][i]]
            if not open_venues:
                raise DrawShortfall(q.specialty, q.count, slot, note=": no venue has both a free seat and a "
                                    "nearby eligible expert")
            r = stream.randbelow(sum(seats_left[j] for j in open_venues))
            for j in open_venues:
                if r < seats_left[j]:
                    break
                r -= seats_left[j]
            seats_left[j] -= 1
            room[j][i] -= 1
            members[j][i] += 1
    stream = RandomStream(seed, "venues/reserves")
    for i, q in enumerate(plan.quotas):
        for slot in range(q.reserves):
            open_venues = [j for j in range(len(plan.venues)) if members[j][i] and room[j][i]]
            if not open_venues:
                raise DrawShortfall(q.specialty, q.need, q.count + slot, note=": no venue with members of this "
                                    "specialty has a nearby expert left for a reserve")
            j = open_venues[stream.randbelow(len(open_venues))]
            room[j][i] -= 1
            reserves[j][i] += 1
    return members, reserves


def _select_remote(seed: bytes, plan: DrawPlan, by_quota: list[list[PoolEntry]]) -> Selection:
    """双随机: venues (step 1), then experts near each venue (step 2), then seats (step 3)."""
    near = [[[e for e in matching if e.region.startswith(v.regions)] for matching in by_quota] for v in plan.venues]
    member_counts, reserve_counts = _assign_venues(seed, plan, near)
    drawn: set[str] = set()
    employers: set[str] = set()
    members: list[Pick] = []
    reserves: list[Pick] = []
    for j, v in enumerate(plan.venues):
        for i, q in enumerate(plan.quotas):
            need = member_counts[j][i] + reserve_counts[j][i]
            if not need:
                continue
            candidates = [e for e in near[j][i] if e.id not in drawn]
            picks = _draw_distinct(RandomStream(seed, f"experts/venue/{j}/quota/{i}"), candidates, need,
                                   employers, plan.one_per_employer)
            if len(picks) < need:
                raise DrawShortfall(q.specialty, need, len(picks), venue=v.id)
            drawn.update(e.id for e in picks)
            members += [Pick(e.id, i, v.id) for e in picks[:member_counts[j][i]]]
            reserves += [Pick(e.id, i, v.id) for e in picks[member_counts[j][i]:]]
    seated: list[Pick] = []
    for j, v in enumerate(plan.venues):
        here = [p for p in members if p.venue == v.id]
        seats = RandomStream(seed, f"seats/venue/{j}").sample(range(1, v.seats + 1), len(here))
        seated += [Pick(p.expert_id, p.quota, p.venue, seat) for p, seat in zip(here, seats)]
    return Selection(tuple(seated), tuple(reserves))


# --- replacements (补抽) -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Replacement:
    replaces: str
    reason: str
    substitute: str
    from_reserve: bool

    def as_json(self) -> dict[str, Any]:
        return {"replaces": self.replaces, "reason": self.reason, "substitute": self.substitute,
                "from_reserve": self.from_reserve}


def apply_replacements(seed: bytes, request: Mapping[str, Any], eligible: Sequence[PoolEntry], selection: Selection,
                       events: Sequence[tuple[str, str]]) -> tuple[tuple[Replacement, ...], tuple[Pick, ...]]:
    """Replay (replaced member id, reason) events in order. Event k promotes the first unused reserve of the
    member's quota (and venue); with none left it draws from round k's stream, H("replacement/k")."""
    plan = parse_request(request)
    by_id = {e.id: e for e in eligible}
    members = list(selection.members)
    reserves = list(selection.reserves)
    drawn = {p.expert_id for p in members} | {p.expert_id for p in reserves}
    venues = {v.id: v for v in plan.venues}
    done: list[Replacement] = []
    for k, (replaces, reason) in enumerate(events, start=1):
        index = next((n for n, p in enumerate(members) if p.expert_id == replaces), None)
        if index is None:
            raise DrawError(f"replacement {k}: {replaces} is not a current member of the committee")
        old = members[index]
        reserve = next((r for r in reserves if (r.quota, r.venue) == (old.quota, old.venue)), None)
        if reserve is not None:
            reserves.remove(reserve)
            substitute = reserve.expert_id
        else:
            quota = plan.quotas[old.quota]
            venue = venues.get(old.venue) if old.venue else None
            employers = {by_id[p.expert_id].employer for p in members + reserves if p is not old}
            candidates = [e for e in eligible if e.id not in drawn and e.matches(quota.specialty)
                          and (venue is None or venue.is_near(e))]
            picks = _draw_distinct(RandomStream(seed, f"replacement/{k}"), candidates, 1, employers,
                                   plan.one_per_employer)
            if not picks:
                raise DrawShortfall(quota.specialty, 1, 0, old.venue, note=f" for replacement {k}")
            substitute = picks[0].id
        drawn.add(substitute)
        members[index] = Pick(substitute, old.quota, old.venue, old.seat)
        done.append(Replacement(replaces, reason, substitute, reserve is not None))
    return tuple(done), tuple(members)
