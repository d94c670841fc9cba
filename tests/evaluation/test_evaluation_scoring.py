"""Detailed scoring through the room's API: typed scores within range and step, refused bad input with nothing
changed, live outlier flags to the chair and the expert, the sheet checks, and the recorded tie-break draw."""
from __future__ import annotations

import json

import sqlalchemy as sa

from core.audit import AuditEvent
from core.db import db
from crypto.draw import verify_record
from evaluation.evaluation_models import Evaluation, FlagState, ScoreEntry, ScoreFlag
from tests.evaluation import evaluation_helpers as eh

ITEM = "t_method_statement"   # subjective, 0–8 in steps of 0.5


def _stored(world) -> dict:
    db.session.expire_all()
    return {(e.member_id, e.bidder_id, e.item_id): str(e.value) for e in db.session.scalars(
        sa.select(ScoreEntry).where(ScoreEntry.evaluation_id == world.evaluation_id))}


def test_bad_scores_are_refused_with_a_reason_and_nothing_stored_changes(app, factory):
    world = eh.build(app, factory, prices=(920, 950, 980))
    seats = eh.seated_members(world)
    recused = seats[0]
    assert eh.sign_in_by_certificate(world, recused).status_code == 200
    assert eh.declare(world, recused, [world.bidders[0].user.organisation.credit_code], "曾在该单位任职").status_code == 200
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    eh.pass_every_stage(world, seats, chair)
    bidder = eh.state(world, chair)["bidders"][0]["id"]
    assert eh.score(world, seats[1], bidder, ITEM, 6).status_code == 200
    before = _stored(world)
    cases = [(8.5, "", "out_of_range", "value"), (6.3, "", "off_step", "value"), (8, "", "comment_required", "comment"),
             ("七", "", "not_a_number", "value")]
    for value, comment, code, field in cases:
        refused = eh.score(world, seats[1], bidder, ITEM, value, comment)
        body = refused.get_json()["error"]
        assert (refused.status_code, body["code"], body["field"]) == (422, code, field), body
    objective = eh.score(world, seats[1], bidder, "m_technical_lead", 3)
    assert objective.status_code == 422 and objective.get_json()["error"]["code"] == "computed_item"
    price = eh.score(world, seats[1], bidder, "price", 60)
    assert price.get_json()["error"]["code"] == "computed_item"
    from_recused = eh.score(world, recused, bidder, ITEM, 6)
    assert from_recused.status_code == 403 and from_recused.get_json()["error"]["code"] == "member_recused"
    assert _stored(world) == before
    assert eh.score(world, seats[1], bidder, ITEM, 8, "方案完整、措施具体").status_code == 200  # the top with a reason


def test_an_outlier_is_flagged_to_the_chair_and_the_expert_who_confirms_it_with_a_reason(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    bidder = eh.state(world, chair)["bidders"][1]["id"]
    deviant, early = seats[4], seats[1]
    assert eh.score(world, early, bidder, ITEM, 7).status_code == 200
    flagged = eh.score(world, deviant, bidder, ITEM, 2).get_json()["flags"]
    assert {f["reason"] for f in flagged} == {"deviation_max_fraction"} and len(flagged) == 2  # both, one other each
    for seat in (seats[0], seats[2], seats[3]):
        eh.score(world, seat, bidder, ITEM, 7)
    flags = db.session.scalars(sa.select(ScoreFlag).order_by(ScoreFlag.id)).all()
    by_member = {}
    for flag in flags:
        by_member.setdefault(flag.member_id, []).append(flag)
    deviant_id = eh.state(world, deviant)["me"]["member"]
    early_id = eh.state(world, early)["me"]["member"]
    assert {f.state for f in by_member[early_id]} == {FlagState.CLEARED}  # the others agree with it now
    open_ = [f for f in by_member[deviant_id] if f.state is FlagState.OPEN]
    assert {f.reason for f in open_} == {"deviation_max_fraction", "deviation_sigma"}
    assert all(abs(f.reference - 7.0) < 1e-9 for f in open_)
    # the chair sees every flag, the expert its own, another expert none of them
    chair_view = eh.state(world, chair)["flags"]
    assert {f["member"] for f in chair_view if f["state"] == "open"} == {deviant_id}
    assert early_id in {f["member"] for f in chair_view if f["state"] == "cleared"}  # the log keeps every flag
    assert {f["member"] for f in eh.state(world, deviant)["me"]["flags"]} == {deviant_id}
    other = eh.state(world, seats[2])
    assert "flags" not in other and {f["member"] for f in other["me"]["flags"]} <= {other["me"]["member"]}
    # the sheet cannot be submitted with open flags; a confirmation needs a reason
    def usual(n, b, i):
        return 7 if (b["id"], i["id"]) == (bidder, ITEM) else i["max"] - i["step"]

    eh.score_everyone(world, [s for s in seats if s is not deviant], usual)
    for b in eh.state(world, deviant)["bidders"]:
        for item in eh.state(world, deviant)["items"]:
            if item["kind"] == "subjective" and (b["id"], item["id"]) != (bidder, ITEM):
                eh.score(world, deviant, b["id"], item["id"], item["max"] - item["step"])
    blocked = eh.api(world, deviant, "POST", "/sheet", json={})
    assert blocked.status_code == 409 and blocked.get_json()["error"]["code"] == "flags_open"
    closing = eh.api(world, chair, "POST", "/close")
    assert closing.status_code == 409 and closing.get_json()["error"]["code"] == "members_scoring"
    for flag in eh.state(world, deviant)["me"]["flags"]:
        if flag["state"] == "open":
            empty = eh.api(world, deviant, "POST", f"/flags/{flag['id']}/confirm", json={"note": " "})
            assert empty.status_code == 422 and empty.get_json()["error"]["field"] == "note"
            kept = eh.api(world, deviant, "POST", f"/flags/{flag['id']}/confirm",
                          json={"note": "该方案未考虑冬季施工，与其他评委理解不同"})
            assert kept.status_code == 200
    assert eh.api(world, deviant, "POST", "/sheet", json={}).status_code == 200
    assert eh.api(world, chair, "POST", "/close").status_code == 200
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("evaluation.flag%"))).all()
    assert actions.count("evaluation.flag_confirmed") == 2 and "evaluation.flag_cleared" in actions


