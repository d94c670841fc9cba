"""The pages: bidders apply and present, issuers decide and publish products, tenderees, supervisors, the
trading centre's deposit import, and the public verification-code lookup."""
import io
import json

import sqlalchemy as sa

from core.accounts import Role
from core.clock import now
from core.db import db
from guarantees.models import Guarantee, GuaranteeProduct, GuaranteeState, IssuerProfile
from guarantees.records import Deposit
from tests.guarantees.conftest import guarantee_by, issued_guarantee


def test_a_bidder_applies_from_the_page_and_sees_the_verified_guarantee(client, factory, market):
    factory.login(client, market.bidder)
    page = client.get(f"/sections/{market.section.id}/security").get_data(as_text=True)
    assert "申请电子保函" in page and market.issuer.organisation.name in page and "¥200.00" in page
    response = client.post(f"/sections/{market.section.id}/security/apply",
                           data={"product_id": market.issuer.product.id, "cipher": "1"})
    assert response.status_code == 302
    guarantee = db.session.scalar(sa.select(Guarantee))
    assert guarantee.is_cipher and guarantee.state is GuaranteeState.APPLIED
    again = client.post(f"/sections/{market.section.id}/security/apply", data={"product_id": market.issuer.product.id})
    assert again.status_code == 422 and "duplicate application" in again.get_data(as_text=True)
    from tests.guarantees.conftest import issue

    issue(market, guarantee.application_no)
    page = client.get(f"/sections/{market.section.id}/security").get_data(as_text=True)
    assert 'data-latest-verification="ok"' in page and guarantee_by(guarantee.application_no).verification_code in page
    assert "已验真" in page


