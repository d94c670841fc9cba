"""Claims: the tenderee claims with evidence on a legal ground after the deadline; the issuer answers."""
import io
from datetime import timedelta

import sqlalchemy as sa

from core.clock import now
from core.db import db
from core.notifications import Notification
from guarantees.models import Claim, ClaimState, GuaranteeState
from guarantees.records import IssuerNotice, NoticeKind
from guarantees.verification import move
from tests.guarantees.conftest import guarantee_by, issued_guarantee, signed

EVIDENCE = "监督部门认定书：某投标人与他人串通投标。".encode()


def _claim(client, guarantee, **overrides):
    form = {"reason": "collusion", "amount": "100000.00", "statement": "经行政监督部门查实串通投标。",
            "evidence": (io.BytesIO(EVIDENCE), "认定书.pdf")} | overrides
    return client.post(f"/guarantees/{guarantee.id}/claim", data=form, content_type="multipart/form-data")


def _after_deadline(market, guarantee):
    """The deadline passes and the opening puts the guarantee in use (as release.open_bid_security does)."""
    market.section.deadline = now()
    move(guarantee, GuaranteeState.IN_USE, stage="opening")
    db.session.commit()


def test_the_tenderee_claims_and_the_issuer_pays(client, factory, market):
    guarantee, _ = issued_guarantee(market)
    factory.login(client, market.tenderee)
    assert _claim(client, guarantee).status_code == 404  # before the deadline the tenderee cannot even see it
    assert db.session.scalar(sa.select(sa.func.count(Claim.id))) == 0
    _after_deadline(market, guarantee)
    response = _claim(client, guarantee)
    assert response.status_code == 302, [line for line in response.get_data(as_text=True).splitlines() if "error" in line]
    claim = db.session.scalar(sa.select(Claim))
    assert claim.state is ClaimState.FILED and guarantee_by(guarantee.application_no).state is GuaranteeState.CLAIMED
    notice = db.session.scalar(sa.select(IssuerNotice).where(IssuerNotice.kind == NoticeKind.CLAIM))
    assert claim.evidence.sha256 in notice.document and '"collusion"' in notice.document
    evidence = signed(client, market.issuer, "GET", f"/issuer/claims/{claim.id}/evidence")
    assert evidence.status_code == 200 and evidence.data == EVIDENCE
    answer = signed(client, market.issuer, "POST", f"/issuer/claims/{claim.id}/answer",
                    {"decision": "pay", "reason": "证据确凿，予以赔付"})
    assert answer.status_code == 200 and answer.get_json()["state"] == "paid"
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.PAID
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == market.tenderee.id,
                                                           Notification.title.like("索赔已赔付%")))
    again = signed(client, market.issuer, "POST", f"/issuer/claims/{claim.id}/answer",
                   {"decision": "refuse", "reason": "x"})
    assert again.status_code == 409


def test_a_claim_needs_a_legal_ground_evidence_and_an_amount_within_the_guarantee(client, factory, market):
    guarantee, _ = issued_guarantee(market)
    _after_deadline(market, guarantee)
    factory.login(client, market.tenderee)
    assert b"e-amount" in _claim(client, guarantee, amount="100000.01").data
    assert _claim(client, guarantee, reason="i_changed_my_mind").status_code == 422
    response = client.post(f"/guarantees/{guarantee.id}/claim", data={"reason": "collusion", "amount": "1000",
                                                                        "statement": "x"})
    assert response.status_code == 422 and "evidence is required" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Claim.id))) == 0
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.IN_USE


def test_only_the_projects_tenderee_may_claim(client, factory, market):
    guarantee, _ = issued_guarantee(market)
    _after_deadline(market, guarantee)
    stranger = factory.user(market.tenderee.role)
    factory.login(client, stranger)
    assert _claim(client, guarantee).status_code == 404


def test_the_issuer_may_refuse_with_a_reason(client, factory, market):
    guarantee, _ = issued_guarantee(market)
    _after_deadline(market, guarantee)
    factory.login(client, market.tenderee)
    _claim(client, guarantee, reason="refused_contract")
    claim = db.session.scalar(sa.select(Claim))
    assert signed(client, market.issuer, "POST", f"/issuer/claims/{claim.id}/answer",
                  {"decision": "refuse"}).status_code == 422
    answer = signed(client, market.issuer, "POST", f"/issuer/claims/{claim.id}/answer",
                    {"decision": "refuse", "reason": "中标人已签订合同，事由不成立"})
    assert answer.get_json()["state"] == "refused"
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.REFUSED
    page = client.get("/claims").get_data(as_text=True)
    assert "中标人已签订合同，事由不成立" in page


def test_claims_are_only_possible_on_a_guarantee_in_use(client, factory, market):
    guarantee, _ = issued_guarantee(market)
    guarantee.state = GuaranteeState.RELEASED
    db.session.commit()
    market.section.deadline = now() - timedelta(hours=1)
    db.session.commit()
    factory.login(client, market.tenderee)
    response = _claim(client, guarantee)
    assert response.status_code == 422 and "only a guarantee in use" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Claim.id))) == 0
