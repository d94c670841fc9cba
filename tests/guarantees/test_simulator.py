"""The issuer simulator drives a whole life cycle over real HTTP against a live server, like a bank would."""
import io
from decimal import Decimal

import requests
import sqlalchemy as sa

from core.accounts import User
from core.clock import now
from core.db import db
from core.pki import platform
from guarantees import claims
from guarantees import release as security_release
from guarantees.issuer_client import IssuerClient
from guarantees.models import Guarantee, GuaranteeState
from guarantees.notices import deliver_due
from guarantees.simulator import CallbackServer, Simulator, UnderwritingRules
from tests.factories import PASSWORD
from tests.guarantees.conftest import set_officers, submit_bid
from trading.models import Section


def _state(application_no: str) -> GuaranteeState:
    """Read, then end the transaction at once: the live server's requests must not wait on the test thread."""
    state = db.session.scalar(sa.select(Guarantee.state).where(Guarantee.application_no == application_no))
    db.session.commit()
    return state


def _apply(live_server, section_id, headers, *, cipher=False, product_id):
    response = requests.post(f"{live_server}/api/v1/sections/{section_id}/guarantee-applications",
                             json={"product_id": product_id, "cipher": cipher}, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["application_no"]


def test_a_whole_life_cycle_through_the_simulator(app, market, live_server, release, tmp_path):
    set_officers(market)
    second, second_headers = market.bidder_user()
    third, third_headers = market.bidder_user()
    denied, denied_headers = market.bidder_user()
    section_id, product_id = market.section.id, market.issuer.product.id
    third_id, tenderee_id = third.id, market.tenderee.id
    client = market.client
    rules = UnderwritingRules(max_amount=Decimal("1000000"), deny_principals=frozenset({denied.organisation.credit_code}))
    issuer = IssuerClient(live_server, market.issuer.holder.signing_key, market.issuer.holder.signing_cert,
                          platform_certificate=platform().signing_certificate)
    simulator = Simulator(issuer, rules)
    release()
    callback = CallbackServer(simulator).start()
    try:
        issuer.call("PUT", "/issuer/callback", {"url": callback.url})
        plain = _apply(live_server, section_id, market.bidder_headers, product_id=product_id)
        cipher = _apply(live_server, section_id, second_headers, cipher=True, product_id=product_id)
        surrendering = _apply(live_server, section_id, third_headers, product_id=product_id)
        refused = _apply(live_server, section_id, denied_headers, product_id=product_id)
        simulator.run_once()
        assert _state(plain) == _state(cipher) == _state(surrendering) == GuaranteeState.VERIFIED
        assert _state(refused) is GuaranteeState.REJECTED and refused in simulator.book.rejected
        assert cipher not in simulator.book.terms and simulator.process_applications() == []
        mine = requests.get(f"{live_server}/api/v1/sections/{section_id}/bid-security", headers=market.bidder_headers,
                            timeout=30).json()
        assert mine["guarantees"][0]["state"] == "verified" and mine["status"]["verification"]["ok"]
        release()

        # the third bidder surrenders before bidding; the simulated bank confirms on the notice
        third_guarantee = db.session.scalar(sa.select(Guarantee).where(Guarantee.application_no == surrendering))
        from guarantees.operations import request_surrender

        request_surrender(third_guarantee, db.session.get(User, third_id))
        db.session.commit()
        assert deliver_due().failed == 0
        release()
        simulator.run_once()
        assert _state(surrendering) is GuaranteeState.SURRENDERED

        # two bids; at the opening the guarantees go into use and the cipher key reaches the bank
        submit_bid(client, section_id, market.bidder_headers)
        submit_bid(client, section_id, second_headers)
        section = db.session.get(Section, section_id)
        section.deadline = now()
        db.session.commit()
        reports = security_release.open_bid_security(section)
        db.session.commit()
        assert all(report.ok for report in reports.values()) and len(reports) == 2
        deliver_due()
        release()
        simulator.run_once()
        assert simulator.book.terms[cipher]["section_code"] == db.session.get(Section, section_id).code
        assert _state(plain) == _state(cipher) == GuaranteeState.IN_USE

        # the tenderee claims on the first bidder's guarantee; the bank checks the evidence and pays
        guarantee = db.session.scalar(sa.select(Guarantee).where(Guarantee.application_no == plain))
        claims.file_claim(guarantee, db.session.get(User, tenderee_id), reason="refused_contract", amount="100000.00",
                          statement="中标后拒不签订合同。", evidence=io.BytesIO(b"evidence"), filename="e.pdf",
                          content_type="application/pdf")
        security_release.release_after_contract(db.session.get(Section, section_id), now())
        db.session.commit()
        deliver_due()
        release()
        simulator.run_once()
        assert _state(plain) is GuaranteeState.PAID and list(simulator.book.claims.values()) == ["pay"]
        assert _state(cipher) is GuaranteeState.RELEASED
        assert db.session.scalar(sa.select(Guarantee.guarantee_no).where(Guarantee.application_no == cipher)) \
            in simulator.book.released
        release()
        board = issuer.call("GET", "/issuer/dashboard")
        assert (board["issued"], board["rejected"], board["claims_paid"], board["released"]) == (3, 1, 1, 1)
        assert board["security_freed"] == "300000.00"
    finally:
        callback.stop()


def test_the_simulate_command_enrols_and_works_the_queue(app, market, factory, live_server, release, runner, tmp_path):
    bank_user = factory.user(market.issuer.user.role, organisation=market.issuer.organisation)
    section_id, product_id, bank_username = market.section.id, market.issuer.product.id, bank_user.username
    release()
    number = _apply(live_server, section_id, market.bidder_headers, product_id=product_id)
    result = runner.invoke(args=["issuer", "simulate", "--server", live_server, "--username", bank_username,
                                 "--password", PASSWORD, "--home", str(tmp_path / "bank"), "--once"])
    assert result.exit_code == 0, result.output
    assert "issued 1, rejected 0" in result.output and (tmp_path / "bank" / "signing-key.pem").exists()
    assert _state(number) is GuaranteeState.VERIFIED