def test_presenting_a_tampered_file_on_the_page_names_the_failed_checks(client, factory, market):
    _guarantee, body = issued_guarantee(market)
    factory.login(client, market.bidder)
    forged = json.loads(json.dumps(body["document"]))
    forged["payload"]["amount"] = "999999.00"
    response = client.post(f"/sections/{market.section.id}/security/present",
                           data={"document": (io.BytesIO(json.dumps(forged).encode()), "保函.json")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "验真未通过，未作任何变更" in page
    assert 'data-check="signature" data-ok="false"' in page and 'data-check="document_hash" data-ok="false"' in page
    assert 'data-check="amount" data-ok="true"' in page
    good = client.post(f"/sections/{market.section.id}/security/present",
                       data={"document": (io.BytesIO(json.dumps(body["document"]).encode()), "保函.json")},
                       content_type="multipart/form-data")
    assert good.status_code == 200 and "验真通过" in good.get_data(as_text=True)


def test_the_files_are_for_the_bidder_and_the_issuer_and_the_parties_after_the_opening(client, factory, market):
    guarantee, body = issued_guarantee(market)
    factory.login(client, market.bidder)
    pdf = client.get(f"/guarantees/{guarantee.id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert json.loads(client.get(f"/guarantees/{guarantee.id}/document").data) == body["document"]
    stranger, _headers = market.bidder_user()
    factory.login(client, stranger)
    assert client.get(f"/guarantees/{guarantee.id}/pdf").status_code == 404
    factory.login(client, market.agent)
    assert client.get(f"/guarantees/{guarantee.id}/pdf").status_code == 404
    page = client.get(f"/sections/{market.section.id}/security").get_data(as_text=True)
    assert "各投标人保证金验真结果" not in page  # who posted security is confidential before the deadline
    market.section.deadline = now()
    db.session.commit()
    assert client.get(f"/guarantees/{guarantee.id}/pdf").status_code == 200
    page = client.get(f"/sections/{market.section.id}/security").get_data(as_text=True)
    assert f'data-bidder="{market.bidder.organisation.credit_code}"' in page


def test_anyone_can_look_up_a_verification_code(client, market):
    guarantee, _ = issued_guarantee(market, cipher=True)
    page = client.get(f"/guarantees/check?code={guarantee.verification_code.lower()}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and guarantee.guarantee_no in text and "密文保函，开标后公开" in text
    assert market.section.code not in text
    assert client.get("/guarantees/check?code=AAAA-BBBB-CCCC-DDDD").status_code == 404


def test_the_issuer_decides_publishes_products_and_sets_the_callback(client, factory, market):
    applied_user, headers = market.bidder_user()
    client.post(f"/api/v1/sections/{market.section.id}/guarantee-applications",
                json={"product_id": market.issuer.product.id}, headers=headers)
    guarantee = db.session.scalar(sa.select(Guarantee))
    factory.login(client, market.issuer.user)
    queue = client.get("/issuer/queue").get_data(as_text=True)
    assert guarantee.application_no in queue and market.section.project.name in queue
    client.post(f"/issuer/applications/{guarantee.id}/decide", data={"decision": "reject", "reason": ""})
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.APPLIED  # a reason is required
    client.post(f"/issuer/applications/{guarantee.id}/decide", data={"decision": "approve", "reason": "核保通过"})
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.APPROVED
    bad = client.post("/issuer/products", data={"code": "SI01", "name": "保证保险", "form": "surety_insurance",
                                                "premium_rate": "0.5", "minimum_premium": "100", "min_amount": "1000",
                                                "max_amount": "3000000", "max_validity_days": "365"})
    assert bad.status_code == 422 and 'id="e-premium_rate"' in bad.get_data(as_text=True)
    good = client.post("/issuer/products", data={"code": "SI01", "name": "保证保险", "form": "surety_insurance",
                                                 "premium_rate": "0.001", "minimum_premium": "100",
                                                 "min_amount": "1000", "max_amount": "3000000",
                                                 "max_validity_days": "365", "supports_cipher": "1"})
    assert good.status_code == 302
    product = db.session.scalar(sa.select(GuaranteeProduct).where(GuaranteeProduct.code == "SI01"))
    client.post(f"/issuer/products/{product.id}/active", data={"active": "0"})
    assert not db.session.get(GuaranteeProduct, product.id).active
    assert client.post("/issuer/settings", data={"callback_url": "ftp://bank"}).status_code == 422
    client.post("/issuer/settings", data={"callback_url": "https://bank.example/bidhall/notices"})
    assert db.session.get(IssuerProfile, market.issuer.organisation.id).callback_url.startswith("https://bank")
    board = client.get("/issuer/dashboard").get_data(as_text=True)
    assert 'data-figure="applications">1<' in board


def test_supervisors_see_the_platform_figures_and_admins_import_statements(client, factory, market):
    issued_guarantee(market)
    supervisor = factory.user(Role.SUPERVISOR)
    factory.login(client, supervisor)
    page = client.get("/security/supervision").get_data(as_text=True)
    assert 'data-figure="security_freed"><strong>¥100,000.00' in page
    bidder_client = client.application.test_client()
    factory.login(bidder_client, market.bidder)
    bidder_client.post(f"/sections/{market.section.id}/security/deposit-slip",
                       data={"payer_account": "6222020200112233445", "payer_name": "甲公司"})
    from guarantees.records import DepositSlip

    reference = db.session.scalar(sa.select(DepositSlip)).reference
    sub_account = db.session.scalar(sa.select(DepositSlip)).sub_account
    admin = factory.user(Role.ADMIN)
    factory.login(client, admin)
    csv = ("transaction_id,value_time,account,payer_account,payer_name,amount,currency,reference\n"
           f"P1,2026-01-05 10:00,{sub_account},6222020200112233445,甲公司,100000.00,CNY,{reference}\n"
           f"P2,2026-01-05 10:00,{sub_account},6222020200112233445,甲公司,abc,CNY,{reference}\n")
    response = client.post("/security/deposits", data={"file": (io.BytesIO(csv.encode()), "对账单.csv")},
                           content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-bad-line="3"' in text and "amount is not a number" in text
    assert [d.transaction_id for d in db.session.scalars(sa.select(Deposit))] == ["P1"]


def test_the_home_link_leads_each_role_to_its_page(client, factory, market):
    for user, target in ((market.bidder, "/guarantees"), (market.issuer.user, "/issuer/queue"),
                         (market.tenderee, "/claims")):
        factory.login(client, user)
        assert client.get("/security").headers["Location"].endswith(target)
