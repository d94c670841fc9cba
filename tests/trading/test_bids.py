"""Sealed bids: certificates, chunked resumable upload, signed receipts, the deadline, bad input."""
import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.accounts import Role
from core.clock import now
from core.db import db
from crypto import certificates as x509ca
from crypto import envelope
from crypto.signing import verify_document
from tests.pki_helpers import enrol, seal_bid, upload
from trading import clock_source
from trading.bids import Bid, BidState, BidUpload, UploadState

BID_TEXT = "技术标：本项目施工组织设计……".encode() * 8000


@pytest.fixture()
def hall(app, client, factory):
    """A published section with three opening officers (threshold 2) and two enrolled bidders."""
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    officers = [agent, factory.user(Role.SUPERVISOR), factory.user(Role.ADMIN)]
    for officer in officers:
        enrol(client, factory.token(client, officer), for_organisation=False, name=officer.username)
    agent_headers = factory.token(client, agent)
    assert client.put(f"/api/v1/sections/{section.id}/officers", headers=agent_headers,
                      json={"user_ids": [o.id for o in officers], "threshold": 2}).status_code == 200
    bidders = []
    for _ in range(2):
        user = factory.user(Role.BIDDER)
        bidders.append((user, enrol(client, factory.token(client, user))))
    return section, bidders


def test_a_sealed_bid_uploads_and_gets_a_signed_receipt_that_verifies_offline(client, hall):
    section, [(user, bidder), _] = hall
    data = seal_bid(client, bidder, section.id, BID_TEXT)
    _upload_id, response = upload(client, bidder.headers, section.id, data)
    assert response.status_code == 201, response.get_json()
    receipt = response.get_json()["receipts"][0]["document"]
    platform = client.get("/api/v1/platform/certificates").get_json()
    payload = verify_document(receipt, x509ca.load_certificate(platform["signing"].encode()))
    assert payload["kind"] == "submitted" and payload["size"] == len(data) and payload["section"] == section.code
    assert payload["bidder"] == user.organisation.credit_code and payload["sequence"] >= 1
    x509ca.verify_certificate(x509ca.load_certificate(platform["signing"].encode()),
                              x509ca.load_certificate(platform["ca"].encode()), revoked_serials=set(),
                              at=now(), purpose=x509ca.Purpose.SIGNING)
    tampered = dict(receipt, payload=dict(receipt["payload"], size=1)) if "payload" in receipt else None
    if tampered:
        with pytest.raises(Exception):
            verify_document(tampered, x509ca.load_certificate(platform["signing"].encode()))
    stored = db.session.scalar(sa.select(Bid))
    assert stored.state is BidState.SUBMITTED
    assert Path(client.application.config["STORAGE_DIR"], stored.storage_key).read_bytes() == data


