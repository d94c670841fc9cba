"""The expert draw through its operations: composition, shortfall, recusal, commit-reveal, sealing, confirmation,
decline, time-out and replacement, the re-check after the deadline, double random, publication and verification."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.accounts import OrgKind, Role
from core.audit import AuditEvent
from core.clock import now
from core.db import db
from core.errors import InvalidTransition, RuleViolation, ValidationError
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as ops
from evaluation import expert_operations as expert_ops
from evaluation.draw_models import AssignmentStatus, Draw, DrawExclusion, DrawState
from evaluation.draw_records import build_record, verify_draw
from evaluation.recusal import ExpertStatus
from tests.evaluation import draw_helpers as h
from trading.models import SectionState


@pytest.fixture()
def world(app, factory):
    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    section = project.sections[0]
    venue = h.venue("NDGGZY-01", "350900", 9)
    experts = h.pool({("A0401", "350902"): 9, ("B0101", "350902"): 3}, factory)
    return SimpleNamespace(agent=agent, project=project, section=section, venue=venue, experts=experts,
                           supervisor=h.supervisor(factory),
                           tenderee=factory.user(Role.TENDEREE, organisation=project.tenderee))


def drawn(w, *, bidders=None, **kwargs):
    draw = h.request(w.section, w.agent, [w.venue], **kwargs)
    ops.commit_draw(draw, actor=w.agent, bidders=bidders)
    ops.contribute(draw, w.supervisor, "监督人员随机串 4711")
    ops.reveal(draw, actor=w.agent)
    db.session.commit()
    return draw


def audit_actions(draw) -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "draws",
                                                                 AuditEvent.object_id == str(draw.id))
                              .order_by(AuditEvent.seq)).all()


# -- composition (rules.md §2) -----------------------------------------------------------------------------------

@pytest.mark.parametrize("quotas, reps, message", [
    ((("A04", 4, 0),), 0, "5人以上单数"),                 # too small
    ((("A04", 5, 0),), 1, "5人以上单数，现为6人"),         # even
    ((("A04", 3, 0),), 2, "专家不得少于成员总数的2/3"),      # 3 of 5: 9 < 10
])
def test_a_works_committee_that_breaks_the_composition_rule_is_refused(world, quotas, reps, message):
    with pytest.raises(RuleViolation, match=message) as refused:
        h.request(world.section, world.agent, [world.venue], quotas=quotas, reps=reps)
    assert refused.value.code == "committee_composition" and refused.value.field == "quotas"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Draw.id))) == 0


def test_water_works_need_seven_and_the_rule_follows_the_project(world, factory):
    with pytest.raises(RuleViolation, match="7人以上"):
        h.request(world.section, world.agent, [world.venue], quotas=(("A04", 5, 0),), reps=0, water_works=True)
    draw = h.request(world.section, world.agent, [world.venue], quotas=(("A04", 6, 0),), reps=1, water_works=True)
    assert (draw.committee_rule, draw.committee_size) == ("water_works", 7)


def test_procurement_from_ten_million_needs_seven_and_consultation_three(world, factory):
    goods = factory.project(world.agent, type="goods")  # budget 20,000,000 CNY
    with pytest.raises(RuleViolation, match="87号令第47条"):
        h.request(goods.sections[0], world.agent, [world.venue], quotas=(("A04", 5, 0),), reps=0)
    assert h.request(goods.sections[0], world.agent, [world.venue], quotas=(("A04", 7, 0),), reps=0).committee_size == 7
    consultation = factory.project(world.agent, type="services", method="consultation")
    draw = h.request(consultation.sections[0], world.agent, [world.venue], quotas=(("A04", 3, 0),), reps=0)
    assert draw.committee_rule == "negotiation"


def test_one_live_draw_per_section_and_bad_venues_are_refused(world):
    with pytest.raises(ValidationError, match="少于"):
        h.request(world.section, world.agent, [h.venue("TINY-01", "350900", 3)])
    h.request(world.section, world.agent, [world.venue])
    with pytest.raises(RuleViolation, match="已有进行中的专家抽取"):
        h.request(world.section, world.agent, [world.venue])


# -- shortfall, recusal, the commitment ---------------------------------------------------------------------------

def test_a_request_the_pool_cannot_fill_names_the_specialty_and_the_shortfall(world):
    draw = h.request(world.section, world.agent, [world.venue], quotas=(("A04", 5, 1), ("B01", 1, 3)))
    with pytest.raises(RuleViolation) as refused:
        ops.commit_draw(draw, actor=world.agent, bidders=None)
    message = refused.value.message
    assert "B01" in message and "需要4人" in message and "仅有3人" in message and "缺1人" in message
    assert refused.value.code == "draw_shortfall"
    db.session.rollback()
    assert draw.state is DrawState.REQUESTED and draw.commitment is None


def test_recusal_excludes_the_parties_staff_relations_and_inactive_experts_with_reasons(world, factory):
    bidder = factory.org(OrgKind.BIDDER)
    last_year = now().date().replace(year=now().year - 1)
    staff = {
        "tenderee": h.expert("A0402", employer=world.project.tenderee.credit_code),
        "agency": h.expert("A0402", employer=world.project.agency.credit_code),
        "bidder": h.expert("A0402", past=[expert_ops.PastEmploymentInput(bidder.name, bidder.credit_code, last_year)]),
        "relation": h.expert("A0403"), "suspended": h.expert("A0403"), "penalised": h.expert("A0403"),
        "away": h.expert("A0404"),
    }
    expert_ops.declare_relation(staff["relation"], actor=None, organisation_name=bidder.name,
                                credit_code=bidder.credit_code, kind="shareholding")
    expert_ops.change_status(staff["suspended"], "suspended", actor=world.supervisor, reason="缺席评标")
    expert_ops.change_status(staff["penalised"], "penalised", actor=world.supervisor, reason="违法评标受处罚")
    h.past_deadline(world.section)
    draw = h.request(world.section, world.agent, [world.venue])
    expert_ops.add_unavailability(staff["away"], actor=None, start=draw.evaluation_date, end=draw.evaluation_date)
    ops.commit_draw(draw, actor=world.agent, bidders=[bidder.credit_code])
    rows = {(x.expert_code, x.rule): x for x in db.session.scalars(sa.select(DrawExclusion))}
    assert rows[staff["tenderee"].code, "PARTY_EMPLOYEE"].reason_zh.startswith("现为招标人")
    assert rows[staff["agency"].code, "PARTY_EMPLOYEE"].reason_zh.startswith("现为招标代理机构")
    assert f"至{last_year.isoformat()}" in rows[staff["bidder"].code, "PARTY_EMPLOYEE"].reason_zh
    assert rows[staff["relation"].code, "DECLARED_RELATION"].reason_en.startswith("declared a relation to bidder")
    assert rows[staff["suspended"].code, "EXPERT_STATUS"].reason_zh == "暂停评标资格"
    assert rows[staff["penalised"].code, "EXPERT_STATUS"].reason_zh == "受过处罚"
    assert rows[staff["away"].code, "UNAVAILABLE"].reason_zh.startswith("评标日")
    eligible = {e["id"] for e in json.loads(draw.eligible_json)}
    assert eligible.isdisjoint(e.code for e in staff.values())
    assert draw.eligible_count == 12 and draw.candidate_count == 19 and draw.bidders_known
    assert json.loads(draw.request_json)["bidders"] == [bidder.credit_code]


def test_after_the_deadline_the_bidders_must_be_named(world):
    h.past_deadline(world.section)
    draw = h.request(world.section, world.agent, [world.venue])
    with pytest.raises(ValidationError, match="投标人名单") as refused:
        ops.commit_draw(draw, actor=world.agent, bidders=None)
    assert refused.value.field == "bidders"


def test_the_commitment_is_published_before_any_entropy_and_binds_the_draw(world):
    draw = drawn(world)
    actions = audit_actions(draw)
    assert actions[:5] == ["draw.requested", "draw.committed", "draw.entropy_contributed", "draw.revealed",
                           "draw.expert_notified"]
    committed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "draw.committed")).details
    assert committed["commitment"] == draw.commitment and committed["eligible_digest"] == draw.eligible_digest
    assert verify_draw(draw).ok


def test_entropy_after_the_reveal_is_refused_and_the_reveal_needs_a_supervisor(world):
    draw = h.request(world.section, world.agent, [world.venue])
    ops.commit_draw(draw, actor=world.agent, bidders=None)
    ops.contribute(draw, world.tenderee, "招标人随机串")
    with pytest.raises(RuleViolation, match="监督人员"):
        ops.reveal(draw, actor=world.agent)
    ops.contribute(draw, world.supervisor, "监督人员随机串")
    with pytest.raises(ValidationError, match="已贡献"):
        ops.contribute(draw, world.supervisor, "again")
    ops.reveal(draw, actor=world.agent)
    with pytest.raises(RuleViolation, match="already revealed") as refused:
        ops.contribute(draw, world.supervisor, "too late")
    assert refused.value.code == "entropy_after_reveal"
    assert len(draw.contributions) == 2


# -- sealing ------------------------------------------------------------------------------------------------------

def test_the_drawn_list_is_sealed_at_rest(world):
    draw = drawn(world)
    codes = set(h.members(draw))
    assert len(codes) == 6
    queries = ["SELECT * FROM draw_assignments", "SELECT * FROM draw_replacements", "SELECT * FROM notifications",
               "SELECT * FROM audit_events WHERE action LIKE 'draw.%'",
               "SELECT id, request_json, commitment, secret_sealed, result_sealed, record_json FROM draws",
               "SELECT * FROM draw_list_keys"]
    dump = "".join(str(tuple(row)) for query in queries for row in db.session.execute(sa.text(query)))
    assert not [c for c in codes if c in dump]  # the eligible list (kept apart) names the whole pool, not the drawn
    secret = build_record(draw)["secret"]
    assert secret not in dump and draw.record_json is None


# -- confirmation, decline, time-out, replacement -----------------------------------------------------------------

def test_confirmations_complete_the_committee_and_a_decline_draws_a_verifiable_replacement(world):
    draw = drawn(world)
    held = h.members(draw)
    users = {e.code: e for e in h.experts_by_code(held).values()}
    declined_code = next(iter(held))
    assert confirmations.respond(held[declined_code], users[declined_code], accept=False, reason="出差") == "declined"
    db.session.commit()
    now_held = h.members(draw)
    assert declined_code not in now_held and len(now_held) == 6
    replacement = draw.replacements[0]
    assert (replacement.reason, replacement.from_reserve, replacement.round) == ("declined", True, 1)
    for code, assignment in now_held.items():
        confirmations.respond(assignment, h.experts_by_code([code])[code], accept=True)
    db.session.commit()
    assert draw.state is DrawState.COMPLETED
    record = build_record(draw)
    assert record["replacements"][0]["replaces"] == declined_code
    assert verify_draw(draw).ok
    with pytest.raises(ValidationError, match="原因"):
        other = next(iter(h.members(draw).items()))
        confirmations.respond(other[1], h.experts_by_code([other[0]])[other[0]], accept=False, reason=" ")


def test_a_time_out_is_replaced_from_the_round_stream_once_reserves_are_gone(world):
    draw = drawn(world, quotas=(("A04", 5, 0), ("B01", 1, 0)))
    held = h.members(draw)
    late_code, late = next((c, a) for c, a in held.items() if draw.quotas[a.quota].specialty == "A04")
    assert confirmations.expire_overdue(draw) == 0
    late.respond_by = now() - timedelta(seconds=1)
    assert confirmations.expire_overdue(draw) == 1
    db.session.commit()
    assert [(r.reason, r.from_reserve) for r in draw.replacements] == [("timed_out", False)]
    assert late.status is AssignmentStatus.TIMED_OUT and late_code not in h.members(draw)
    assert len(set(h.members(draw)) - set(held)) == 1
    assert verify_draw(draw).ok


def test_an_answer_after_the_deadline_counts_as_a_time_out(world):
    draw = drawn(world)
    code, assignment = next(iter(h.members(draw).items()))
    assignment.respond_by = now() - timedelta(seconds=1)
    assert confirmations.respond(assignment, h.experts_by_code([code])[code], accept=True) == "timed_out"
    assert assignment.status is AssignmentStatus.TIMED_OUT and draw.replacements[0].reason == "timed_out"


def test_an_exhausted_pool_leaves_the_seat_vacant_and_tells_the_conductors(world):
    draw = drawn(world, quotas=(("A04", 5, 0), ("B01", 3, 0)), reps=1)
    economic = [a for a in h.members(draw).values() if draw.quotas[a.quota].specialty == "B01"][0]
    confirmations.end_assignment(draw, economic, AssignmentStatus.DECLINED, reason="生病")
    db.session.commit()
    assert confirmations.draw_counts(draw)["vacant"] == 1
    assert "draw.replacement_impossible" in audit_actions(draw)


# -- the re-check after the deadline ------------------------------------------------------------------------------

def test_a_member_who_turns_out_to_have_worked_for_a_bidder_is_recused_and_replaced(world, factory):
    draw = drawn(world)
    code, _ = next(iter(h.members(draw).items()))
    bidder = factory.org(OrgKind.BIDDER)
    conflicted = h.experts_by_code([code])[code]
    expert_ops.add_past_employment(conflicted, expert_ops.PastEmploymentInput(
        bidder.name, bidder.credit_code, now().date() - timedelta(days=200)), actor=world.agent)
    with pytest.raises(RuleViolation, match="投标截止后"):
        ops.recheck_bidders(draw, actor=world.agent, bidders=[bidder.credit_code])
    h.past_deadline(world.section)
    assert ops.recheck_bidders(draw, actor=world.agent, bidders=[bidder.credit_code]) == 1
    db.session.commit()
    assert code not in h.members(draw) and draw.replacements[0].reason == "recused"
    stage = db.session.scalar(sa.select(DrawExclusion.stage).where(DrawExclusion.expert_code == code))
    assert stage == "recheck" and verify_draw(draw).ok


def test_a_substitute_found_conflicted_is_recused_at_once(world):
    draw = drawn(world)
    reserve_codes = {p["id"] for p in build_record(draw)["result"]["reserves"]}
    reserve = h.experts_by_code(reserve_codes)
    a04_reserve = next(e for e in reserve.values() if e.specialty_codes[0].startswith("A04"))
    expert_ops.change_status(a04_reserve, ExpertStatus.SUSPENDED, actor=world.supervisor, reason="暂停")
    held = h.members(draw)
    leaving = next(a for a in held.values() if draw.quotas[a.quota].specialty == "A04")
    confirmations.end_assignment(draw, leaving, AssignmentStatus.DECLINED, reason="出差")
    db.session.commit()
    assert [r.reason for r in draw.replacements] == ["declined", "recused"]
    assert a04_reserve.code not in h.members(draw) and len(h.members(draw)) == 6
    assert verify_draw(draw).ok


# -- double random, opening, publication ----------------------------------------------------------------------------

def test_remote_mode_seats_every_member_near_a_venue_within_its_seats(world, factory):
    fuzhou, nanping = h.venue("FZGGZY-01", "350100", 3), h.venue("NPGGZY-01", "350700", 3)
    h.pool({("A0401", "350102"): 6, ("A0401", "350702"): 6, ("B0101", "350103"): 2, ("B0101", "350702"): 2})
    draw = h.request(world.section, world.agent, [world.venue, fuzhou, nanping])
    ops.commit_draw(draw, actor=world.agent, bidders=None)
    ops.contribute(draw, world.supervisor, "remote")
    ops.reveal(draw, actor=world.agent)
    experts = h.experts_by_code(h.members(draw))
    prefixes = {"NDGGZY-01": "3509", "FZGGZY-01": "3501", "NPGGZY-01": "3507"}
    seats: dict[str, set[int]] = {}
    for code, a in h.members(draw).items():
        assert experts[code].region_code.startswith(prefixes[a.venue_code])
        seats.setdefault(a.venue_code, set()).add(a.seat)
        assert 1 <= a.seat <= {"NDGGZY-01": 9, "FZGGZY-01": 3, "NPGGZY-01": 3}[a.venue_code]
    assert sum(len(s) for s in seats.values()) == 6
    assert verify_draw(draw).ok


def test_the_list_opens_to_the_committee_at_sign_in_and_is_published_after_the_award(world):
    draw = drawn(world)
    for code, a in h.members(draw).items():
        confirmations.respond(a, h.experts_by_code([code])[code], accept=True)
    with pytest.raises(RuleViolation, match="复核"):
        ops.reveal_to_committee(draw, actor=world.agent)
    h.past_deadline(world.section)
    ops.recheck_bidders(draw, actor=world.agent, bidders=[])
    with pytest.raises(RuleViolation, match="签到"):
        ops.reveal_to_committee(draw, actor=world.supervisor)
    h.sign_in_time(draw)
    ops.reveal_to_committee(draw, actor=world.supervisor)
    with pytest.raises(RuleViolation, match="定标后"):
        ops.publish_record(draw, actor=world.agent)
    world.section.state = SectionState.AWARDED  # the award itself belongs to the evaluation work
    record = ops.publish_record(draw, actor=world.agent)
    db.session.commit()
    assert draw.state is DrawState.PUBLISHED and json.loads(draw.record_json) == record
    published = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "draw.published")).details
    assert len(published["tag_key"]) == 64 and verify_draw(draw).ok
    with pytest.raises(InvalidTransition):
        ops.cancel(draw, actor=world.agent, reason="太晚")


def test_a_tampered_record_fails_verification_naming_the_mismatch(world):
    draw = drawn(world)
    h.past_deadline(world.section)
    for code, a in h.members(draw).items():
        confirmations.respond(a, h.experts_by_code([code])[code], accept=True)
    ops.recheck_bidders(draw, actor=world.agent, bidders=[])
    h.sign_in_time(draw)
    ops.reveal_to_committee(draw, actor=world.agent)
    world.section.state = SectionState.AWARDED
    record = ops.publish_record(draw, actor=world.agent)
    forged = json.loads(json.dumps(record))
    outsider = next(e["id"] for e in record["eligible"] if e["id"] not in {p["id"] for p in record["result"]["members"]}
                    and e["id"] not in {p["id"] for p in record["result"]["reserves"]})
    forged["result"]["members"][0]["id"] = outsider
    draw.record_json = json.dumps(forged)
    report = verify_draw(draw)
    assert not report.ok and report.mismatch.startswith("result.members[0].id expected")
    forged = json.loads(json.dumps(record))
    forged["contributions"][0]["entropy"] = "换了"
    draw.record_json = json.dumps(forged)
    assert "seed does not match" in verify_draw(draw).mismatch


def test_a_cancelled_draw_tells_the_experts_and_takes_no_more_answers(world):
    draw = drawn(world)
    code, assignment = next(iter(h.members(draw).items()))
    ops.cancel(draw, actor=world.supervisor, reason="项目暂停")
    db.session.commit()
    with pytest.raises(RuleViolation, match="不能再答复"):
        confirmations.respond(assignment, h.experts_by_code([code])[code], accept=True)


class Inbox:
    """A gateway for the outbound hook that keeps what it is handed (the platform's own hook interface)."""

    def __init__(self):
        self.messages = []

    def send(self, message):
        self.messages.append(message)


def test_messages_reach_the_gateway_only_once_the_draw_commits(world, app):
    inbox = Inbox()
    app.config["OUTBOUND_MESSENGER"] = inbox
    try:
        draw = h.request(world.section, world.agent, [world.venue])
        ops.commit_draw(draw, actor=world.agent, bidders=None)
        ops.contribute(draw, world.supervisor, "entropy")
        db.session.commit()
        ops.reveal(draw, actor=world.agent)
        db.session.rollback()
        assert inbox.messages == [] and draw.state is DrawState.COMMITTED
        ops.reveal(draw, actor=world.agent)
        db.session.commit()
    finally:
        app.config.pop("OUTBOUND_MESSENGER")
    held = h.members(draw)
    assert sorted(m.recipient for m in inbox.messages) == sorted(held)
    experts = h.experts_by_code(held)
    assert all(m.mobile and m.mobile.startswith("139") and experts[m.recipient].name in m.text
               and world.project.name not in m.text for m in inbox.messages)


def test_experts_drawn_too_often_are_left_out_as_configured(world, app, factory):
    first = drawn(world)
    drawn_before = {code for code, a in h.members(first).items() if first.quotas[a.quota].specialty == "A04"}
    app.config["EXPERT_DRAW"] = {"max_draws": 1, "window_days": 30}
    try:
        other = factory.project(world.agent).sections[0]
        draw = h.request(other, world.agent, [world.venue], quotas=(("A04", 4, 0),), reps=1)
        ops.commit_draw(draw, actor=world.agent, bidders=None)
    finally:
        app.config.pop("EXPERT_DRAW")
    frequent = {x.expert_code: x for x in db.session.scalars(sa.select(DrawExclusion).where(
        DrawExclusion.draw_id == draw.id, DrawExclusion.rule == "DRAW_FREQUENCY"))}
    assert set(frequent) == drawn_before
    assert next(iter(frequent.values())).reason_zh == "近30天内已被抽取1次（上限1次）"


def test_allowed_and_excluded_regions_reach_recusal(world):
    h.pool({("A0401", "350102"): 6, ("B0101", "350102"): 2})
    draw = h.request(world.section, world.agent, [world.venue], regions_excluded=["350900"])
    ops.commit_draw(draw, actor=world.agent, bidders=None)
    eligible = h.experts_by_code(e["id"] for e in json.loads(draw.eligible_json))
    assert len(eligible) == 8 and all(e.region_code.startswith("3501") for e in eligible.values())
    assert json.loads(draw.request_json)["regions_excluded"] == ["350900"]
    reasons = set(db.session.scalars(sa.select(DrawExclusion.reason_zh).where(DrawExclusion.rule == "REGION")))
    assert reasons == {"属于排除的地区（350900）"}


def test_at_most_one_expert_per_employer_counts_when_filling_the_request(app, factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    shared = h.employer_code(4242)
    for n in range(9):
        h.expert("A0401", employer=shared if n < 5 else None)
    h.pool({("B0101", "350902"): 2})
    draw = h.request(section, agent, [h.venue()], quotas=(("A04", 5, 1), ("B01", 1, 0)))
    with pytest.raises(RuleViolation, match="A04.*缺1人") as refused:
        ops.commit_draw(draw, actor=agent, bidders=None)
    assert "one per employer" in refused.value.message


def test_a_credit_record_excludes_the_expert_from_the_draw(app, factory):
    """A penalty entered by a supervisor as a credit record (信用) excludes like a penalised status."""
    from datetime import date

    from core.accounts import Role
    from evaluation.draw_pool import load_candidates
    from evaluation.recusal import ExpertStatus
    from supervision import credit
    from tests.evaluation import draw_helpers as dh

    clean, penalised = dh.expert("A0401"), dh.expert("A0401")
    credit.record(supervisor=factory.user(Role.SUPERVISOR), kind="penalty", title="评标中违规打分，暂停评标资格",
                  authority="宁德市住房和城乡建设局", effective_from=date(2026, 1, 1), expert=penalised)
    db.session.commit()
    statuses = {c.expert_id: c.status for c in load_candidates(["A04"], date(2026, 12, 20), {})}
    assert statuses[clean.code] is ExpertStatus.ACTIVE
    assert statuses[penalised.code] is ExpertStatus.PENALISED
