"""The verifiable draw (crypto/draw.py) against its specification, docs/draw.md, and its test vectors."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from itertools import permutations
from pathlib import Path

import pytest

from crypto.draw import (
    Contribution,
    ContributionRefused,
    DrawCeremony,
    DrawError,
    DrawShortfall,
    PoolEntry,
    RandomStream,
    apply_replacements,
    canonical_json,
    commitment_of,
    decimal_range,
    derive_seed,
    draw_order,
    draw_record,
    draw_value,
    eligible_digest,
    new_secret,
    request_digest,
    select_committee,
    verify_record,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "draw.md"
AT = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)


def doc_vectors() -> dict[str, dict]:
    text = DOCS.read_text(encoding="utf-8")
    return {name: json.loads(body) for name, body in
            re.findall(r"<!-- vector:([\w-]+) -->\s*```json\n(.*?)\n```", text, flags=re.DOTALL)}


VECTORS = doc_vectors()
RECORDS = {name: record for name, record in VECTORS.items() if "format" in record}


def pool_of(record: dict) -> list:
    return [PoolEntry.from_json(e) for e in record["eligible"]] if record["kind"] == "experts" else record["eligible"]


def redraw(record: dict) -> dict:
    """Run the whole ceremony again from the record's inputs, through the public API."""
    secret = bytes.fromhex(record["secret"])
    request, pool = record["request"], pool_of(record)
    ceremony = DrawCeremony.open(secret, request, pool)
    for c in record["contributions"]:
        ceremony.contribute(c["contributor"], c["entropy"], datetime.fromisoformat(c["at"]))
    seed = ceremony.reveal(secret)
    if record["kind"] == "value":
        return draw_record(request, pool, secret, ceremony.contributions, draw_value(seed, pool))
    if record["kind"] == "order":
        return draw_record(request, pool, secret, ceremony.contributions, draw_order(seed, pool))
    selection = select_committee(seed, request, pool)
    events = [(r["replaces"], r["reason"]) for r in record["replacements"]]
    replacements, _ = apply_replacements(seed, request, pool, selection, events)
    return draw_record(request, pool, secret, ceremony.contributions, selection, replacements)


def lp(*fields: bytes) -> bytes:
    return b"".join(len(f).to_bytes(8, "big") + f for f in fields)


# --- test vectors ------------------------------------------------------------------------------------------

def test_docs_hold_every_kind_of_vector():
    assert {"primitives", "experts-local", "experts-remote", "value", "order"} <= VECTORS.keys()


def test_primitive_vector_follows_the_documented_byte_layout():
    v = VECTORS["primitives"]
    record = RECORDS["experts-local"]
    secret = bytes.fromhex(v["secret"])
    assert hashlib.sha256(lp(b"bidhall/draw/v1/commit", secret)).hexdigest() == v["commitment"] == commitment_of(secret)
    parts = [lp(c["contributor"].encode(), c["at"].encode(), c["entropy"].encode()) for c in record["contributions"]]
    seed = hashlib.sha256(lp(b"bidhall/draw/v1/seed", secret, len(parts).to_bytes(8, "big"), *parts,
                             bytes.fromhex(record["request_digest"]), bytes.fromhex(record["eligible_digest"])))
    assert seed.hexdigest() == v["seed"] == record["seed"]
    block = hashlib.sha256(lp(b"bidhall/draw/v1/stream", seed.digest(), v["label"].encode(), (0).to_bytes(8, "big")))
    assert block.hexdigest() == v["block0"]
    stream = RandomStream(seed.digest(), v["label"])
    assert [stream.randbelow(7) for _ in range(8)] == v["randbelow_7"]
    words = [int.from_bytes(block.digest()[k:k + 8], "big") % 7 for k in (0, 8, 16, 24)]
    assert words == v["randbelow_7"][:4]  # no rejection in the first block: each word is taken mod 7