def test_an_interrupted_upload_resumes_from_the_servers_offset(client, hall):
    section, [(_user, bidder), _] = hall
    data = seal_bid(client, bidder, section.id, BID_TEXT)
    upload_id, _ = upload(client, bidder.headers, section.id, data[: len(data) * 6 // 10], finalise=False,
                          size=len(data))
    # the connection dropped; the client asks where the server stands and carries on from there
    status = client.get(f"/api/v1/uploads/{upload_id}", headers=bidder.headers).get_json()
    assert status["offset"] == len(data) * 6 // 10 and status["state"] == "open"
    for offset in range(status["offset"], len(data), 70_000):
        ok = client.put(f"/api/v1/uploads/{upload_id}/chunks?offset={offset}", data=data[offset:offset + 70_000],
                        headers=bidder.headers)
        assert ok.status_code == 200, ok.get_json()
    # a duplicate chunk is refused and names the offset the server expects
    duplicate = client.put(f"/api/v1/uploads/{upload_id}/chunks?offset=0", data=data[:10], headers=bidder.headers)
    assert duplicate.status_code == 409 and str(len(data)) in duplicate.get_json()["error"]["message"]
    assert client.post(f"/api/v1/uploads/{upload_id}/finalise", headers=bidder.headers).status_code == 201


def test_resuming_after_a_server_restart_rebuilds_the_check_from_the_part_file(client, hall):
    from trading import bid_operations

    section, [(_user, bidder), _] = hall
    data = seal_bid(client, bidder, section.id, BID_TEXT)
    upload_id, _ = upload(client, bidder.headers, section.id, data[:150_000], finalise=False, size=len(data))
    bid_operations._verifiers.clear()  # what a killed server process loses
    offset = client.get(f"/api/v1/uploads/{upload_id}", headers=bidder.headers).get_json()["offset"]
    assert client.put(f"/api/v1/uploads/{upload_id}/chunks?offset={offset}", data=data[offset:],
                      headers=bidder.headers).status_code == 200
    assert client.post(f"/api/v1/uploads/{upload_id}/finalise", headers=bidder.headers).status_code == 201


def test_replace_and_withdraw_before_the_deadline_each_get_a_receipt(client, hall):
    section, [(_user, bidder), _] = hall
    first = upload(client, bidder.headers, section.id, seal_bid(client, bidder, section.id, BID_TEXT))[1].get_json()
    second = upload(client, bidder.headers, section.id, seal_bid(client, bidder, section.id, BID_TEXT + b"v2"))[1]
    assert second.get_json()["receipts"][0]["document"]["payload"]["kind"] == "replaced"
    db.session.expire_all()
    assert db.session.get(Bid, first["id"]).state is BidState.REPLACED
    withdrawn = client.post(f"/api/v1/bids/{second.get_json()['id']}/withdraw", headers=bidder.headers)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["kind"] == "withdrawn"
    sequences = [r["sequence"] for b in client.get(f"/api/v1/sections/{section.id}/my-bids",
                                                  headers=bidder.headers).get_json()["bids"] for r in b["receipts"]]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3


def test_the_server_clock_decides_the_deadline_to_the_millisecond(client, hall, monkeypatch):
    section, [(_user, bidder), (_u2, other)] = hall
    deadline = section.deadline
    monkeypatch.setattr(clock_source, "now", lambda: deadline - timedelta(milliseconds=1))
    _id, response = upload(client, bidder.headers, section.id, seal_bid(client, bidder, section.id, BID_TEXT))
    assert response.status_code == 201
    data = seal_bid(client, other, section.id, BID_TEXT)
    upload_id, _ = upload(client, other.headers, section.id, data, finalise=False)
    monkeypatch.setattr(clock_source, "now", lambda: deadline)
    late = client.post(f"/api/v1/uploads/{upload_id}/finalise", headers=other.headers)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "deadline_passed"
    refused = client.post(f"/api/v1/sections/{section.id}/uploads", json={"size": 10}, headers=other.headers)
    assert refused.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Bid.id))) == 1


@pytest.mark.parametrize("damage, code", [
    ("truncate", "envelope_truncated"),
    ("flip_header", "envelope_header_tampered"),
    ("flip_body", None),
])
def test_a_damaged_envelope_is_refused_by_name_and_a_stored_bid_stays_whole(client, hall, damage, code):
    section, [(_user, bidder), _] = hall
    good = seal_bid(client, bidder, section.id, BID_TEXT)
    _id, ok = upload(client, bidder.headers, section.id, good)
    assert ok.status_code == 201
    data = bytearray(seal_bid(client, bidder, section.id, BID_TEXT + b"second"))
    if damage == "truncate":
        data = data[:-100]
    elif damage == "flip_header":
        data[40] ^= 1
    else:
        data[len(data) // 2] ^= 1
    upload_id, response = upload(client, bidder.headers, section.id, bytes(data))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["message"] and (code is None or error["code"].startswith(code[:15]))
    assert db.session.get(BidUpload, upload_id).state is UploadState.REJECTED
    stored = db.session.scalars(sa.select(Bid).where(Bid.state == BidState.SUBMITTED)).all()
    assert len(stored) == 1 and Path(client.application.config["STORAGE_DIR"], stored[0].storage_key).read_bytes() == good


def test_a_bid_sealed_for_another_section_or_signed_by_another_bidder_is_refused(client, hall, factory):
    section, [(_user, bidder), (_u2, other)] = hall
    data = seal_bid(client, other, section.id, BID_TEXT)  # sealed with the other bidder's ids and keys
    _id, response = upload(client, bidder.headers, section.id, data)
    assert response.status_code == 422
    assert "签名证书" in response.get_json()["error"]["message"] or "sealed for" in response.get_json()["error"]["message"]


def test_a_revoked_certificate_cannot_seal(client, hall):
    section, [(_user, bidder), _] = hall
    data = seal_bid(client, bidder, section.id, BID_TEXT)
    mine = client.get("/api/v1/certificates/mine", headers=bidder.headers).get_json()["certificates"]
    signing = next(c for c in mine if c["purpose"] == "signing")
    assert client.post(f"/api/v1/certificates/{signing['id']}/revoke", json={"reason": "CA锁遗失"},
                       headers=bidder.headers).status_code == 200
    _id, response = upload(client, bidder.headers, section.id, data)
    assert response.status_code == 422 and "吊销" in response.get_json()["error"]["message"] + "revoked"
    assert client.get("/api/v1/certificates/revoked").get_json()["revoked"][0]["serial"] == signing["serial"]


def test_an_oversize_chunk_is_refused(client, hall):
    from trading.bid_operations import MAX_CHUNK

    section, [(_user, bidder), _] = hall
    started = client.post(f"/api/v1/sections/{section.id}/uploads", json={"size": MAX_CHUNK + 10},
                          headers=bidder.headers).get_json()
    response = client.put(f"/api/v1/uploads/{started['upload']}/chunks?offset=0", data=b"x" * (MAX_CHUNK + 1),
                          headers=bidder.headers)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "chunk_too_large"


def test_no_plaintext_or_key_reaches_the_server(client, hall, app):
    """A marker in the bid is found nowhere on the server: not the database, the storage folder or the logs."""
    section, [(_user, bidder), _] = hall
    marker = "绝密标记-BIDHALL-MARKER-7f3a9c".encode()
    captured = {}
    original = envelope.seal

    def spying_seal(*args, **kwargs):
        random_bytes = kwargs.pop("random_bytes", None)
        import secrets

        def record(n):
            value = (random_bytes or secrets.token_bytes)(n)
            captured.setdefault(n, []).append(value)
            return value

        return original(*args, random_bytes=record, **kwargs)

    import tests.pki_helpers as helpers

    helpers.envelope.seal, saved = spying_seal, helpers.envelope.seal
    try:
        data = seal_bid(client, bidder, section.id, b"header " + marker + b" trailer" * 1000)
    finally:
        helpers.envelope.seal = saved
    content_key = captured[32][0]
    assert upload(client, bidder.headers, section.id, data)[1].status_code == 201
    db.session.commit()
    searched = 0
    places = [Path(app.instance_path), Path(app.config["STORAGE_DIR"])]
    for place in places:
        for path in place.rglob("*"):
            if path.is_file():
                blob = path.read_bytes()
                searched += 1
                for secret in (marker, content_key, content_key.hex().encode()):
                    assert secret not in blob, f"{path} holds a secret"
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            dump = "".join(str(row) for table in ("bids", "receipts", "audit_events", "bid_uploads")
                           for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))
        assert marker.decode() not in dump and content_key.hex() not in dump
    assert searched >= 3


