"""Helpers for the in-browser sealing tests: a section ready for bids, sign-in, enrolment and unwrap in the page."""
from __future__ import annotations

import io
from pathlib import Path

import pyotp

from core.accounts import Role
from crypto import envelope
from tests.factories import PASSWORD
from tests.pki_helpers import enrol

JS = Path(__file__).with_name("js")


def open_section(client, factory):
    """A published section whose three opening officers (threshold 2) hold encryption certificates."""
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    officers = [agent, factory.user(Role.SUPERVISOR), factory.user(Role.ADMIN)]
    for officer in officers:
        enrol(client, factory.token(client, officer), for_organisation=False, name=officer.username)
    response = client.put(f"/api/v1/sections/{section.id}/officers", headers=factory.token(client, agent),
                          json={"user_ids": [o.id for o in officers], "threshold": 2})
    assert response.status_code == 200, response.get_json()
    return section


def sign_in(page, username: str, password: str = PASSWORD, *, totp_secret: str | None = None,
            before_code=None) -> None:
    """Sign in through the login page as a user does: password, then the one-time code when the account has a
    second factor (``before_code`` runs between the two, e.g. to let a test reuse the same code)."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    if totp_secret:
        page.wait_for_url("**/second-factor**")
        if before_code is not None:
            before_code()
        page.fill("#code", pyotp.TOTP(totp_secret).now())
        page.click("main button[type=submit]")
    page.wait_for_url("**/workspace**")


def enrol_in_page(page) -> None:
    """Generate the keys in the page and obtain the organisation's two certificates."""
    page.goto("/certificates")
    page.wait_for_selector("body[data-certificates-ready=true]")
    page.click("#enrol button[type=submit]")
    page.wait_for_selector("[data-role=status][data-kind=success]", timeout=30000)
    rows = page.locator("[data-role=certificates] tr[data-certificate][data-status=valid]")
    assert rows.count() == 2


def open_bid_panel(page, section_id: int) -> None:
    page.goto(f"/sections/{section_id}")
    page.wait_for_selector("#bid-panel[data-ready=true]")
    assert page.get_attribute("[data-role=keys]", "data-keys") == "ready"
    # the server's time and the countdown to the deadline, live in the panel
    assert page.inner_text("#bid-panel [data-role=clock]") != "--:--:--"
    page.wait_for_function("() => document.querySelector('#bid-panel [data-countdown]').textContent.includes(':')")


def unwrap_in_page(page, envelope_bytes: bytes) -> bytes:
    """The browser reads the envelope's header and unwraps the content key with its non-extractable key."""
    header = envelope.read_header(io.BytesIO(envelope_bytes))
    key = page.evaluate((JS / "unwrap.js").read_text(), envelope_bytes[:header.size].hex())
    return bytes.fromhex(key)


def open_with(content_key: bytes, data: bytes, ids: envelope.BidIds, signer) -> bytes:
    out = io.BytesIO()
    envelope.open_envelope(io.BytesIO(data), out, content_key, expected_ids=ids, bidder_signing_cert=signer)
    return out.getvalue()