def test_a_revised_score_closes_its_flag(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    bidder = eh.state(world, chair)["bidders"][0]["id"]
    for seat in seats[:4]:
        eh.score(world, seat, bidder, ITEM, 6)
    assert eh.score(world, seats[4], bidder, ITEM, 1).get_json()["flags"]
    revised = eh.score(world, seats[4], bidder, ITEM, 6).get_json()["flags"]
    assert {f["state"] for f in revised} == {"revised"}
    assert not eh.state(world, seats[4])["me"]["flags"][0]["state"] == "open"


def test_sum_errors_and_inconsistent_objective_cells_are_flagged_and_refuse_the_sheet(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    eh.score_everyone(world, seats[1:])
    seat = seats[0]
    view = eh.state(world, seat)
    subjective = [i for i in view["items"] if i["kind"] == "subjective"]
    for b in view["bidders"]:
        for item in subjective:
            eh.score(world, seat, b["id"], item["id"], item["max"] - item["step"])
    first = view["bidders"][0]["id"]
    true_total = sum(i["max"] - i["step"] for i in subjective) + sum(view["computed"][str(first)].values())
    wrong = eh.api(world, seat, "POST", "/sheet", json={"totals": {str(first): true_total + 1}})
    assert wrong.status_code == 409 and wrong.get_json()["error"]["code"] == "sum_error"
    objective = eh.api(world, seat, "POST", "/sheet", json={"totals": {str(first): round(true_total, 2)},
                                                             "objective": {str(first): {"m_technical_lead": 1}}})
    assert objective.status_code == 409 and objective.get_json()["error"]["code"] == "objective_inconsistent"
    recorded = {(f.reason, f.state) for f in db.session.scalars(sa.select(ScoreFlag))}
    assert ("sum_error", FlagState.REVISED) in recorded and ("objective_inconsistent", FlagState.OPEN) in recorded
    right = eh.api(world, seat, "POST", "/sheet", json={"totals": {str(first): round(true_total, 2)},
                                                         "objective": {str(first): {"m_technical_lead": 3}}})
    assert right.status_code == 200, right.get_json()
    db.session.expire_all()
    assert not db.session.scalars(sa.select(ScoreFlag).where(ScoreFlag.state == FlagState.OPEN)).all()


def test_a_tie_on_price_and_technical_score_is_decided_by_a_recorded_verifiable_draw(app, factory):
    world, seats, chair = eh.to_scoring(app, factory, prices=(950, 950, 980))
    eh.score_everyone(world, seats)
    assert eh.api(world, chair, "POST", "/close").status_code == 200
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    result = json.loads(evaluation.result)
    tied = {world.bidders[0].user.organisation.credit_code, world.bidders[1].user.organisation.credit_code}
    assert set(result["draws"][0]["tied"]) == tied and [r["decided_by"] for r in result["order"]][1] == "draw"
    record = json.loads(evaluation.tie_draws)[0]
    committed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.tie_break_committed"))
    contributions = [c["contributor"] for c in record["contributions"]]
    assert len(contributions) == 3 * 5 + 5  # every member's three stages and sheet
    assert verify_record(record, committed.details["commitment"]).ok
    record["result"]["order"].reverse()
    assert not verify_record(record, committed.details["commitment"]).ok
