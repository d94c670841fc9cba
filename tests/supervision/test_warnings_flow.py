"""The warning engine: the supervision points judged with the Chinese working-day calendar, warnings raised on
every state change and by the periodic job, annotated and closed with a reason (rules.md §5)."""
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core import clock
from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from supervision import warnings as engine
from supervision.clocks import Light
from supervision.models import SupervisionWarning, WarningLight, WarningState
from supervision.points import (
    ClarificationFact,
    ComplaintFact,
    Judge,
    SectionFacts,
    evaluate,
)
from trading import operations as trading

BJ = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BJ).astimezone(UTC)


def facts(**changes) -> SectionFacts:
    base = dict(project_id=1, section_id=1, project_state="published", section_state="bidding", method="open",
                notice_at=at("2026-10-12 09:00"), issue_start=at("2026-10-12 09:00"), issue_end=at("2026-10-19 17:00"),
                deadline=at("2026-11-06 09:30"), bid_validity_days=90, evaluation_method="works_reviewed_lowest_bid_price",
                published_at=at("2026-10-12 08:00"), bids=0)
    base.update(changes)
    return SectionFacts(**base)


def light_of(result_list, point):
    return next((r for r in result_list if r.point == point), None)


def test_a_sound_tender_is_green_at_every_point_that_applies():
    judged = evaluate(facts(), Judge(at("2026-10-20 10:00")))
    assert {r.point for r in judged} == {"registration", "bid_preparation", "document_issue"}
    assert all(r.light is Light.GREEN for r in judged)


def test_schedule_gates_are_red_when_broken():
    short = facts(deadline=at("2026-10-30 09:30"), issue_end=at("2026-10-15 17:00"))
    judged = evaluate(short, Judge(at("2026-10-13 10:00")))
    assert light_of(judged, "bid_preparation").light is Light.RED  # 18 days < 20
    assert light_of(judged, "document_issue").light is Light.RED   # 3 days < 5


def test_candidate_publicity_turns_yellow_then_red_by_calendar_days():
    # report received Monday 16 November 2026: publicity due within 3 days, by Thursday the 19th
    f = facts(section_state="evaluation", bids=3, opening_state="closed", opening_closed_at=at("2026-11-06 10:30"),
              report_at=at("2026-11-16 10:00"))
    for moment, light in (("2026-11-17 09:00", Light.GREEN), ("2026-11-18 09:00", Light.YELLOW),
                          ("2026-11-19 23:00", Light.YELLOW), ("2026-11-20 09:00", Light.RED)):
        assert light_of(evaluate(f, Judge(at(moment))), "candidate_publicity").light is light, moment
    f.publicity_started_at, f.publicity_ends_at = at("2026-11-17 09:00"), at("2026-11-21 00:00")
    assert light_of(evaluate(f, Judge(at("2026-11-20 09:00"))), "candidate_publicity").light is Light.GREEN
    f.publicity_ends_at = at("2026-11-19 09:00")  # only 2 days
    assert light_of(evaluate(f, Judge(at("2026-11-18 09:00"))), "candidate_publicity").light is Light.RED


def test_working_day_clocks_skip_the_national_day_holiday_and_count_the_make_up_saturday():
    # filed Wednesday 30 September 2026; 1–7 October are holidays, Saturday 10 October is a working day:
    # 3 working days end on 10 October (实施条例第61条)
    f = facts(complaints=[ComplaintFact(at("2026-09-30 15:00"), None, None, "filed")])
    result = light_of(evaluate(f, Judge(at("2026-10-08 10:00"))), "complaint")
    assert result.due == "2026-10-10" and result.light is Light.GREEN
    assert light_of(evaluate(f, Judge(at("2026-10-09 10:00"))), "complaint").light is Light.YELLOW
    assert light_of(evaluate(f, Judge(at("2026-10-11 10:00"))), "complaint").light is Light.RED
    two = Judge(at("2026-10-08 10:00"), thresholds=engine.WarningThresholds(2))
    assert light_of(evaluate(f, two), "complaint").light is Light.YELLOW  # the threshold is configurable


def test_late_clarification_is_red_unless_the_reason_is_recorded():
    late = ClarificationFact(1, at("2026-10-30 10:00"), at("2026-11-06 09:30"), "not_late")
    assert light_of(evaluate(facts(clarifications=[late]), Judge(at("2026-10-30 11:00"))), "clarification").light \
        is Light.RED
    reasoned = ClarificationFact(1, at("2026-10-30 10:00"), at("2026-11-06 09:30"), "no_effect")
    result = light_of(evaluate(facts(clarifications=[reasoned]), Judge(at("2026-10-30 11:00"))), "clarification")
    assert result.light is Light.GREEN and "理由" in result.reason_zh


