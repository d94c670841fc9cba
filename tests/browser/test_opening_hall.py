"""In Chromium: a bidder signs in and decrypts its bid in the hall page, then sees the read-out table."""
import io

from core.accounts import Role
from crypto import certificates as x509ca
from crypto import envelope
from tests.browser.sealing_pages import enrol_in_page, sign_in
from tests.pki_helpers import enrol, upload
from tests.trading.opening_helpers import at_deadline, build_world, package


def test_a_bidder_decrypts_in_the_page_and_sees_the_read_out(app, client, factory, new_page, release, monkeypatch):
    world = build_world(client, factory, bidders=2)
    user = factory.user(Role.BIDDER)
    section_id, username, agent_headers = world.section.id, user.username, world.agent_headers
    headers = factory.token(client, user)
    org_name = user.organisation.name
    release()
    page = new_page()
    sign_in(page, username)
    enrol_in_page(page)  # the keys are made in this browser, non-extractable
    certificates = client.get("/api/v1/certificates/mine", headers=headers).get_json()["certificates"]
    browser_encryption = next(c for c in certificates if c["purpose"] == "encryption")
    # the bid is sealed to the browser's encryption certificate (signed here with another of the firm's keys)
    holder = enrol(client, headers)
    info = client.get(f"/api/v1/sections/{section_id}/sealing", headers=headers).get_json()
    out = io.BytesIO()
    envelope.seal(io.BytesIO(package(info["ids"], "8590000.00", "林建华")), out, ids=envelope.BidIds(**info["ids"]),
                  bidder_signing_key=holder.signing_key, bidder_signing_cert=holder.signing_cert,
                  bidder_encryption_cert=x509ca.load_certificate(browser_encryption["pem"].encode()),
                  officers=[(o["officer"], x509ca.load_certificate(o["certificate"].encode())) for o in info["officers"]],
                  threshold=info["threshold"], chunk_size=16384)
    assert upload(client, headers, section_id, out.getvalue())[1].status_code == 201
    from core.db import db
    from trading.models import Section

    at_deadline(monkeypatch, db.session.get(Section, section_id))
    release()
    page.goto(f"/sections/{section_id}")
    page.click("text=进入开标大厅")
    page.wait_for_selector("[data-panel=bidder]:not([hidden])")
    page.click("[data-action=sign-in]")
    page.wait_for_function("() => document.querySelector('[data-action=sign-in]').disabled")
    assert client.post(f"/api/v1/sections/{section_id}/opening/start", headers=agent_headers).status_code == 200
    release()  # the test client shares this thread's session: end its transaction before the page acts
    page.wait_for_function("() => !document.querySelector('[data-action=decrypt]').disabled")
    page.click("[data-action=decrypt]")
    page.wait_for_function("() => document.querySelector('[data-my-state]').textContent === '已解密'")
    for party in world.bidders:
        from tests.trading.opening_helpers import content_key

        client.post(f"/api/v1/bids/{party.bid_id}/decrypt", json={"content_key": content_key(party)},
                    headers=party.holder.headers)
    assert client.post(f"/api/v1/sections/{section_id}/opening/read-out", headers=agent_headers).status_code == 200
    release()
    page.wait_for_selector("[data-panel=read-out]:not([hidden])")
    table = page.inner_text("[data-read-out]")
    assert org_name in table and "8590000.00" in table and "林建华" in table
    assert "8650000.00" in table  # the other bidders are read out to everyone now
