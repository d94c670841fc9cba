#!/usr/bin/env python3
"""Re-run a published bidhall draw from its record and say whether it holds.

    python3 verify_draw.py record.json [--commitment HEX]

Anyone can run this: it needs only this file, the record and Python 3.9+ (standard library only; it does not
import the platform's code). It is a second, independent implementation of docs/draw.md, so a bug in one
shows up as a disagreement. Pass ``--commitment`` with the value published in the audit log before the draw
to make sure the record is the draw that was announced. Exit 0 when every check passes, 1 at the first
mismatch (printed by name), 2 when the file cannot be read.
"""
import argparse
import hashlib
import json
import sys

FORMAT = "bidhall-draw/1"
TAG = "bidhall/draw/v1/"


class Mismatch(Exception):
    pass


def lp(*fields):
    return b"".join(len(f).to_bytes(8, "big") + f for f in fields)


def tagged_hash(tag, *fields):
    return hashlib.sha256(lp((TAG + tag).encode(), *fields)).digest()


def canonical(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class Stream:
    """SHA-256 counter mode; 8-byte words, rejection above the largest multiple of n."""

    def __init__(self, seed, label):
        self.prefix = lp((TAG + "stream").encode(), seed, label.encode())
        self.counter, self.words = 0, []

    def below(self, n):
        limit = (1 << 64) - (1 << 64) % n
        while True:
            if not self.words:
                block = hashlib.sha256(self.prefix + lp(self.counter.to_bytes(8, "big"))).digest()
                self.words = [int.from_bytes(block[k:k + 8], "big") for k in (0, 8, 16, 24)]
                self.counter += 1
            word = self.words.pop(0)
            if word < limit:
                return word % n

    def shuffle_prefix(self, items, k):
        items = list(items)
        for i in range(min(k, len(items))):
            j = i + self.below(len(items) - i)
            items[i], items[j] = items[j], items[i]
        return items[:k]


def significant(region):
    while len(region) > 2 and region.endswith("00"):
        region = region[:-2]
    return region


def matches(expert, specialty):
    return any(code.startswith(specialty) for code in expert["specialties"])


def near(expert, venue):
    return any(expert["region"].startswith(significant(str(r))) for r in venue["regions"])


def units(experts, per_employer):
    if not per_employer:
        return len(experts)
    return len({e["employer"] for e in experts if e["employer"]}) + sum(1 for e in experts if not e["employer"])


def take(stream, candidates, need, employers, per_employer):
    """Fisher–Yates from the front, skipping experts whose employer already has a seat."""
    pool, picked, i = list(candidates), [], 0
    while len(picked) < need and i < len(pool):
        j = i + stream.below(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
        expert, i = pool[i], i + 1
        if per_employer and expert["employer"] and expert["employer"] in employers:
            continue
        picked.append(expert)
        if expert["employer"]:
            employers.add(expert["employer"])
    return picked


def pick(expert, quota, venue=None, seat=None):
    return {"id": expert if isinstance(expert, str) else expert["id"], "quota": quota, "venue": venue, "seat": seat}


def draw_experts(seed, request, pool):
    quotas, venues = request["quotas"], request.get("venues") or []
    per_employer = bool(request.get("one_per_employer", True))
    drawn, employers, members, reserves = set(), set(), [], []
    if not venues:
        for i, q in enumerate(quotas):
            need = q["count"] + q.get("reserves", 0)
            candidates = [e for e in pool if e["id"] not in drawn and matches(e, q["specialty"])]
            got = take(Stream(seed, f"experts/quota/{i}"), candidates, need, employers, per_employer)
            if len(got) < need:
                raise Mismatch(f"the draw cannot be completed: specialty {q['specialty']} falls short")
            drawn.update(e["id"] for e in got)
            members += [pick(e, i) for e in got[:q["count"]]]
            reserves += [pick(e, i) for e in got[q["count"]:]]
        return {"members": members, "reserves": reserves}
    room = [[units([e for e in pool if near(e, v) and matches(e, q["specialty"])], per_employer) for q in quotas]
            for v in venues]
    seats = [v["seats"] for v in venues]
    at_venue = [[0] * len(quotas) for _ in venues]
    spare = [[0] * len(quotas) for _ in venues]
    stream = Stream(seed, "venues")
    for i, q in enumerate(quotas):
        for _ in range(q["count"]):
            open_ = [j for j in range(len(venues)) if seats[j] and room[j][i]]
            if not open_:
                raise Mismatch(f"the draw cannot be completed: no venue for specialty {q['specialty']}")
            r = stream.below(sum(seats[j] for j in open_))
            for j in open_:
                if r < seats[j]:
                    break
                r -= seats[j]
            seats[j], room[j][i], at_venue[j][i] = seats[j] - 1, room[j][i] - 1, at_venue[j][i] + 1
    stream = Stream(seed, "venues/reserves")
    for i, q in enumerate(quotas):
        for _ in range(q.get("reserves", 0)):
            open_ = [j for j in range(len(venues)) if at_venue[j][i] and room[j][i]]
            if not open_:
                raise Mismatch(f"the draw cannot be completed: no venue for a reserve of {q['specialty']}")
            j = open_[stream.below(len(open_))]
            room[j][i], spare[j][i] = room[j][i] - 1, spare[j][i] + 1
    for j, v in enumerate(venues):
        for i, q in enumerate(quotas):
            need = at_venue[j][i] + spare[j][i]
            if need:
                candidates = [e for e in pool if e["id"] not in drawn and matches(e, q["specialty"]) and near(e, v)]
                got = take(Stream(seed, f"experts/venue/{j}/quota/{i}"), candidates, need, employers,
                           per_employer)
                if len(got) < need:
                    raise Mismatch(f"the draw cannot be completed: {q['specialty']} at venue {v['id']}")
                drawn.update(e["id"] for e in got)
                members += [pick(e, i, v["id"]) for e in got[:at_venue[j][i]]]
                reserves += [pick(e, i, v["id"]) for e in got[at_venue[j][i]:]]
    for j, v in enumerate(venues):
        here = [m for m in members if m["venue"] == v["id"]]
        for member, seat in zip(here, Stream(seed, f"seats/venue/{j}").shuffle_prefix(range(1, v["seats"] + 1),
                                                                                        len(here))):
            member["seat"] = seat
    order = {v["id"]: j for j, v in enumerate(venues)}
    members.sort(key=lambda m: order[m["venue"]])
    return {"members": members, "reserves": reserves}


def replay(seed, request, pool, result, events):
    per_employer = bool(request.get("one_per_employer", True))
    by_id = {e["id"]: e for e in pool}
    venues = {v["id"]: v for v in request.get("venues") or []}
    members = [dict(m) for m in result["members"]]
    reserves = [dict(r) for r in result["reserves"]]
    drawn = {m["id"] for m in members + reserves}
    out = []
    for k, event in enumerate(events, start=1):
        index = next((n for n, m in enumerate(members) if m["id"] == event["replaces"]), None)
        if index is None:
            raise Mismatch(f"replacements[{k - 1}].replaces {event['replaces']} is not a current member")
        old = members[index]
        reserve = next((r for r in reserves if (r["quota"], r["venue"]) == (old["quota"], old["venue"])), None)
        if reserve:
            reserves.remove(reserve)
            substitute = reserve["id"]
        else:
            quota = request["quotas"][old["quota"]]
            venue = venues.get(old["venue"])
            employers = {by_id[m["id"]]["employer"] for n, m in enumerate(members) if n != index}
            employers |= {by_id[r["id"]]["employer"] for r in reserves}
            candidates = [e for e in pool if e["id"] not in drawn and matches(e, quota["specialty"])
                          and (venue is None or near(e, venue))]
            got = take(Stream(seed, f"replacement/{k}"), candidates, 1, employers, per_employer)
            if not got:
                raise Mismatch(f"replacement {k} cannot be drawn: the pool is exhausted")
            substitute = got[0]["id"]
        drawn.add(substitute)
        members[index] = dict(old, id=substitute)
        out.append({"replaces": event["replaces"], "reason": event["reason"], "substitute": substitute,
                    "from_reserve": reserve is not None})
    return out


def compare(name, expected, got):
    if isinstance(expected, list) and isinstance(got, list):
        for n, (want, have) in enumerate(zip(expected, got)):
            compare(f"{name}[{n}]", want, have)
        if len(expected) != len(got):
            raise Mismatch(f"{name} has {len(got)} entries, expected {len(expected)}")
    elif isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got)):
            compare(f"{name}.{key}", expected.get(key), got.get(key))
    elif expected != got:
        raise Mismatch(f"{name} expected {expected!r} got {got!r}")


