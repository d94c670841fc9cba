"""Journey step 3 in Chromium: a bidder applies for a cipher guarantee on the section's page, the simulated
bank (over HTTP) underwrites and issues it, and the bidder sees it verified (验真通过)."""
from core.pki import platform
from guarantees.issuer_client import IssuerClient
from guarantees.simulator import Simulator
from tests.guarantees.conftest import make_issuer
from tests.browser.sealing_pages import sign_in


def test_a_bidder_applies_gets_a_guarantee_and_sees_it_verified(app, client, factory, new_page, live_server, release):
    section = factory.project().sections[0]
    issuer = make_issuer(client, factory)
    bidder = factory.user()
    section_id, username, issuer_name = section.id, bidder.username, issuer.organisation.name
    bank = Simulator(IssuerClient(live_server, issuer.holder.signing_key, issuer.holder.signing_cert,
                                  platform_certificate=platform().signing_certificate))
    release()

    page = new_page()
    sign_in(page, username)
    page.goto(f"/sections/{section_id}/security")
    assert issuer_name in page.locator("#f-product_id").inner_text()
    assert page.locator("#f-cipher").is_checked()
    page.click("text=提交申请")
    page.wait_for_url(f"**/sections/{section_id}/security")
    row = page.locator("table.guarantees tbody tr").first
    assert row.get_attribute("data-state") == "applied"

    assert [action for _number, action in bank.process_applications()] == ["issued"]

    page.reload()
    row = page.locator("table.guarantees tbody tr").first
    assert row.get_attribute("data-state") == "verified" and "已验真" in row.inner_text()
    assert page.locator("[data-latest-verification]").get_attribute("data-latest-verification") == "ok"
    assert page.locator("table.verification tr[data-ok='false']").count() == 0
    code = page.locator("[data-verification-code]").inner_text()
    page.goto(f"/guarantees/check?code={code}")
    assert "密文保函，开标后公开" in page.content()
