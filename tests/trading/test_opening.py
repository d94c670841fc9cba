"""The online opening, end to end and on every failure path (rules.md §1, Art 29–32)."""
import io
import json

import pytest
import sqlalchemy as sa
from pdfminer.high_level import extract_text

from core.accounts import Role
from core.db import db
from crypto import draw as drawing
from crypto import certificates as x509ca
from crypto.signing import verify_document
from tests.trading.opening_helpers import at_deadline, build_world, content_key, share_of, sign_in
from trading.models import SectionState
from trading.opening import Opening


@pytest.fixture()
def world(client, factory):
    return build_world(client, factory, bidders=3)


def test_the_hall_opens_only_at_the_deadline(client, world):
    early = client.get(f"/api/v1/sections/{world.section.id}/opening", headers=world.agent_headers)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "hall_not_open"


def test_the_whole_ceremony(client, world, monkeypatch):
    section_id = world.section.id
    at_deadline(monkeypatch, world.section)
    a, b, c = world.bidders
    agent = world.agent_headers
    # sign-in by certificate challenge; a replayed challenge is refused
    response, body = sign_in(client, section_id, a)
    assert response.status_code == 200, response.get_json()
    replay = client.post(f"/api/v1/sections/{section_id}/opening/sign-in", json=body, headers=a.holder.headers)
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "challenge_replayed"
    assert sign_in(client, section_id, b)[0].status_code == 200
    # before the read-out a bidder sees only its own bid
    view = client.get(f"/api/v1/sections/{section_id}/opening", headers=a.holder.headers).get_json()
    text = json.dumps(view, ensure_ascii=False)
    assert "bids" not in view and b.user.organisation.name not in text and c.user.organisation.name not in text
    assert view["my_bid"]["bidder"] == a.user.organisation.name
    # the host starts; K's secret is committed now
    started = client.post(f"/api/v1/sections/{section_id}/opening/start", headers=agent).get_json()
    assert started["state"] == "decrypting" and started["k_commitment"]
    # a decrypts; a second decryption is refused; b's key does not open c's bid
    assert client.post(f"/api/v1/bids/{a.bid_id}/decrypt", json={"content_key": content_key(a)},
                       headers=a.holder.headers).get_json()["state"] == "decrypted"
    again = client.post(f"/api/v1/bids/{a.bid_id}/decrypt", json={"content_key": content_key(a)}, headers=a.holder.headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decrypted"
    assert client.post(f"/api/v1/bids/{b.bid_id}/decrypt", json={"content_key": content_key(b)},
                       headers=b.holder.headers).status_code == 200
    wrong = client.post(f"/api/v1/bids/{c.bid_id}/decrypt", json={"content_key": content_key(b)}, headers=c.holder.headers)
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "wrong_key"
    # c cannot decrypt (its CA lock broke); a share before the ruling is refused
    assert client.post(f"/api/v1/bids/{c.bid_id}/decryption-failure", json={"reason": "CA锁损坏"},
                       headers=c.holder.headers).status_code == 200
    early_share = client.post(f"/api/v1/bids/{c.bid_id}/shares", json=share_of(client, world.officers[1], c.bid_id),
                              headers=world.officers[1].holder.headers)
    assert early_share.status_code == 409 and early_share.get_json()["error"]["code"] == "no_platform_ruling"
    no_reason = client.post(f"/api/v1/bids/{c.bid_id}/ruling", json={"ruling": "platform", "reason": ""}, headers=agent)
    assert no_reason.status_code == 422
    assert client.post(f"/api/v1/bids/{c.bid_id}/ruling", json={"ruling": "platform", "reason": "平台证书服务故障"},
                       headers=agent).get_json()["fault"] == "platform"
    back = client.post(f"/api/v1/bids/{c.bid_id}/ruling", json={"ruling": "bidder", "reason": "改判"}, headers=agent)
    assert back.status_code == 409  # PLATFORM is never corrected to BIDDER
    # a non-officer's share is refused; two officers' shares open the bid
    outsider = world.bidders[0]
    refused = client.post(f"/api/v1/bids/{c.bid_id}/shares", json={"x": 1, "y": "00" * 32}, headers=outsider.holder.headers)
    assert refused.status_code == 403
    for officer in world.officers[1:]:
        released = client.post(f"/api/v1/bids/{c.bid_id}/shares", json=share_of(client, officer, c.bid_id),
                               headers=officer.holder.headers)
        assert released.status_code == 200, released.get_json()
    assert released.get_json() == {"bid": c.bid_id, "state": "decrypted", "escrow": True}
    # the read-out shows everyone's price form and K
    state = client.post(f"/api/v1/sections/{section_id}/opening/read-out", headers=agent).get_json()
    prices = {row["bidder"]: row["price_form"]["total_price"] for row in state["read_out"]["rows"]}
    assert prices == {a.user.organisation.name: "8650000.00", b.user.organisation.name: "8720000.00",
                      c.user.organisation.name: "8810000.00"}
    assert state["k_coefficient"] in drawing.decimal_range("0.95", "0.98", "0.01")
    opening = db.session.scalar(sa.select(Opening))
    record = json.loads(opening.k_record)
    report = drawing.verify_record(record, published_commitment=record["commitment"])
    assert report.ok, report.mismatch
    # now every bidder sees the whole hall
    assert c.user.organisation.name in json.dumps(client.get(f"/api/v1/sections/{section_id}/opening",
                                                             headers=a.holder.headers).get_json(), ensure_ascii=False)
    # an objection on the spot, answered; confirmations; close with the signed record
    objection = client.post(f"/api/v1/sections/{section_id}/opening/objections",
                            json={"text": "唱标价格与报价不符"}, headers=b.holder.headers).get_json()["objection"]
    blocked = client.post(f"/api/v1/sections/{section_id}/opening/close", headers=agent)
    assert blocked.status_code == 409 and blocked.get_json()["error"]["code"] == "objections_open"
    client.post(f"/api/v1/objections/{objection}/answer", json={"answer": "经核对签名的开标一览表，报价为8720000.00元，唱标无误。"},
                headers=agent)
    for party in (a, b):
        assert client.post(f"/api/v1/sections/{section_id}/opening/confirm", headers=party.holder.headers).status_code == 200
    closed = client.post(f"/api/v1/sections/{section_id}/opening/close", headers=agent).get_json()
    assert closed["state"] == "closed" and closed["record"]["digest"]
    pdf = client.get(f"/api/v1/sections/{section_id}/opening/record.pdf", headers=a.holder.headers).data
    text = extract_text(io.BytesIO(pdf))
    for needle in ("开 标 记 录", a.user.organisation.name, "8810000.00", "托管密钥开启", "平台证书服务故障",
                   "唱标价格与报价不符", "唱标无误"):
        assert needle in text, needle
    assert text.count(closed["record"]["digest"]) >= 1
    signature = client.get(f"/api/v1/sections/{section_id}/opening/record-signature", headers=a.holder.headers).get_json()
    platform = x509ca.load_certificate(client.get("/api/v1/platform/certificates").get_json()["signing"].encode())
    payload = verify_document(signature, platform)
    import hashlib

    assert payload["pdf_sha256"] == hashlib.sha256(pdf).hexdigest() and payload["record_digest"] == closed["record"]["digest"]
    db.session.expire_all()
    assert world.section.state is SectionState.EVALUATION


def test_too_few_bids_fail_the_tender(client, factory, monkeypatch):
    world = build_world(client, factory, bidders=2)
    at_deadline(monkeypatch, world.section)
    state = client.post(f"/api/v1/sections/{world.section.id}/opening/start", headers=world.agent_headers).get_json()
    assert state["state"] == "failed" and "少于3个" in state["failure_reason"]
    db.session.expire_all()
    assert world.section.state is SectionState.FAILED


def test_rulings_follow_art_31(client, world, monkeypatch):
    section_id, agent = world.section.id, world.agent_headers
    at_deadline(monkeypatch, world.section)
    client.post(f"/api/v1/sections/{section_id}/opening/start", headers=agent)
    a, b, c = world.bidders
    client.post(f"/api/v1/bids/{a.bid_id}/decryption-failure", json={"reason": "忘记口令"}, headers=a.holder.headers)
    reset = client.post(f"/api/v1/bids/{a.bid_id}/ruling", json={"ruling": "reset", "reason": "允许重试"}, headers=agent)
    assert reset.get_json()["state"] == "pending"
    client.post(f"/api/v1/bids/{a.bid_id}/decryption-failure", json={"reason": "仍然失败"}, headers=a.holder.headers)
    assert client.post(f"/api/v1/bids/{a.bid_id}/ruling", json={"ruling": "bidder", "reason": "投标人遗失私钥"},
                       headers=agent).get_json()["fault"] == "bidder"
    # BIDDER may be corrected to PLATFORM
    assert client.post(f"/api/v1/bids/{a.bid_id}/ruling", json={"ruling": "platform", "reason": "复核为平台原因"},
                       headers=agent).get_json()["fault"] == "platform"
    # the window closes with c still pending: it must be ruled before the read-out
    at_deadline(monkeypatch, world.section, seconds=31 * 60)
    client.post(f"/api/v1/bids/{b.bid_id}/decrypt", json={"content_key": content_key(b)}, headers=b.holder.headers)
    waiting = client.post(f"/api/v1/sections/{section_id}/opening/read-out", headers=agent)
    assert waiting.status_code == 409 and waiting.get_json()["error"]["code"] == "awaiting_ruling"
    too_late = client.post(f"/api/v1/bids/{c.bid_id}/ruling", json={"ruling": "reset", "reason": "重试"}, headers=agent)
    assert too_late.status_code == 409 and too_late.get_json()["error"]["code"] == "window_closed"
    client.post(f"/api/v1/bids/{c.bid_id}/ruling", json={"ruling": "bidder", "reason": "时限内未解密"}, headers=agent)
    client.post(f"/api/v1/bids/{b.bid_id}/ruling", json={"ruling": "bidder", "reason": "时限内未解密"}, headers=agent)
    state = client.post(f"/api/v1/sections/{section_id}/opening/read-out", headers=agent).get_json()
    outcomes = sorted(row["outcome"] for row in state["read_out"]["rows"])
    assert outcomes == ["revoked", "revoked", "withdrawn"]


def test_only_bidders_with_a_bid_sign_in(client, world, factory, monkeypatch):
    at_deadline(monkeypatch, world.section)
    stranger = factory.user(Role.BIDDER)
    from tests.pki_helpers import enrol

    holder = enrol(client, factory.token(client, stranger))
    refused = client.post(f"/api/v1/sections/{world.section.id}/opening/challenge", headers=holder.headers)
    assert refused.status_code == 403
    agent_sign_in = client.post(f"/api/v1/sections/{world.section.id}/opening/sign-in", json={}, headers=world.agent_headers)
    assert agent_sign_in.status_code == 403




def test_decryptions_at_the_same_moment_each_open_once_and_all_count(client, world, monkeypatch, live_server, release):
    """Bids are decrypted with no transaction open, so decryptions overlap; the bid's lock still opens each bid
    once, and every opened price form reaches K's entropy (no update lost between two decryptions)."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    section_id = world.section.id
    at_deadline(monkeypatch, world.section)
    a, b, _c = world.bidders
    for party in (a, b):
        assert sign_in(client, section_id, party)[0].status_code == 200
    assert client.post(f"/api/v1/sections/{section_id}/opening/start", headers=world.agent_headers).status_code == 200
    calls = [(a, content_key(a)), (a, content_key(a)), (b, content_key(b))]
    opening_id = db.session.scalar(sa.select(Opening.id).where(Opening.section_id == section_id))
    release()

    def send(call):
        party, key = call
        return party.bid_id, requests.post(f"{live_server}/api/v1/bids/{party.bid_id}/decrypt",
                                           json={"content_key": key}, headers=party.holder.headers, timeout=60)

    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(send, calls))
    of_a = sorted(r.status_code for bid, r in replies if bid == a.bid_id)
    assert of_a == [200, 409], [r.json() for _bid, r in replies]
    assert next(r for bid, r in replies if bid == a.bid_id and r.status_code == 409).json()["error"]["code"] == \
        "already_decrypted"
    assert next(r for bid, r in replies if bid == b.bid_id).json()["state"] == "decrypted"
    opening = db.session.get(Opening, opening_id)
    contributors = [e["contributor"] for e in json.loads(opening.k_contributions)]
    assert sorted(contributors) == sorted([f"bid:{a.bid_id}", f"bid:{b.bid_id}"])
