"""The pass/fail stages through the room's API: majority with written reasons, failed bidders leave the scoring,
locked votes, the chair's decision, facts recorded by the agent and the method's rules that read them."""
from __future__ import annotations

import sqlalchemy as sa

from core.db import db
from evaluation.evaluation_models import Evaluation, StageOutcome
from tests.evaluation import evaluation_helpers as eh


def _ready(app, factory, **kwargs):
    world = eh.build(app, factory, **kwargs)
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    return world, seats, chair


def _vote_all(world, seats, view, fail=None):
    items = [i for i in view["stage"]["items"] if not i["computed"]]
    for n, seat in enumerate(seats):
        votes = []
        for b in (b for b in view["bidders"] if b["failed_stage"] is None):
            for i in items:
                failing = fail and fail(n, b, i)
                votes.append({"bidder_id": b["id"], "item_id": i["id"], "passed": not failing,
                              "reason": failing or ""})
        assert eh.api(world, seat, "PUT", "/votes", json={"votes": votes}).status_code == 200
        assert eh.api(world, seat, "POST", "/stage/submit").status_code == 200


def test_a_majority_fail_with_reasons_removes_the_bidder_and_a_minority_is_kept_as_dissent(app, factory):
    world, seats, chair = _ready(app, factory)
    view = eh.state(world, chair)
    assert view["stage"]["id"] == "formal"
    first, second = view["bidders"][0], view["bidders"][1]
    item = next(i for i in view["stage"]["items"] if not i["computed"])
    # a fail vote without a reason is refused; a vote on a computed item too
    no_reason = eh.api(world, seats[0], "PUT", "/votes", json={"votes": [
        {"bidder_id": first["id"], "item_id": item["id"], "passed": False, "reason": ""}]})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["field"] == "reason"
    # the chair cannot decide while members are still reviewing; a member cannot submit half a stage
    assert eh.api(world, seats[1], "POST", "/stage/submit").get_json()["error"]["field"] == "votes"
    early = eh.api(world, chair, "POST", "/stage/decide")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "members_reviewing"

    def fail(n, b, i):
        if b["id"] == first["id"] and i["id"] == item["id"] and n < 3:
            return f"评委{n + 1}：营业执照名称与投标函不一致"
        if b["id"] == second["id"] and i["id"] == item["id"] and n == 4:
            return "签章模糊"
        return None

    _vote_all(world, seats, view, fail)
    locked = eh.api(world, seats[0], "PUT", "/votes", json={"votes": []})
    assert locked.status_code == 409 and locked.get_json()["error"]["code"] == "stage_submitted"
    not_chair = eh.api(world, seats[1], "POST", "/stage/decide")
    assert not_chair.status_code == 403 and not_chair.get_json()["error"]["code"] == "not_chair"
    decided = eh.api(world, chair, "POST", "/stage/decide").get_json()
    outcome = decided["outcome"]
    assert [f["bidder"] for f in outcome["failed"]] == [first["credit_code"]]
    assert outcome["failed"][0]["members"] == [1, 2, 3] and "营业执照名称" in outcome["failed"][0]["reasons"][0]
    assert [d["bidder"] for d in outcome["dissents"]] == [second["credit_code"]]
    after = eh.state(world, chair)
    assert after["stage"]["id"] == "qualification"
    assert next(b for b in after["bidders"] if b["id"] == first["id"])["failed_stage"] == "formal"
    # the failed bidder enters neither the next stage nor the scoring
    eh.pass_every_stage(world, seats, chair)
    scoring = eh.state(world, chair)
    assert scoring["state"] == "scoring" and str(first["id"]) not in scoring["computed"]
    refused = eh.score(world, seats[0], first["id"], "t_method_statement", 6)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "bidder_id"
    assert db.session.scalar(sa.select(sa.func.count(StageOutcome.id))) == 3


def test_computed_items_read_the_credit_records_and_the_agents_facts(app, factory):
    """Credit facts come from the supervisors' credit records (信用), never typed; the rest from the agent."""
    from datetime import date

    from core.accounts import Organisation, Role
    from supervision import credit

    world, seats, chair = _ready(app, factory, facts={})
    view = eh.state(world, chair)
    listed = db.session.scalar(sa.select(Organisation).where(
        Organisation.credit_code == view["bidders"][1]["credit_code"]))
    credit.record(supervisor=factory.user(Role.SUPERVISOR), kind="dishonest", title="失信被执行人",
                  authority="宁德市中级人民法院", effective_from=date(2026, 1, 1), organisation=listed)
    db.session.commit()
    for n, bidder in enumerate(view["bidders"]):
        bad = world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{bidder['id']}/facts",
                                     json={"facts": {"unknown_fact": 1}})
        assert bad.status_code == 422
        typed = dict(eh.FACTS, not_dishonest_entity=True)  # typed, and overridden by the credit record
        assert world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{bidder['id']}/facts",
                                      json={"facts": typed}).status_code == 200
    for _stage in range(2):  # formal, then qualification (which reads not_dishonest_entity)
        view = eh.state(world, chair)
        _vote_all(world, seats, view)
        decided = eh.api(world, chair, "POST", "/stage/decide")
        assert decided.status_code == 200, decided.get_json()
    outcome = decided.get_json()["outcome"]
    assert outcome["failed"][0]["item"] == "q_credit" and outcome["failed"][0]["computed"]
    assert outcome["failed"][0]["bidder"] == listed.credit_code
    eh.pass_every_stage(world, seats, chair)
    computed = eh.state(world, chair)["computed"]
    assert all(row["m_project_manager_grade"] == 4.0 and row["c_credit_rating"] == 3.0 for row in computed.values())
    fixed = world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{view['bidders'][0]['id']}/facts",
                                   json={"facts": {"credit_grade": "AA"}})
    assert fixed.status_code == 409 and fixed.get_json()["error"]["code"] == "facts_fixed"


def test_a_bid_above_the_ceiling_fails_the_compliance_check_by_itself(app, factory):
    world, seats, chair = _ready(app, factory, prices=(920, 950, 9_500_000))
    eh.pass_every_stage(world, seats, chair)
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    failed = [(b.price, b.failed_stage) for b in evaluation.bidders if b.failed_stage]
    assert [(str(p), s) for p, s in failed] == [("9500000.00", "compliance")]