def test_request_and_eligible_digests_follow_the_documented_layout():
    record = RECORDS["experts-local"]
    body = json.dumps(record["request"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(lp(b"bidhall/draw/v1/request", body)).hexdigest() == record["request_digest"]
    pool = json.dumps(record["eligible"], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(lp(b"bidhall/draw/v1/eligible", pool)).hexdigest() == record["eligible_digest"]
    assert eligible_digest("experts", pool_of(record)) == record["eligible_digest"]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_vector_record_verifies(name):
    report = verify_record(RECORDS[name], published_commitment=RECORDS[name]["commitment"])
    assert report.ok, report.mismatch
    assert "commitment matches the revealed secret" in report.checks


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_vector_record_is_what_the_code_draws(name):
    assert redraw(RECORDS[name]) == RECORDS[name]


def test_cached_entry_encoding_is_the_canonical_json():
    entry = PoolEntry("专家-7", ("B02", "A0401"), 'quote"d\\name', "350902")
    assert entry.canonical == canonical_json(entry.as_json())


# --- the ceremony ------------------------------------------------------------------------------------------

def small_pool(n: int = 12, employers: int | None = None) -> list[PoolEntry]:
    return [PoolEntry(f"E{k:03d}", ("A0401",) if k % 4 else ("B0101",),
                      f"ORG{k % employers if employers else k}", "350902") for k in range(n)]


REQUEST = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 3, "reserves": 1},
                                          {"specialty": "B01", "count": 1, "reserves": 0}]}


def test_contribution_after_reveal_is_refused():
    secret = new_secret()
    ceremony = DrawCeremony.open(secret, REQUEST, small_pool())
    ceremony.contribute("supervisor:林", "abc", AT)
    ceremony.reveal(secret)
    with pytest.raises(ContributionRefused, match="already revealed"):
        ceremony.contribute("tenderee", "late", AT)
    assert len(ceremony.contributions) == 1


def test_reveal_refuses_another_secret_and_a_draw_without_entropy():
    secret = new_secret()
    ceremony = DrawCeremony.open(secret, REQUEST, small_pool())
    with pytest.raises(DrawError, match="at least 1 entropy contribution"):
        ceremony.reveal(secret)
    ceremony.contribute("supervisor", "x", AT)
    with pytest.raises(DrawError, match="does not match the published commitment"):
        ceremony.reveal(new_secret())
    assert not ceremony.revealed


def test_contribution_needs_an_aware_time_and_text():
    ceremony = DrawCeremony.open(new_secret(), REQUEST, small_pool())
    with pytest.raises(DrawError, match="timezone-aware"):
        ceremony.contribute("supervisor", "x", datetime(2025, 3, 10))
    with pytest.raises(DrawError, match="non-empty entropy"):
        ceremony.contribute("supervisor", "  ", AT)
    recorded = ceremony.contribute("supervisor", "x", datetime.fromisoformat("2025-03-10T10:00:00+08:00"))
    assert recorded.at == "2025-03-10T02:00:00+00:00"


def test_the_seed_depends_on_every_input():
    secret, contributions = bytes(32), [Contribution("a", "t", "e")]
    base = derive_seed(secret, contributions, "00" * 32, "11" * 32)
    assert base == derive_seed(secret, list(contributions), "00" * 32, "11" * 32)
    variants = [derive_seed(b"\1" + secret[1:], contributions, "00" * 32, "11" * 32),
                derive_seed(secret, [Contribution("a", "t", "f")], "00" * 32, "11" * 32),
                derive_seed(secret, [Contribution("b", "t", "e")], "00" * 32, "11" * 32),
                derive_seed(secret, [], "00" * 32, "11" * 32),
                derive_seed(secret, contributions * 2, "00" * 32, "11" * 32),
                derive_seed(secret, contributions, "01" * 32, "11" * 32),
                derive_seed(secret, contributions, "00" * 32, "12" * 32)]
    assert len({base, *variants}) == 1 + len(variants)


def test_requests_with_floats_or_an_unknown_kind_are_refused():
    with pytest.raises(DrawError, match="write decimals as strings"):
        request_digest({"kind": "value", "k": 0.97})
    with pytest.raises(DrawError, match="request.kind must be one of"):
        DrawCeremony.open(new_secret(), {"kind": "lottery"}, ["a"])
    with pytest.raises(DrawError, match=r"quotas\[0\].count must be an integer ≥ 1"):
        DrawCeremony.open(new_secret(), {"kind": "experts", "quotas": [{"specialty": "A", "count": 0}]}, [])


# --- selection -----------------------------------------------------------------------------------------------

def seed_for(n: int) -> bytes:
    return hashlib.sha256(b"test-seed-%d" % n).digest()


def test_same_seed_same_selection_and_another_seed_differs():
    pool = small_pool(40)
    first = select_committee(seed_for(1), REQUEST, pool)
    assert first == select_committee(seed_for(1), REQUEST, list(pool))
    assert any(select_committee(seed_for(n), REQUEST, pool) != first for n in range(2, 6))