def test_officers_need_a_threshold_of_two_and_are_fixed_once_bids_exist(client, hall, factory):
    section, [(_user, bidder), _] = hall
    agent_headers = factory.token(client, db.session.get(type(_user), section.project.created_by_id))
    officers = client.get(f"/api/v1/sections/{section.id}/sealing", headers=bidder.headers).get_json()["officers"]
    ids = [int(o["officer"].split(":")[1]) for o in officers]
    single = client.put(f"/api/v1/sections/{section.id}/officers", json={"user_ids": ids, "threshold": 1},
                        headers=agent_headers)
    assert single.status_code == 422 and "no single" in single.get_json()["error"]["message"]
    upload(client, bidder.headers, section.id, seal_bid(client, bidder, section.id, BID_TEXT))
    fixed = client.put(f"/api/v1/sections/{section.id}/officers", json={"user_ids": ids[:2], "threshold": 2},
                       headers=agent_headers)
    assert fixed.status_code == 409 and "fixed" in fixed.get_json()["error"]["message"]


def test_copies_of_a_chunk_sent_at_once_are_kept_once(client, hall, live_server, release):
    """A client retrying in parallel (or a proxy replaying): the bytes stream with no transaction open, and the
    upload's file lock still lets exactly one copy in; the others are told the offset the server expects."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    section, [(_user, bidder), _] = hall
    data = seal_bid(client, bidder, section.id, BID_TEXT)
    upload_id, _ = upload(client, bidder.headers, section.id, data[:100_000], finalise=False, size=len(data))
    section_id = section.id
    release()

    def send(_n):
        return requests.put(f"{live_server}/api/v1/uploads/{upload_id}/chunks?offset=100000", data=data[100_000:],
                            headers=bidder.headers, timeout=30)

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(send, range(4)))
    assert sorted(r.status_code for r in replies) == [200, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in replies if r.status_code == 409} == {"wrong_offset"}
    done = requests.post(f"{live_server}/api/v1/uploads/{upload_id}/finalise", headers=bidder.headers, timeout=30)
    assert done.status_code == 201, done.json()
    stored = db.session.scalar(sa.select(Bid).where(Bid.section_id == section_id))
    assert Path(client.application.config["STORAGE_DIR"], stored.storage_key).read_bytes() == data
