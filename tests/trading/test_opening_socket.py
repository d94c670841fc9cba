"""The hall live over Socket.IO: the Flask-SocketIO test client, and a python-socketio client against a server."""
import base64
import json
import threading

import pytest
import socketio as socketio_client
from cryptography.hazmat.primitives import serialization

from crypto.signing import sign_bytes
from tests.trading.opening_helpers import at_deadline, build_world, content_key


@pytest.fixture()
def world(client, factory):
    return build_world(client, factory, bidders=3)


def _socket_for(socket_client, client, user, factory):
    factory.login(client, user)
    return socket_client(client)


def test_a_late_joiner_gets_the_whole_state_and_bidders_see_only_their_own(app, world, factory, monkeypatch,
                                                                            socket_client):
    at_deadline(monkeypatch, world.section)
    a, b, c = world.bidders
    section_id, agent_headers = world.section.id, world.agent_headers
    others = {b.user.organisation.name, c.user.organisation.name}
    keys = {p.bid_id: content_key(p) for p in world.bidders}
    host_http = app.test_client()
    host = _socket_for(socket_client, host_http, world.agent, factory)
    bidder_http = app.test_client()
    bidder = _socket_for(socket_client, bidder_http, a.user, factory)
    stranger_http = app.test_client()
    from core.accounts import Role

    stranger = _socket_for(socket_client, stranger_http, factory.user(Role.BIDDER), factory)
    refused = stranger.emit("join_hall", {"section_id": section_id}, callback=True)
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    joined = bidder.emit("join_hall", {"section_id": section_id}, callback=True)
    assert joined["ok"], joined
    assert joined["state"]["my_bid"]["bid"] == a.bid_id and "bids" not in joined["state"]
    host_state = host.emit("join_hall", {"section_id": section_id}, callback=True)["state"]
    assert len(host_state["bids"]) == 3
    host_http.post(f"/api/v1/sections/{section_id}/opening/start", headers=agent_headers)
    received = bidder.get_received()
    states = [m["args"][0] for m in received if m["name"] == "hall_state"]
    assert states and states[-1]["state"] == "decrypting"
    assert not any(name in json.dumps(states, ensure_ascii=False) for name in others)
    # another bidder decrypting changes nothing in this bidder's view: it is not sent anything
    assert host_http.post(f"/api/v1/bids/{b.bid_id}/decrypt", json={"content_key": keys[b.bid_id]},
                          headers=b.holder.headers).status_code == 200
    assert not [m for m in bidder.get_received() if m["name"] == "hall_state"]
    assert [m["args"][0] for m in host.get_received() if m["name"] == "hall_state"][-1]["bids"][1]["state"] == \
        "decrypted"
    # decrypt over the socket (this bidder gets its new view); a second time is refused with a reason
    result = bidder.emit("decrypt", {"bid": a.bid_id, "content_key": keys[a.bid_id]}, callback=True)
    assert result == {"ok": True, "state": "decrypted", "error": None}
    mine = [m["args"][0] for m in bidder.get_received() if m["name"] == "hall_state"]
    assert mine and mine[-1]["my_bid"]["state"] == "decrypted" and "bids" not in mine[-1]
    again = bidder.emit("decrypt", {"bid": a.bid_id, "content_key": keys[a.bid_id]}, callback=True)
    assert again["ok"] is False and again["error"]["code"] == "already_decrypted"
    wrong = bidder.emit("decrypt", {"bid": b.bid_id, "content_key": keys[b.bid_id]}, callback=True)
    assert wrong["ok"] is False and wrong["error"]["code"] == "forbidden"
    host_updates = [m["args"][0] for m in host.get_received() if m["name"] == "hall_state"]
    assert [bid["state"] for bid in host_updates[-1]["bids"]][:2] == ["decrypted", "decrypted"]
    # a client that disconnects mid-decryption leaves the hall consistent; on reconnect it gets the state back
    bidder.disconnect()
    again_client = socket_client(bidder_http)
    back = again_client.emit("join_hall", {"section_id": section_id}, callback=True)
    assert back["state"]["my_bid"]["state"] == "decrypted"


def test_a_python_socketio_client_signs_in_and_decrypts_against_a_running_server(app, world, factory, monkeypatch,
                                                                                  live_server, release):
    at_deadline(monkeypatch, world.section)
    a = world.bidders[0]
    section_id, bid_id = world.section.id, a.bid_id
    key = content_key(a)
    token_headers = a.holder.headers
    agent_headers = world.agent_headers
    pem = a.holder.signing_cert.public_bytes(serialization.Encoding.PEM).decode()
    username = a.user.username
    release()
    import requests

    http = requests.Session()
    from tests.factories import PASSWORD

    assert http.post(f"{live_server}/login", data={"username": username, "password": PASSWORD},
                     allow_redirects=False).status_code == 302
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    events, got_state = [], threading.Event()
    sio = socketio_client.Client(reconnection=False)

    @sio.on("hall_state")
    def on_state(state):
        events.append(state)
        got_state.set()

    probe = requests.get(f"{live_server}/socket.io/?EIO=4&transport=polling", headers={"Cookie": cookie}, timeout=5)
    assert probe.status_code == 200, probe.text[:500]
    sio.connect(live_server, headers={"Cookie": cookie}, wait_timeout=10)
    try:
        joined = sio.call("join_hall", {"section_id": section_id}, timeout=10)
        assert joined["ok"], joined
        challenge = sio.call("challenge", {"section_id": section_id}, timeout=10)["challenge"]
        signature = base64.b64encode(sign_bytes(a.holder.signing_key, base64.b64decode(challenge))).decode()
        signed = sio.call("sign_in", {"section_id": section_id, "challenge": challenge, "signature": signature,
                                      "certificate": pem}, timeout=10)
        assert signed["ok"], signed
        assert requests.post(f"{live_server}/api/v1/sections/{section_id}/opening/start",
                             headers=agent_headers, timeout=10).status_code == 200
        assert got_state.wait(10)
        result = sio.call("decrypt", {"bid": bid_id, "content_key": key}, timeout=30)
        assert result["state"] == "decrypted", result
    finally:
        sio.disconnect()
    assert any(e.get("my_bid", {}).get("state") == "decrypted" for e in events) or result["ok"]
    assert token_headers
