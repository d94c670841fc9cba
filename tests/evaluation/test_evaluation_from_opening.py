"""From the real opening ceremony to the evaluation: sealed bids decrypted in the hall, K drawn there, the
committee drawn; the room reads the opened packages, the read-out prices and K."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

from core.clock import now
from core.db import db
from evaluation.evaluation_models import Evaluation
from evaluation.scoring import BidderFacts, SectionFacts, compute_scores, load_methods
from tests.evaluation import evaluation_helpers as eh
from tests.trading.opening_helpers import PRICES, at_deadline, build_world, content_key
from trading.opening import Opening


def test_the_evaluation_reads_the_bids_opened_in_the_hall(app, client, factory, monkeypatch):
    hall = build_world(client, factory, bidders=3)
    section = hall.section
    at_deadline(monkeypatch, section)
    agent = hall.agent_headers
    assert client.post(f"/api/v1/sections/{section.id}/opening/start", headers=agent).status_code == 200
    for party in hall.bidders:
        decrypted = client.post(f"/api/v1/bids/{party.bid_id}/decrypt", json={"content_key": content_key(party)},
                                headers=party.holder.headers)
        assert decrypted.get_json()["state"] == "decrypted"
    assert client.post(f"/api/v1/sections/{section.id}/opening/read-out", headers=agent).status_code == 200
    assert client.post(f"/api/v1/sections/{section.id}/opening/close", headers=agent).status_code == 200
    section.deadline = now() - timedelta(minutes=1)  # the draw's clock: the deadline has passed
    db.session.commit()
    k = db.session.query(Opening).one().k_coefficient

    world = eh.World(agent=hall.agent, agent_client=eh.login(app, factory, hall.agent), section=section,
                     bidders=hall.bidders, app=app, factory=factory)
    eh.drawn_committee(world, factory)
    opened = world.agent_client.post(f"/api/v1/sections/{section.id}/evaluation",
                                     json={"representatives": [world.representative.user.id]})
    assert opened.status_code == 201, opened.get_json()
    world.evaluation_id = opened.get_json()["id"]
    view = world.agent_client.get(f"/api/v1/evaluations/{world.evaluation_id}").get_json()
    for bidder in view["bidders"]:
        world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{bidder['id']}/facts",
                               json={"facts": eh.FACTS})
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    assert [str(b.price) for b in evaluation.bidders] == PRICES[:3]
    by_user = {x.user.id: x for x in world.experts + [world.representative]}
    for m in evaluation.members:
        by_user[m.user_id].client = eh.login(app, factory, by_user[m.user_id].user)
        world.members[m.user_id] = by_user[m.user_id]
    seats = eh.seat_everyone(world)
    # the decrypted package's technical module, straight from the hall's storage
    bidder = view["bidders"][0]
    text = seats[0].client.get(f"/evaluations/{world.evaluation_id}/bids/{bidder['id']}/technical/{quote('技术标.txt')}")
    assert text.status_code == 200 and "施工组织设计：项目经理0" in text.get_data(as_text=True)
    chair = eh.elect(world, seats)
    eh.pass_every_stage(world, seats, chair)
    computed = eh.state(world, chair)["computed"]
    method = load_methods()["works_comprehensive_benchmark"]
    facts = [BidderFacts(str(i), Decimal(p), price_form={"duration_days": 365}, facts=eh.FACTS)
             for i, p in enumerate(PRICES[:3])]
    expected = compute_scores(method, facts, SectionFacts(ceiling_price=section.ceiling_price, k_coefficient=k),
                              range(3))
    assert [row["price"] for row in computed.values()] == [float(r.score) for r in expected.price_table.rows]
