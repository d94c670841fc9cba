"""The expert pool: identity numbers never in clear, the specialty catalogue, the status machine, employment,
declared relations and the availability calendar, venues, and who may see the pool."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core.accounts import Role
from core.audit import AuditEvent
from core.db import db
from core.errors import InvalidTransition, ValidationError
from evaluation import expert_operations as ops
from evaluation.expert_identity import id_check_character, make_id_number, open_mobile, validate_id_number
from evaluation.experts import Expert
from evaluation.recusal import ExpertStatus
from evaluation.specialties import leaf_codes, specialties, specialty_name, validate_specialty, validate_title
from evaluation.venue_operations import create_venue
from tests.evaluation import draw_helpers as h


# -- identity numbers (GB 11643-1999) -----------------------------------------------------------------------------

def test_the_check_character_follows_gb_11643():
    assert id_check_character("11010519491231002") == "X"  # the standard's own example
    assert validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("number, message", [
    ("35090219750615123", "18位"),
    ("99090219750615123X", "省级行政区划"),
    ("35090219751315123X", "出生日期“19751315”无效"),
    ("350902202506151235", "年满18周岁"),
    ("350902197506151231", "校验位错误：应为“0”"),
])
def test_bad_identity_numbers_are_refused_naming_the_problem(number, message):
    with pytest.raises(ValidationError, match=message) as refused:
        validate_id_number(number)
    assert refused.value.field == "id_number"


def test_the_identity_number_and_phone_are_never_stored_in_clear(app):
    number = make_id_number("35090219750615123")
    expert = ops.create_expert(ops.ExpertInput(name="林建华", id_number=number, title="高级工程师", region_code="350902",
                                               specialties=["A0401", "B0105"], employer_name="宁德市交通规划设计院",
                                               employer_credit_code=h.employer_code(1), mobile="139 5030 1234"),
                               actor=None)
    db.session.commit()
    rows = [str(tuple(r)) for t in ("experts", "audit_events") for r in db.session.execute(sa.text(f"SELECT * FROM {t}"))]
    assert not any(number in row or "13950301234" in row for row in rows)
    assert expert.masked_id_number == "**************" + number[-4:] and expert.title == "senior_engineer"
    assert open_mobile(expert.mobile_sealed) == "13950301234"
    with pytest.raises(ValidationError, match="已在专家库中"):
        ops.create_expert(ops.ExpertInput(name="林建华", id_number=number, title="senior_engineer",
                                          region_code="350902", specialties=["A0401"]), actor=None)


# -- the catalogue --------------------------------------------------------------------------------------------------

def test_the_catalogue_covers_works_economics_goods_and_services_with_sub_codes():
    codes = specialties()
    assert {"A", "B", "C", "D"} <= set(codes) and len(leaf_codes()) > 100
    for group in ("A01", "A02", "A03", "A04", "A05", "B01", "C01"):  # works, municipal, water, transport, M&E, cost, IT
        assert any(code.startswith(group) and len(code) == 5 for code in codes), group
    assert specialty_name("A0401") == "交通运输工程/公路路基路面" and specialty_name("B01") == "工程造价"
    assert validate_specialty(" a04 ") == "A04"
    with pytest.raises(ValidationError, match="具体专业"):
        validate_specialty("A04", leaf=True)
    with pytest.raises(ValidationError, match="不在专业分类目录"):
        validate_specialty("Z9901")
    assert validate_title("正高级工程师") == "professor_engineer"


# -- status, employment, relations, availability --------------------------------------------------------------------

def test_status_changes_follow_the_machine_and_a_penalty_is_final(app, factory):
    supervisor = factory.user(Role.SUPERVISOR)
    expert = h.expert()
    ops.change_status(expert, "suspended", actor=supervisor, reason="无故缺席评标")
    ops.change_status(expert, "active", actor=supervisor, reason="暂停期满")
    with pytest.raises(ValidationError, match="原因"):
        ops.change_status(expert, "penalised", actor=supervisor, reason="")
    ops.change_status(expert, ExpertStatus.PENALISED, actor=supervisor, reason="闽建罚〔2026〕3号")
    with pytest.raises(InvalidTransition, match="已处罚"):
        ops.change_status(expert, "active", actor=supervisor, reason="申诉")
    db.session.commit()
    changes = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "expert.status_changed")).all()
    assert [c.details["current"] for c in changes] == ["suspended", "active", "penalised"]


def test_a_new_employer_moves_the_old_one_to_the_past_with_its_end_date(app, factory):
    admin = factory.user(Role.ADMIN)
    expert = h.expert()
    old = expert.employer_credit_code
    ops.change_employer(expert, actor=admin, employer_name="福州大学", credit_code=h.employer_code(42),
                        left_on=date(2025, 6, 30))
    assert expert.employer_name == "福州大学"
    assert [(p.credit_code, p.end) for p in expert.past_employments] == [(old, date(2025, 6, 30))]
    with pytest.raises(ValidationError, match="离职日期不能晚于今天"):
        ops.change_employer(expert, actor=admin, employer_name="甲", credit_code=h.employer_code(43),
                            left_on=date.today() + timedelta(days=3))


def test_an_expert_declares_relations_and_absences_on_their_own_page(app, client, factory):
    user = factory.user(Role.EXPERT)
    expert = h.expert(user=user)
    db.session.commit()
    factory.login(client, user)
    page = client.get("/me/expert").get_data(as_text=True)
    assert expert.code in page and expert.masked_id_number in page
    other = h.employer_code(77)
    client.post("/me/expert/relations", data={"organisation_name": "福建某建设公司", "credit_code": other,
                                              "kind": "relative_employed", "note": "胞弟任项目经理"})
    start = date.today() + timedelta(days=5)
    client.post("/me/expert/availability", data={"start": start.isoformat(), "end": (start - timedelta(days=1)).isoformat()})
    assert "结束日期不能早于开始日期" in client.get("/me/expert").get_data(as_text=True)
    client.post("/me/expert/availability", data={"start": start.isoformat(), "end": start.isoformat(), "reason": "出差"})
    db.session.expire_all()
    assert [r.credit_code for r in expert.relations] == [other]
    assert [(u.start, u.end) for u in expert.unavailability] == [(start, start)]
    client.post(f"/me/expert/availability/{expert.unavailability[0].id}/delete")
    db.session.expire_all()
    assert expert.unavailability == []
    stranger = factory.user(Role.EXPERT)
    other_client = client.application.test_client()
    factory.login(other_client, stranger)
    assert "尚未关联专家库档案" in other_client.get("/me/expert").get_data(as_text=True)


def test_venues_need_a_code_a_region_and_seats(app, factory):
    with pytest.raises(ValidationError, match="席位数应为1–200"):
        create_venue(code="NDGGZY-02", name="宁德评标室", region_code="350900", seats=0)
    with pytest.raises(ValidationError, match="行政区划"):
        create_venue(code="NDGGZY-02", name="宁德评标室", region_code="999999", seats=5)
    venue = create_venue(code="ndggzy-02", name="宁德评标室", region_code="350900", seats=5,
                         neighbour_regions="350100，350700 350900")
    assert venue.code == "NDGGZY-02" and venue.near_regions == ["350900", "350100", "350700"]


# -- who sees the pool ----------------------------------------------------------------------------------------------

def test_administrators_and_supervisors_browse_the_pool_and_others_do_not(app, client, factory):
    h.pool({("A0401", "350902"): 3, ("B0101", "350102"): 2})
    admin, supervisor, agent = factory.user(Role.ADMIN), factory.user(Role.SUPERVISOR), factory.user(Role.AGENT)
    factory.login(client, admin)
    page = client.get("/experts?specialty=B01").get_data(as_text=True)
    assert page.count("data-expert-row") == 2 and "共 2 人" in page
    assert "共 3 人" in client.get("/experts?region=350900").get_data(as_text=True)
    expert = db.session.scalar(sa.select(Expert).limit(1))
    assert expert.name in client.get(f"/experts/{expert.id}").get_data(as_text=True)
    headers = factory.token(client.application.test_client(), supervisor)
    listed = client.application.test_client().get("/api/v1/experts?specialty=A04", headers=headers).get_json()
    assert listed["total"] == 3 and all(e["id_number"].startswith("*" * 14) for e in listed["experts"])
    other = client.application.test_client()
    factory.login(other, agent)
    assert other.get("/experts").status_code == 403


def test_the_api_creates_an_expert_and_refuses_bad_fields(app, client, factory):
    headers = factory.token(client, factory.user(Role.ADMIN))
    body = {"name": "王海峰", "id_number": make_id_number("35010219700101003"), "title": "senior_economist",
            "region_code": "350102", "specialties": ["B0101"], "employer_name": "福建某造价咨询有限公司",
            "employer_credit_code": h.employer_code(9),
            "past_employments": [{"employer_name": "福州某建工集团", "credit_code": h.employer_code(10),
                                  "start": "2010-03-01", "end": "2019-12-31"}]}
    created = client.post("/api/v1/experts", json=body, headers=headers)
    assert created.status_code == 201 and created.get_json()["past_employments"][0]["end"] == "2019-12-31"
    assert body["id_number"] not in created.get_data(as_text=True)
    bad = client.post("/api/v1/experts", json=body | {"id_number": body["id_number"][:-1] + "0",
                                                      "specialties": ["A04"]}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "id_number"
    bad_date = body | {"id_number": make_id_number("35010219700101004"),
                       "past_employments": [{"employer_name": "甲", "credit_code": h.employer_code(11), "end": "2019-13-01"}]}
    refused = client.post("/api/v1/experts", json=bad_date, headers=headers).get_json()["error"]
    assert refused["field"] == "past_employments[0].end" and "2019-13-01" in refused["message"]


def test_the_demo_command_generates_a_realistic_pool(runner):
    """``flask --app wsgi demo experts --count N``: N experts with valid codes, regions, titles and employers,
    stored as the pool stores any expert (identity numbers only as a hash and the last four digits)."""
    from core.validators import validate_credit_code, validate_region

    result = runner.invoke(args=["demo", "experts", "--count", "300", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "300 experts added to the pool" in result.output
    experts = db.session.scalars(sa.select(Expert)).all()
    assert len(experts) == 300 and len({e.code for e in experts}) == 300
    assert len({e.id_number_hash for e in experts}) == 300 and all(len(e.id_number_last4) == 4 for e in experts)
    for expert in experts:
        validate_region(expert.region_code)
        validate_title(expert.title)
        assert expert.specialties and all(validate_specialty(s.code) for s in expert.specialties)
        if expert.employer_credit_code:
            validate_credit_code(expert.employer_credit_code)
        for past in expert.past_employments:
            validate_credit_code(past.credit_code)
            assert past.start is None or past.start <= past.end
    assert sum(1 for e in experts if e.past_employments) > 30  # employment histories, for the 3-year recusal
    assert len({e.region_code[:4] for e in experts}) > 3  # spread over several cities
