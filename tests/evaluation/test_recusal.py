"""Recusal rules (evaluation/recusal.py), the committee composition rule, and a whole draw built on them."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crypto.draw import (
    DrawCeremony,
    apply_replacements,
    draw_record,
    select_committee,
    verify_record,
)
from evaluation.recusal import (
    ENGINEERING,
    GOVERNMENT_PROCUREMENT,
    GOVERNMENT_PROCUREMENT_LARGE,
    NEGOTIATION,
    WATER_WORKS,
    CommitteeCompositionError,
    DeclaredRelation,
    DrawContext,
    ExpertCandidate,
    ExpertIndex,
    ExpertStatus,
    PartyEmployee,
    PastEmployment,
    RuleSet,
    apply_recusal,
    check_committee_composition,
    committee_rule_for,
    recheck,
)

DRAW_DAY = date(2025, 3, 10)
TENDEREE, AGENCY = "91350900TENDEREE0X", "91350100AGENCY000X"
BIDDER, OTHER_BIDDER = "91350700BIDDER001X", "91350200BIDDER002X"


def expert(expert_id: str, **facts) -> ExpertCandidate:
    defaults = {"specialties": ("A0401",), "region": "350902", "employer_credit_code": f"ORG-{expert_id}"}
    return ExpertCandidate(expert_id, **{**defaults, **facts})


def context(**changes) -> DrawContext:
    base = DrawContext(tenderee_credit_code=TENDEREE, agency_credit_code=AGENCY, draw_date=DRAW_DAY,
                       evaluation_date=DRAW_DAY + timedelta(days=2),
                       bidder_credit_codes=frozenset({BIDDER, OTHER_BIDDER}), specialties=("A04",),
                       max_draws=3, window_days=30)
    return replace(base, **changes)


def outcome(candidates, ctx=None, rule_set=None):
    result = apply_recusal(ExpertIndex(candidates), ctx or context(), rule_set)
    return [e.id for e in result.eligible], {(x.expert_id, x.rule): x for x in result.exclusions}


def test_current_employees_of_any_party_are_excluded_with_the_role_named():
    ids, excluded = outcome([expert("E1", employer_credit_code=TENDEREE), expert("E2", employer_credit_code=AGENCY),
                             expert("E3", employer_credit_code=OTHER_BIDDER), expert("E4")])
    assert ids == ["E4"]
    assert excluded["E1", "PARTY_EMPLOYEE"].reason_zh == f"现为招标人（{TENDEREE}）员工"
    assert excluded["E2", "PARTY_EMPLOYEE"].reason_en == f"currently employed by the agency ({AGENCY})"
    assert excluded["E3", "PARTY_EMPLOYEE"].reason_en == f"currently employed by bidder ({OTHER_BIDDER})"


def test_former_employees_within_three_years_are_excluded_and_earlier_ones_are_not():
    within = PastEmployment(BIDDER, end=date(2022, 3, 10))  # exactly 3 years before the draw
    before = PastEmployment(BIDDER, end=date(2022, 3, 9))
    ids, excluded = outcome([expert("E1", past_employers=(within,)), expert("E2", past_employers=(before,))])
    assert ids == ["E2"]
    assert excluded["E1", "PARTY_EMPLOYEE"].reason_zh == f"3年内曾为投标人（{BIDDER}）员工，至2022-03-10"
    assert "until 2022-03-10, within 3 years" in excluded["E1", "PARTY_EMPLOYEE"].reason_en


def test_the_lookback_is_configurable_and_handles_29_february():
    leap = context(draw_date=date(2028, 2, 29))  # three years earlier has no 29 February: 2025-02-28 is the limit
    jobs = [expert("E1", past_employers=(PastEmployment(TENDEREE, end=date(2025, 2, 28)),)),
            expert("E2", past_employers=(PastEmployment(TENDEREE, end=date(2025, 2, 27)),))]
    assert outcome(jobs, leap)[0] == ["E2"]
    five_years = RuleSet(rules=(PartyEmployee(lookback_years=5),))
    assert outcome([expert("E3", past_employers=(PastEmployment(TENDEREE, end=date(2021, 1, 1)),))],
                   rule_set=five_years)[0] == []


def test_declared_relations_to_a_party_are_excluded():
    ids, excluded = outcome([expert("E1", declared_relations=frozenset({BIDDER})),
                             expert("E2", declared_relations=frozenset({"91110000UNRELATEDX"}))])
    assert ids == ["E2"]
    assert excluded["E1", "DECLARED_RELATION"].reason_zh == f"申报与投标人（{BIDDER}）存在利害关系"


def test_suspended_and_penalised_experts_are_excluded():
    ids, excluded = outcome([expert("E1", status=ExpertStatus.SUSPENDED), expert("E2", status=ExpertStatus.PENALISED),
                             expert("E3", status=ExpertStatus.ACTIVE)])
    assert ids == ["E3"]
    assert excluded["E1", "EXPERT_STATUS"].reason_en == "suspended from evaluation"
    assert excluded["E2", "EXPERT_STATUS"].reason_zh == "受过处罚"


def test_draw_frequency_counts_only_the_window():
    recent = lambda *days: tuple(DRAW_DAY - timedelta(days=d) for d in days)
    ids, excluded = outcome([expert("E1", recent_draw_dates=recent(0, 5, 29)),      # 3 in the window: limit reached
                             expert("E2", recent_draw_dates=recent(1, 2)),          # 2: still allowed
                             expert("E3", recent_draw_dates=recent(3, 30, 45, 60)),  # 30 days ago is outside
                             expert("E4", recent_draw_dates=recent(-1, -2, -3))])    # future dates do not count
    assert ids == ["E2", "E3", "E4"]
    assert excluded["E1", "DRAW_FREQUENCY"].reason_en == "drawn 3 times in the last 30 days (limit 3)"
    assert outcome([expert("E2", recent_draw_dates=recent(1, 2))], context(max_draws=2))[0] == []


def test_experts_unavailable_on_the_evaluation_date_are_excluded():
    evaluation_day = DRAW_DAY + timedelta(days=2)
    ids, excluded = outcome([expert("E1", unavailable_dates=frozenset({evaluation_day})),
                             expert("E2", unavailable_dates=frozenset({DRAW_DAY}))])
    assert ids == ["E2"]
    assert excluded["E1", "UNAVAILABLE"].reason_en == "not available on the evaluation date 2025-03-12"


def test_region_filters_use_gbt2260_prefixes():
    pool = [expert("E1", region="350902"), expert("E2", region="350102"), expert("E3", region="330106"),
            expert("E4", region="350203")]
    ids, excluded = outcome(pool, context(regions_allowed=("350000",), regions_excluded=("350200",)))
    assert ids == ["E1", "E2"]
    assert excluded["E3", "REGION"].reason_en == "outside the allowed regions (350000)"
    assert excluded["E4", "REGION"].reason_zh == "属于排除的地区（350200）"
    assert outcome(pool, context(regions_allowed=("350900", "330100")))[0] == ["E1", "E3"]
    with pytest.raises(ValueError, match="'35' is not a 6-digit GB/T 2260 code"):
        outcome(pool, context(regions_allowed=("35",)))


def test_only_candidates_of_the_requested_specialties_are_reported():
    pool = [expert("E2", specialties=("B0101",), status=ExpertStatus.SUSPENDED), expert("E1", specialties=("A0402",)),
            expert("E3", specialties=("C01", "A0499"))]
    ids, excluded = outcome(pool)
    assert ids == ["E1", "E3"] and excluded == {}
    assert outcome(pool, context(specialties=("A04", "B01")))[0] == ["E1", "E3"]


def test_an_expert_caught_by_several_rules_gets_every_reason_in_rule_order():
    caught = expert("E1", employer_credit_code=BIDDER, declared_relations=frozenset({TENDEREE}),
                    status=ExpertStatus.PENALISED)
    result = apply_recusal(ExpertIndex([caught, expert("E0")]), context())
    assert [(x.expert_id, x.rule) for x in result.exclusions] == [
        ("E1", "PARTY_EMPLOYEE"), ("E1", "DECLARED_RELATION"), ("E1", "EXPERT_STATUS")]
    assert [e.id for e in result.eligible] == ["E0"] and result.candidates == 2


def test_rule_sets_are_configurable():
    related = expert("E1", declared_relations=frozenset({BIDDER}), status=ExpertStatus.SUSPENDED)
    only_relations = RuleSet(rules=(DeclaredRelation(),), one_per_employer=False)
    result = apply_recusal(ExpertIndex([related]), context(), only_relations)
    assert [x.rule for x in result.exclusions] == ["DECLARED_RELATION"] and not result.one_per_employer
    assert [e.id for e in apply_recusal(ExpertIndex([related]), context(), RuleSet(rules=())).eligible] == ["E1"]


def test_eligible_entries_are_in_canonical_order_with_the_facts_the_draw_reads():
    pool = [expert(f"E{n}", employer_credit_code=f"ORG{n % 3}", region="350981") for n in (5, 12, 1, 30)]
    result = apply_recusal(ExpertIndex(pool), context())
    assert [e.id for e in result.eligible] == ["E1", "E12", "E30", "E5"]
    assert result.eligible[0].employer == "ORG1" and result.eligible[0].region == "350981"


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        ExpertIndex([expert("E1"), expert("E1")])


def test_recheck_after_the_deadline_finds_a_drawn_bidder_employee():
    left_last_year = PastEmployment("91350300LATEBIDDERX", date(2024, 6, 30))
    drawn = [expert("E1", specialties=("B0101",), past_employers=(left_last_year,)),
             expert("E2")]
    later = context(bidder_credit_codes=frozenset({"91350300LATEBIDDERX"}))
    found = recheck(drawn, later)
    assert [(x.expert_id, x.rule) for x in found] == [("E1", "PARTY_EMPLOYEE")]


# --- committee composition (rules.md §2) ---------------------------------------------------------------------

@pytest.mark.parametrize("experts, reps, rule", [
    (4, 1, ENGINEERING), (5, 0, ENGINEERING), (5, 2, ENGINEERING), (6, 1, WATER_WORKS), (3, 0, NEGOTIATION),
    (2, 1, NEGOTIATION), (4, 1, GOVERNMENT_PROCUREMENT), (6, 1, GOVERNMENT_PROCUREMENT_LARGE),
])
def test_lawful_committees_pass(experts, reps, rule):
    check_committee_composition(experts, reps, rule)


@pytest.mark.parametrize("experts, reps, rule, message", [
    (3, 1, ENGINEERING, "委员会须为5人以上单数，现为4人"),
    (5, 1, ENGINEERING, "odd number of at least 5 members; 6 requested (engineering)"),
    (3, 2, ENGINEERING, "experts must be at least 2/3 of the members: 3 of 5"),
    (4, 1, WATER_WORKS, "at least 7 members; 5 requested (water_works)"),
    (4, 1, GOVERNMENT_PROCUREMENT_LARGE, "at least 7 members; 5 requested"),
    (1, 1, NEGOTIATION, "at least 3 members; 2 requested"),
    (1, 2, NEGOTIATION, "专家不得少于成员总数的2/3：3人中专家1人"),
])
def test_unlawful_committees_are_refused_with_the_rule(experts, reps, rule, message):
    with pytest.raises(CommitteeCompositionError, match=re.escape(message)) as refused:
        check_committee_composition(experts, reps, rule)
    assert refused.value.code == "committee_composition"


def test_the_rule_follows_the_procedure_and_budget():
    assert committee_rule_for("engineering") is ENGINEERING
    assert committee_rule_for("water_works") is WATER_WORKS
    assert committee_rule_for("government_procurement", budget=Decimal("9999999.99")) is GOVERNMENT_PROCUREMENT
    assert committee_rule_for("government_procurement", budget=Decimal(10000000)) is GOVERNMENT_PROCUREMENT_LARGE
    assert committee_rule_for("government_procurement", complex_project=True) is GOVERNMENT_PROCUREMENT_LARGE
    assert committee_rule_for("consultation") is NEGOTIATION
    with pytest.raises(ValueError, match="unknown procedure 'auction'"):
        committee_rule_for("auction")


# --- end to end: recusal, commitment, contribution, draw, decline, replacement, verification ---------------------

def test_a_whole_remote_draw_with_a_decline_verifies():
    regions = ["350902", "350102", "350702", "350203"]
    pool = [expert(f"E{n:03d}", specialties=("B0101",) if n % 6 == 0 else ("A0401",), region=regions[n % 4],
                   employer_credit_code=BIDDER if n == 7 else f"ORG{n % 25}",
                   status=ExpertStatus.SUSPENDED if n == 11 else ExpertStatus.ACTIVE) for n in range(90)]
    ctx = context(specialties=("A04", "B01"), regions_excluded=("350200",))
    recusal = apply_recusal(ExpertIndex(pool), ctx)
    assert {("E007", "PARTY_EMPLOYEE"), ("E011", "EXPERT_STATUS"), ("E003", "REGION")} <= {
        (x.expert_id, x.rule) for x in recusal.exclusions}
    check_committee_composition(6, 1, committee_rule_for("engineering"))
    request = {"kind": "experts", "section": "FJ-2025-0001-01",
               "quotas": [{"specialty": "A04", "count": 5, "reserves": 1},
                          {"specialty": "B01", "count": 1, "reserves": 1}],
               "venues": [{"id": "宁德", "seats": 4, "regions": ["350900"]},
                          {"id": "福州", "seats": 2, "regions": ["350100"]},
                          {"id": "南平", "seats": 2, "regions": ["350700"]}],
               "one_per_employer": recusal.one_per_employer, "regions_excluded": list(ctx.regions_excluded)}
    secret = bytes(range(32, 64))
    ceremony = DrawCeremony.open(secret, request, recusal.eligible)
    ceremony.contribute("supervisor:林监督", "現場 4711", datetime(2025, 3, 10, 2, tzinfo=UTC))
    seed = ceremony.reveal(secret)
    selection = select_committee(seed, request, recusal.eligible)
    assert len(selection.members) == 6
    assert {p.expert_id for p in selection.members}.isdisjoint({"E007", "E011", "E003"})
    declined = selection.members[0].expert_id
    replacements, committee = apply_replacements(seed, request, recusal.eligible, selection, [(declined, "declined")])
    assert declined not in {p.expert_id for p in committee}
    record = draw_record(request, recusal.eligible, secret, ceremony.contributions, selection, replacements)
    assert verify_record(record, published_commitment=ceremony.commitment.commitment).ok
