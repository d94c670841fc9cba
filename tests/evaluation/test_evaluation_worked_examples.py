"""rules.md §3's worked examples, reproduced to the cent through the evaluation room, its ranking and its report;
and the method library's refusals surfaced where the evaluation starts."""
from __future__ import annotations

import io
import json
import shutil

import pytest
import sqlalchemy as sa
from pdfminer.high_level import extract_text

from core.accounts import Role
from core.db import db
from evaluation.evaluation_models import Evaluation
from evaluation.scoring import METHODS_DIR
from tests.evaluation import evaluation_helpers as eh


def test_the_benchmark_example_end_to_end_920_950_980_1000_1050(app, factory):
    """A = 976.67 (920 and 1050 trimmed), K = 0.97 drawn at the opening → B = 947.37; a = 0.6, b = 0.3, Smax 60."""
    world, seats, chair = eh.to_scoring(app, factory)
    view = eh.state(world, chair)
    by_price = {b["id"]: b for b in view["bidders"]}
    prices = {str(b.price): str(b.id) for b in db.session.get(Evaluation, world.evaluation_id).bidders}
    scores = {price: view["computed"][bidder_id]["price"] for price, bidder_id in prices.items()}
    assert scores == {"920.00": 59.13, "950.00": 59.83, "980.00": 57.93, "1000.00": 56.67, "1050.00": 53.50}
    assert len(by_price) == 5
    eh.score_everyone(world, seats)   # every subjective item one step under its maximum: 22 technical points
    assert eh.api(world, chair, "POST", "/close").status_code == 200
    eh.sign_everyone(world, seats)
    assert world.agent_client.post(f"/api/v1/evaluations/{world.evaluation_id}/report").status_code == 200
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    data = json.loads(evaluation.report_data)
    assert (data["price"]["average"], data["price"]["k"], data["price"]["benchmark"]) == ("976.67", "0.9700", "947.37")
    assert [r["in_average"] for r in data["price"]["rows"]] == [False, True, True, True, False]
    totals = [(r["evaluated_price"], r["total"], r["rank"]) for r in data["ranking"]["order"]]
    # 22 technical + 9 management (一级 4, two projects 2, senior lead 3) + 3 credit (A) + the price score
    assert totals == [("950.00", "93.83", 1), ("920.00", "93.13", 2), ("980.00", "91.93", 3),
                      ("1000.00", "90.67", 4), ("1050.00", "87.50", 5)]
    assert len(data["ranking"]["candidates"]) == 3
    pdf = world.agent_client.get(f"/evaluations/{world.evaluation_id}/report.pdf").data
    text = extract_text(io.BytesIO(pdf))
    for figure in ("976.67", "947.37", "59.13", "59.83", "57.93", "56.67", "53.50", "93.83"):
        assert figure in text, figure


def test_the_mean_benchmark_variant_900_1000_1100_1300(app, factory):
    """B = the mean of all valid bids = 1075.00; 15 points at B, −0.2 per 1% above, −0.1 per 1% below, floor 10."""
    world, seats, chair = eh.to_scoring(app, factory, prices=(900, 1000, 1100, 1300),
                                        method="works_comprehensive_benchmark_mean", k=None)
    computed = eh.state(world, chair)["computed"]
    assert [row["price"] for row in computed.values()] == [13.37, 14.30, 14.53, 10.81]


def _library_with(tmp_path, edit) -> str:
    folder = tmp_path / "methods"
    shutil.copytree(METHODS_DIR, folder)
    path = folder / "gp_comprehensive_lowest_price_base.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(edit(text), encoding="utf-8")
    return str(folder)