def test_quotas_are_filled_in_order_from_matching_distinct_experts():
    pool = small_pool(40)
    by_id = {e.id: e for e in pool}
    selection = select_committee(seed_for(7), REQUEST, pool)
    assert [p.quota for p in selection.members] == [0, 0, 0, 1]
    assert [p.quota for p in selection.reserves] == [0]
    ids = [p.expert_id for p in selection.members + selection.reserves]
    assert len(set(ids)) == len(ids)
    for pick in selection.members + selection.reserves:
        assert by_id[pick.expert_id].matches(REQUEST["quotas"][pick.quota]["specialty"])


def test_at_most_one_expert_per_employer_unless_switched_off():
    pool = small_pool(60, employers=6) + [PoolEntry("Z01", ("A0401",)), PoolEntry("Z02", ("A0401",))]
    pool.sort(key=lambda e: e.id)
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 5, "reserves": 2}]}
    for n in range(30):
        picks = select_committee(seed_for(n), request, pool)
        employers = [e.employer for e in pool if e.id in {p.expert_id for p in picks.members + picks.reserves}]
        assert len([x for x in employers if x]) == len({x for x in employers if x})
    loose = dict(request, one_per_employer=False, quotas=[{"specialty": "A04", "count": 7}])
    assert any(len({e.employer for e in pool if e.id in {p.expert_id for p in select_committee(
        seed_for(n), loose, pool).members}}) < 7 for n in range(10))


def test_a_pool_that_cannot_fill_a_specialty_is_refused_naming_it():
    pool = small_pool(12)  # E000, E004, E008 are B01; the rest A04
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 5, "reserves": 1},
                                              {"specialty": "B01", "count": 3, "reserves": 2}]}
    with pytest.raises(DrawShortfall) as refused:
        select_committee(seed_for(0), request, pool)
    assert (refused.value.specialty, refused.value.shortfall) == ("B01", 2)
    assert "specialty B01 falls short by 2: 5 needed, 3 available" in str(refused.value)
    one_employer = [PoolEntry(f"E{k}", ("A0401",), "SAME-ORG") for k in range(5)]
    with pytest.raises(DrawShortfall, match="A04 falls short by 1: 2 needed, 1 available \\(one per employer\\)"):
        select_committee(seed_for(0), {"kind": "experts", "quotas": [{"specialty": "A04", "count": 2}]}, one_employer)


def test_the_commitment_is_refused_for_a_pool_that_cannot_fill_the_request():
    with pytest.raises(DrawShortfall, match="specialty B01 falls short by 2"):
        DrawCeremony.open(new_secret(), dict(REQUEST, quotas=[{"specialty": "B01", "count": 5}]),
                          [e.as_json() for e in small_pool(12)])


def test_shared_experts_are_counted_once_across_specialties():
    pool = [PoolEntry(f"E{k}", ("A0401", "B0101"), f"ORG{k}") for k in range(5)]
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 3}, {"specialty": "B01", "count": 3}]}
    with pytest.raises(DrawShortfall, match="A04\\+B01 falls short by 1: 6 needed, 5 available across all"):
        select_committee(seed_for(0), request, pool)


def test_an_unordered_pool_is_refused():
    pool = small_pool(5)
    with pytest.raises(DrawError, match=r"eligible\[1\] \(E000\) breaks the canonical order"):
        select_committee(seed_for(0), REQUEST, [pool[1], pool[0], *pool[2:]])


# --- replacements --------------------------------------------------------------------------------------------

def test_replacements_promote_reserves_then_draw_numbered_rounds():
    pool = small_pool(40, employers=20)
    selection = select_committee(seed_for(3), REQUEST, pool)
    members = [p.expert_id for p in selection.members]
    events = [(members[0], "declined"), (members[1], "timeout"), (members[3], "declined")]
    done, committee = apply_replacements(seed_for(3), REQUEST, pool, selection, events)
    assert done[0].from_reserve and done[0].substitute == selection.reserves[0].expert_id
    assert not done[1].from_reserve and not done[2].from_reserve
    drawn_before = set(members) | {p.expert_id for p in selection.reserves}
    assert {r.substitute for r in done}.isdisjoint(drawn_before - {selection.reserves[0].expert_id})
    assert [p.quota for p in committee] == [p.quota for p in selection.members]
    by_id = {e.id: e for e in pool}
    employers = [by_id[p.expert_id].employer for p in committee]
    assert len(set(employers)) == len(employers)
    again, _ = apply_replacements(seed_for(3), REQUEST, pool, selection, events[:2])
    assert again == done[:2]  # a later event never changes an earlier one