def test_too_few_bids_and_an_unreleased_security():
    f = facts(bids=2)
    assert light_of(evaluate(f, Judge(at("2026-11-06 09:31"))), "deadline").light is Light.RED
    assert light_of(evaluate(f, Judge(at("2026-11-06 09:29"))), "deadline") is None
    signed = facts(section_state="contracted", contract_signed_at=at("2026-12-01 10:00"), securities_held=1)
    # 5 days from Tuesday 1 December end on Sunday the 6th, so on Monday the 7th (民法典第203条)
    due = light_of(evaluate(signed, Judge(at("2026-12-07 10:00"))), "bond_release")
    assert due.due == "2026-12-07" and due.light is Light.YELLOW
    assert light_of(evaluate(signed, Judge(at("2026-12-08 10:00"))), "bond_release").light is Light.RED
    signed.securities_held, signed.securities_released_at = 0, at("2026-12-02 10:00")
    assert light_of(evaluate(signed, Judge(at("2026-12-08 10:00"))), "bond_release").light is Light.GREEN


def test_the_accelerator_compresses_every_clock():
    report = at("2026-11-16 10:00")
    f = facts(section_state="evaluation", report_at=report)
    fast = 1440  # a day becomes a minute
    assert light_of(evaluate(f, Judge(report + timedelta(seconds=90), accelerator=fast)), "candidate_publicity").light \
        is Light.GREEN
    assert light_of(evaluate(f, Judge(report + timedelta(seconds=150), accelerator=fast)), "candidate_publicity").light \
        is Light.YELLOW
    assert light_of(evaluate(f, Judge(report + timedelta(seconds=200), accelerator=fast)), "candidate_publicity").light \
        is Light.RED


def _open(point: str):
    return db.session.scalar(sa.select(SupervisionWarning).where(SupervisionWarning.point == point,
                                                                 SupervisionWarning.state == WarningState.OPEN))


def test_warnings_follow_every_change_and_the_periodic_job(app, client, factory, runner):
    project = factory.project(publish=False)  # the notice is due today and not out: the commit raises a warning
    warning = _open("registration")
    assert warning is not None and warning.light is WarningLight.YELLOW and warning.section_id == project.sections[0].id
    summary = engine.run(None, clock.now() + timedelta(days=2))
    db.session.commit()
    assert summary.changed == 1 and warning.light is WarningLight.RED and warning.escalated_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "supervision.warnings_evaluated")
                              .order_by(AuditEvent.seq.desc()))
    assert event.details["changes"][0]["to"] == "red"
    supervisor = factory.user(Role.SUPERVISOR)
    headers = factory.token(client, supervisor)
    listed = client.get("/api/v1/supervision/warnings?light=red", headers=headers).get_json()["warnings"]
    assert [w["id"] for w in listed] == [warning.id]
    assert client.get("/api/v1/supervision/warnings", headers=factory.token(client, factory.user(Role.BIDDER))) \
        .status_code == 403
    noted = client.post(f"/api/v1/supervision/warnings/{warning.id}/notes", json={"text": "已电话督促代理机构"},
                        headers=headers)
    assert noted.get_json()["notes"][0]["text"] == "已电话督促代理机构"
    refused = client.post(f"/api/v1/supervision/warnings/{warning.id}/close", json={"reason": "  "}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "reason"
    assert _open("registration") is not None
    closed = client.post(f"/api/v1/supervision/warnings/{warning.id}/close", json={"reason": "项目暂缓，待财政资金到位"},
                         headers=headers)
    assert closed.get_json()["state"] == "closed"
    engine.run(None, clock.now() + timedelta(days=2))
    db.session.commit()
    assert _open("registration") is None  # the same finding, closed by a supervisor, is not raised again
    # published on its day after all: the point is green and nothing is raised
    trading.publish(project)
    db.session.commit()
    assert _open("registration") is None
    result = runner.invoke(args=["supervision", "evaluate"])
    assert result.exit_code == 0 and "sections judged" in result.output


def test_a_warning_clears_when_its_point_turns_green(app, factory):
    project = factory.project(publish=False)
    assert _open("registration") is not None
    trading.publish(project)
    db.session.commit()
    assert _open("registration") is None
    cleared = db.session.scalar(sa.select(SupervisionWarning).where(SupervisionWarning.point == "registration"))
    assert cleared.state is WarningState.CLEARED and cleared.ended_at is not None


def test_the_supervisor_pages_drill_down(app, factory):
    project = factory.project(publish=False)
    warning = _open("registration")
    page = app.test_client()
    factory.login(page, factory.user(Role.SUPERVISOR))
    board = page.get("/supervision").get_data(as_text=True)
    assert f'data-warning="{warning.id}"' in board and project.name in board
    detail = page.get(f"/supervision/sections/{warning.section_id}").get_data(as_text=True)
    assert 'data-point="registration"' in detail and "招标公告按计划发布" in detail
    refused = page.post(f"/supervision/warnings/{warning.id}/close", data={"reason": ""}, follow_redirects=True)
    assert "关闭预警须填写理由" in refused.get_data(as_text=True)
    done = page.post(f"/supervision/warnings/{warning.id}/close", data={"reason": "已核实"}, follow_redirects=True)
    assert 'data-close-reason' in done.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_the_dashboards_draw_their_charts(app, factory, role):
    factory.project(publish=False)
    page = app.test_client()
    factory.login(page, factory.user(role))
    html = page.get("/supervision/dashboards").get_data(as_text=True)
    for chart in ("chart-stages", "chart-warnings", "chart-savings", "chart-guarantees", "chart-experts"):
        assert f'id="{chart}"' in html, chart
    assert "<svg" in html and "草稿" in html