def verify(record, published_commitment=None, say=print):
    if record.get("format") != FORMAT:
        raise Mismatch(f"format is {record.get('format')!r}, expected {FORMAT!r}")
    request, pool, kind = record["request"], record["eligible"], record["request"].get("kind")
    secret = bytes.fromhex(record["secret"])
    if published_commitment and published_commitment.lower() != record["commitment"]:
        raise Mismatch("commitment differs from the one published in the audit log")
    if tagged_hash("commit", secret).hex() != record["commitment"]:
        raise Mismatch("commitment does not match the revealed secret")
    say("ok  commitment matches the revealed secret")
    if tagged_hash("request", canonical(request)).hex() != record["request_digest"]:
        raise Mismatch("request_digest does not match the request")
    say("ok  request digest")
    if kind == "experts":
        ids = [e["id"] for e in pool]
        bad = next((n for n in range(1, len(ids)) if ids[n - 1] >= ids[n]), None)
        if bad is not None:
            raise Mismatch(f"eligible[{bad}] ({ids[bad]}) breaks the canonical order: ids must be unique and "
                           "ascending")
    if tagged_hash("eligible", canonical(pool)).hex() != record["eligible_digest"]:
        raise Mismatch("eligible_digest does not match the eligible list")
    say(f"ok  eligible digest ({len(pool)} entries)")
    parts = [lp(c["contributor"].encode(), c["at"].encode(), c["entropy"].encode()) for c in record["contributions"]]
    seed = tagged_hash("seed", secret, len(parts).to_bytes(8, "big"), *parts,
                       bytes.fromhex(record["request_digest"]), bytes.fromhex(record["eligible_digest"]))
    if record.get("seed", seed.hex()) != seed.hex():
        raise Mismatch("seed does not match the secret, contributions and digests")
    say(f"ok  seed {seed.hex()} ({len(parts)} contribution(s))")
    if kind == "value":
        index = Stream(seed, "value").below(len(pool))
        compare("result", {"index": index, "value": pool[index]}, record["result"])
    elif kind == "order":
        compare("result", {"order": Stream(seed, "order").shuffle_prefix(pool, len(pool))}, record["result"])
    elif kind == "experts":
        result = draw_experts(seed, request, pool)
        compare("result", result, record["result"])
        say(f"ok  result ({kind}: {len(result['members'])} members, {len(result['reserves'])} reserves)")
        events = record.get("replacements") or []
        compare("replacements", replay(seed, request, pool, result, events), events)
        if events:
            say(f"ok  {len(events)} replacement(s)")
        return
    else:
        raise Mismatch(f"unknown draw kind {kind!r}")
    if record.get("replacements"):
        raise Mismatch(f"replacements are only defined for expert draws, not {kind}")
    say(f"ok  result ({kind})")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Re-run a published bidhall draw record.")
    parser.add_argument("record", help="the published record (JSON)")
    parser.add_argument("--commitment", help="the commitment published in the audit log before the draw")
    args = parser.parse_args(argv)
    try:
        with open(args.record, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read the record: {exc}", file=sys.stderr)
        return 2
    try:
        verify(record, args.commitment)
    except Mismatch as exc:
        print(f"MISMATCH  {exc}")
        return 1
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        print(f"MISMATCH  the record is malformed: {exc!r}")
        return 1
    print("VERIFIED  the draw follows from the published record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