def test_a_declined_expert_is_never_drawn_back_and_exhaustion_is_reported():
    pool = [PoolEntry(f"E{k}", ("A0401",), f"ORG{k}") for k in range(4)]
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 2}]}
    selection = select_committee(seed_for(9), request, pool)
    first = selection.members[0].expert_id
    done, _ = apply_replacements(seed_for(9), request, pool, selection, [(first, "declined")])
    third = done[0].substitute
    done, committee = apply_replacements(seed_for(9), request, pool, selection,
                                         [(first, "declined"), (third, "declined")])
    assert {p.expert_id for p in committee}.isdisjoint({first, third})
    with pytest.raises(DrawShortfall, match="for replacement 3"):
        apply_replacements(seed_for(9), request, pool, selection,
                           [(first, "declined"), (third, "declined"), (done[1].substitute, "timeout")])
    with pytest.raises(DrawError, match="E99 is not a current member"):
        apply_replacements(seed_for(9), request, pool, selection, [("E99", "declined")])


# --- remote mode (双随机) -------------------------------------------------------------------------------------

VENUES = [{"id": "宁德", "seats": 3, "regions": ["350900"]}, {"id": "福州", "seats": 2, "regions": ["350100"]},
          {"id": "南平", "seats": 2, "regions": ["350700", "350800"]}]
REMOTE = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 4, "reserves": 1},
                                         {"specialty": "B01", "count": 1, "reserves": 1}], "venues": VENUES}


def remote_pool() -> list[PoolEntry]:
    regions = ["350902", "350102", "350702", "350802", "350202"]  # 厦门 350202 is near no venue
    return [PoolEntry(f"R{k:03d}", ("A0401",) if k % 3 else ("B0101",), f"ORG{k}", regions[k % 5])
            for k in range(60)]


def test_remote_members_sit_near_their_venue_within_its_seats():
    pool = remote_pool()
    by_id = {e.id: e for e in pool}
    seats = {v["id"]: v["seats"] for v in VENUES}
    near = {"宁德": ("3509",), "福州": ("3501",), "南平": ("3507", "3508")}
    venues_used = Counter()
    for n in range(40):
        selection = select_committee(seed_for(n), REMOTE, pool)
        taken = Counter(p.venue for p in selection.members)
        assert all(taken[v] <= seats[v] for v in taken)
        for pick in selection.members + selection.reserves:
            assert by_id[pick.expert_id].region.startswith(near[pick.venue])
        for venue in taken:
            numbers = [p.seat for p in selection.members if p.venue == venue]
            assert len(set(numbers)) == len(numbers) and all(1 <= s <= seats[venue] for s in numbers)
        venues_used.update(taken)
    assert set(venues_used) == set(seats)


def test_remote_replacement_stays_at_the_venue_and_seat():
    pool = remote_pool()
    selection = select_committee(seed_for(5), REMOTE, pool)
    events = [(p.expert_id, "declined") for p in selection.members[:3]]
    _, committee = apply_replacements(seed_for(5), REMOTE, pool, selection, events)
    assert [(p.venue, p.seat, p.quota) for p in committee] == [(p.venue, p.seat, p.quota) for p in selection.members]


def test_remote_request_needs_enough_seats_and_nearby_experts():
    with pytest.raises(DrawError, match="the venues offer 7 seats for 8 members"):
        select_committee(seed_for(0), dict(REMOTE, quotas=[{"specialty": "A04", "count": 8}]), remote_pool())
    far = [PoolEntry(f"F{k}", ("A0401",), f"O{k}", "350202") for k in range(10)]
    with pytest.raises(DrawShortfall, match="specialty A04 falls short by 5: 5 needed, 0 available"):
        select_committee(seed_for(0), dict(REMOTE, quotas=REMOTE["quotas"][:1]), far)


# --- value and order draws -----------------------------------------------------------------------------------

def test_decimal_range_and_value_draw():
    assert decimal_range("0.95", "0.98", "0.01") == ["0.95", "0.96", "0.97", "0.98"]
    assert decimal_range("0.950", "0.960", "0.005") == ["0.950", "0.955", "0.960"]
    with pytest.raises(DrawError, match="does not divide"):
        decimal_range("0.95", "0.98", "0.02")
    choices = decimal_range("0.95", "0.98", "0.01")
    assert {draw_value(seed_for(n), choices) for n in range(40)} == set(choices)
    with pytest.raises(DrawError, match="distinct items"):
        eligible_digest("value", ["0.95", "0.95"])