def test_the_lowest_price_base_example_with_a_20_point_price_weight(app, factory, tmp_path, monkeypatch):
    """87号令第55条, a 2016 notice (PW = 20): 2,288,231.72 → 20.00; 2,296,472.00 → 19.93; … → 19.80. The library
    is configurable, so the section's method is the shipped one edited to the notice's weights."""
    def notice_weights(text: str) -> str:  # technical 60 (技术方案 up to 30), commercial 20, price 20
        return (text.replace('sector = "goods"', 'sector = "services"').replace("weight = 50", "weight = 60")
                .replace("weight = 30", "weight = 20").replace("max = 20\n", "max = 30\n", 1))

    folder = _library_with(tmp_path, notice_weights)
    monkeypatch.setitem(app.config, "EVALUATION_METHODS_DIR", folder)
    facts = {"not_dishonest_entity": True, "negative_deviations": 0, "similar_contracts": 1, "iso9001": True,
             "iso14001": False, "iso45001": False}
    world, seats, chair = eh.to_scoring(app, factory, prices=("2288231.72", "2296472.00", "2299360.00", "2311110.40"),
                                        method="gp_comprehensive_lowest_price_base", k=None, facts=facts,
                                        extra_form={"delivery_days": 30})
    computed = eh.state(world, chair)["computed"]
    assert [row["price"] for row in computed.values()] == [20.00, 19.93, 19.90, 19.80]


def test_the_lowest_evaluated_price_method_ranks_after_the_review_with_the_small_enterprise_deduction(app, factory):
    world = eh.build(app, factory, prices=("1000000.00", "1080000.00", "1050000.00"),
                     method="gp_lowest_evaluated_price", k=None, facts={"not_dishonest_entity": True},
                     extra_form={"delivery_days": 30})
    small = eh.state(world, world.members[next(iter(world.members))])["bidders"][1]["id"]
    assert world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{small}/facts", json={
        "facts": {"not_dishonest_entity": True}, "small_enterprise": True}).status_code == 200
    seats = eh.seat_everyone(world)
    chair = eh.elect(world, seats)
    eh.pass_every_stage(world, seats, chair)
    view = eh.state(world, chair)
    assert view["state"] == "signing"  # no scoring: the ranking follows the review
    order = [(r["evaluated_price"], r["rank"]) for r in view["result"]["order"]]
    assert order == [("972000.0000", 1), ("1000000.00", 2), ("1050000.00", 3)]


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace('formula = "lowest_price_base"', 'formula = "cheapest_wins"'), "unknown formula"),
    (lambda t: t.replace("weight = 50", "weight = 45"), "weights total 95, not 100"),
])
def test_a_broken_template_refuses_the_evaluation_with_the_loaders_reason(app, factory, tmp_path, monkeypatch,
                                                                         edit, problem):
    agent = factory.user(Role.AGENT)
    client = eh.login(app, factory, agent)
    section, bidders = eh.opened_section(factory, agent, (920, 950, 980), method="gp_comprehensive_lowest_price_base")
    world = eh.World(agent=agent, agent_client=client, section=section, bidders=bidders)
    eh.drawn_committee(world, factory)
    monkeypatch.setitem(app.config, "EVALUATION_METHODS_DIR", _library_with(tmp_path, edit))
    refused = client.post(f"/api/v1/sections/{section.id}/evaluation",
                          json={"representatives": [world.representative.user.id]})
    error = refused.get_json()["error"]
    assert refused.status_code == 409 and error["code"] == "method_invalid" and problem in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(Evaluation.id))) == 0
    template = (tmp_path / "methods" / "gp_comprehensive_lowest_price_base.toml").read_text(encoding="utf-8")
    checked = client.post("/api/v1/evaluation-methods/check", data=template.encode(),
                          headers={"Content-Type": "text/plain"})
    assert checked.status_code == 409 and problem in checked.get_json()["error"]["message"]
    shipped = (METHODS_DIR / "gp_comprehensive_lowest_price_base.toml").read_bytes()
    assert client.post("/api/v1/evaluation-methods/check", data=shipped,
                       headers={"Content-Type": "text/plain"}).get_json()["id"] == "gp_comprehensive_lowest_price_base"
