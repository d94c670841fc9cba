"""bidtool at the opening: a bidder decrypts its own bid, an officer releases its escrow share."""

from bidtool import cli
from crypto.keystore import save_private_key_file
from tests.trading.opening_helpers import at_deadline, build_world


def _home(tmp_path, name, server, headers, holder):
    home = tmp_path / name
    home.mkdir()
    (home / "config.json").write_text(
        f'{{"server": "{server}", "token": "{headers["Authorization"][7:]}"}}')
    save_private_key_file(holder.encryption_key, home / "encryption-key.pem", "key-password-1")
    return home


def test_decrypt_and_release_share_with_bidtool(client, factory, monkeypatch, live_server, release, tmp_path):
    world = build_world(client, factory, bidders=3)
    at_deadline(monkeypatch, world.section)
    section_id = world.section.id
    a, b, c = world.bidders
    assert client.post(f"/api/v1/sections/{section_id}/opening/start", headers=world.agent_headers).status_code == 200
    homes = {p.bid_id: _home(tmp_path, f"bidder{p.bid_id}", live_server, p.holder.headers, p.holder)
             for p in world.bidders}
    officer_homes = [_home(tmp_path, f"officer{i}", live_server, o.holder.headers, o.holder)
                     for i, o in enumerate(world.officers)]
    c_bid, c_headers, agent_headers = c.bid_id, c.holder.headers, world.agent_headers
    release()
    monkeypatch.setenv("BIDTOOL_KEY_PASSWORD", "key-password-1")
    assert cli.main(["--home", str(homes[a.bid_id]), "decrypt", str(section_id)]) == 0
    assert cli.main(["--home", str(homes[a.bid_id]), "decrypt", str(section_id)]) == 1  # a second time: refused
    import requests

    requests.post(f"{live_server}/api/v1/bids/{c_bid}/decryption-failure", json={"reason": "证书介质损坏"},
                  headers=c_headers)
    assert requests.post(f"{live_server}/api/v1/bids/{c_bid}/ruling", json={"ruling": "platform", "reason": "平台故障"},
                         headers=agent_headers).status_code == 200
    assert cli.main(["--home", str(officer_homes[1]), "release-share", str(c_bid)]) == 0
    assert cli.main(["--home", str(officer_homes[2]), "release-share", str(c_bid)]) == 0
    state = requests.get(f"{live_server}/api/v1/sections/{section_id}/opening", headers=agent_headers).json()
    by_bid = {row["bid"]: row for row in state["bids"]}
    assert by_bid[c_bid]["state"] == "decrypted" and by_bid[c_bid]["escrow"] is True
    assert len(by_bid[c_bid]["shares_released"]) == 2