def test_draw_order_is_a_permutation():
    items = ["B1", "B2", "B3", "B4", "B5"]
    for n in range(20):
        assert sorted(draw_order(seed_for(n), items)) == items


# --- verification catches tampering --------------------------------------------------------------------------

def tampered(name: str, change) -> dict:
    record = copy.deepcopy(RECORDS[name])
    change(record)
    return record


def flip(hex_text: str) -> str:
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


TAMPERING = [
    ("format", lambda r: r.update(format="other/9"), "format is 'other/9'"),
    ("commitment", lambda r: r.update(commitment=flip(r["commitment"])), "commitment does not match the revealed"),
    ("secret", lambda r: r.update(secret=flip(r["secret"])), "commitment does not match the revealed secret"),
    ("request", lambda r: r["request"]["quotas"][0].update(count=4), "request_digest does not match the request"),
    ("request_digest", lambda r: r.update(request_digest=flip(r["request_digest"])), "request_digest does not"),
    ("eligible entry", lambda r: r["eligible"][2].update(employer="X"), "eligible_digest does not match"),
    ("eligible order", lambda r: r["eligible"].insert(0, r["eligible"].pop(3)), "breaks the canonical order"),
    ("eligible removed", lambda r: r["eligible"].pop(0), "eligible_digest does not match"),
    ("eligible_digest", lambda r: r.update(eligible_digest=flip(r["eligible_digest"])), "eligible_digest does not"),
    ("entropy", lambda r: r["contributions"][0].update(entropy="other"), "seed does not match"),
    ("contributor", lambda r: r["contributions"][1].update(contributor="someone"), "seed does not match"),
    ("contribution time", lambda r: r["contributions"][1].update(at="2025-03-10T02:00:00+00:00"), "seed does not"),
    ("contribution dropped", lambda r: r["contributions"].pop(), "seed does not match"),
    ("seed", lambda r: r.update(seed=flip(r["seed"])), "seed does not match"),
    ("member", lambda r: r["result"]["members"][2].update(id="E010"),
     "result.members[2].id expected 'E004' got 'E010'"),
    ("member quota", lambda r: r["result"]["members"][0].update(quota=1), "result.members[0].quota expected 0 got 1"),
    ("reserve dropped", lambda r: r["result"]["reserves"].pop(), "result.reserves has 1 entries, expected 2"),
    ("substitute", lambda r: r["replacements"][1].update(substitute="E003"),
     "replacements[1].substitute expected 'E008' got 'E003'"),
    ("from_reserve", lambda r: r["replacements"][0].update(from_reserve=False), "replacements[0].from_reserve"),
    ("replaced", lambda r: r["replacements"][0].update(replaces="E001"), "replacements: replacement 1: E001 is not"),
    ("replacement dropped", lambda r: r["replacements"].pop(0), "replacements[0].from_reserve expected True got False"),
]


@pytest.mark.parametrize("field, change, message", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verification_names_the_tampered_field(field, change, message):
    report = verify_record(tampered("experts-local", change))
    assert not report.ok
    assert message in report.mismatch


@pytest.mark.parametrize("name, change, message", [
    ("experts-remote", lambda r: r["result"]["members"][0].update(seat=2), "result.members[0].seat expected 1 got 2"),
    ("experts-remote", lambda r: r["result"]["members"][4].update(venue="宁德"), "result.members[4].venue"),
    ("value", lambda r: r["result"].update(value="0.98", index=3), "result.index expected 1 got 3"),
    ("order", lambda r: r["result"]["order"].reverse(), "result.order[0] expected"),
    ("value", lambda r: r["eligible"].append("0.99"), "eligible_digest does not match"),
])
def test_verification_of_other_kinds_names_the_field(name, change, message):
    report = verify_record(tampered(name, change))
    assert message in report.mismatch


def test_a_reforged_record_fails_against_the_published_commitment():
    original = RECORDS["experts-local"]
    forged = copy.deepcopy(original)
    forged["secret"], forged["replacements"] = "ab" * 32, []
    forged = redraw(forged)
    assert verify_record(forged).ok
    report = verify_record(forged, published_commitment=original["commitment"])
    assert report.mismatch == "commitment differs from the one published in the audit log"


def test_a_malformed_record_is_reported_not_raised():
    assert "malformed" in verify_record(tampered("order", lambda r: r.pop("secret"))).mismatch
    assert "malformed" in verify_record(tampered("order", lambda r: r.update(secret="zz"))).mismatch


# --- uniformity ------------------------------------------------------------------------------------------------

def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X ≥ statistic) for X ~ χ²(dof): the regularised upper incomplete gamma Q(dof/2, statistic/2),
    by its power series below a + 1 and by a continued fraction (modified Lentz) above."""
    a, x = dof / 2, statistic / 2
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        n = a
        while term > total * 1e-16:
            n += 1
            term *= x / n
            total += term
        return 1 - total * math.exp(log_prefix)
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return math.exp(log_prefix) * h


@pytest.mark.parametrize("statistic, dof", [(3.841458820694124, 1), (23.68479130484058, 14),
                                             (35.17246162690806, 23)])
def test_chi_square_survival_function_at_tabulated_critical_values(statistic, dof):
    assert chi_square_sf(statistic, dof) == pytest.approx(0.05, rel=1e-6)


def closed_form_sf(statistic: float, dof: int) -> float:
    """The textbook finite sums: e^(−x/2)·Σ (x/2)^j/j! for even dof; erfc plus a half-integer sum for odd."""
    half = statistic / 2
    if dof % 2 == 0:
        return math.exp(-half) * sum(half ** j / math.factorial(j) for j in range(dof // 2))
    return math.erfc(math.sqrt(half)) + math.exp(-half) * sum(
        half ** (j - 0.5) / math.gamma(j + 0.5) for j in range(1, (dof - 1) // 2 + 1))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 14, 15, 23, 24])
def test_chi_square_survival_function_matches_the_closed_forms(dof):
    for statistic in (0.1, 0.5, 1.0, 3.0, dof - 1.0, dof + 0.5, 2.0 * dof, 40.0, 80.0):
        if statistic > 0:
            assert chi_square_sf(statistic, dof) == pytest.approx(closed_form_sf(statistic, dof), rel=1e-9, abs=1e-300)


def chi_square_p(counts: Counter, expected: dict) -> float:
    statistic = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert set(counts) <= set(expected)
    return chi_square_sf(statistic, len(expected) - 1)


DRAWS = 10_000


def test_order_draws_are_uniform_over_permutations():
    items = ["a", "b", "c", "d"]
    counts = Counter(tuple(draw_order(seed_for(n), items)) for n in range(DRAWS))
    p = chi_square_p(counts, {perm: DRAWS / 24 for perm in permutations(items)})
    assert p > 0.001, p


def test_committee_draws_are_uniform_over_pairs():
    pool = [PoolEntry(f"E{k}", ("A0401",), f"ORG{k}") for k in range(6)]
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 2}]}
    counts = Counter(frozenset(p.expert_id for p in select_committee(seed_for(n), request, pool).members)
                     for n in range(DRAWS))
    pairs = {frozenset(pair) for pair in permutations([e.id for e in pool], 2)}
    p = chi_square_p(counts, {pair: DRAWS / 15 for pair in pairs})
    assert p > 0.001, p


def test_each_pick_is_uniform_among_the_experts_still_allowed():
    """E0 and E1 share an employer. Drawing 2 of 4, each pick uniform among those still allowed, gives
    P({E2, E3}) = 1/6 and 5/24 for each pair with one of E0, E1 (docs/draw.md §4.1)."""
    pool = [PoolEntry("E0", ("A0401",), "ORG-A"), PoolEntry("E1", ("A0401",), "ORG-A"),
            PoolEntry("E2", ("A0401",), "ORG-B"), PoolEntry("E3", ("A0401",), "")]
    request = {"kind": "experts", "quotas": [{"specialty": "A04", "count": 2}]}
    counts = Counter(frozenset(p.expert_id for p in select_committee(seed_for(n), request, pool).members)
                     for n in range(DRAWS))
    expected = {frozenset({"E2", "E3"}): DRAWS / 6}
    expected.update({frozenset({a, b}): DRAWS * 5 / 24 for a in ("E0", "E1") for b in ("E2", "E3")})
    p = chi_square_p(counts, expected)
    assert p > 0.001, p


def test_value_draws_are_uniform_and_a_biased_draw_is_caught():
    choices = decimal_range("0.95", "0.98", "0.01")
    counts = Counter(draw_value(seed_for(n), choices) for n in range(DRAWS))
    assert chi_square_p(counts, {c: DRAWS / 4 for c in choices}) > 0.001
    biased = Counter(choices[min(hashlib.sha256(b"%d" % n).digest()[0] % 5, 3)] for n in range(DRAWS))
    assert chi_square_p(biased, {c: DRAWS / 4 for c in choices}) < 1e-6  # the test has power
