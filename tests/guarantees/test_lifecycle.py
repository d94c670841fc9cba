"""The life cycle: verification at submission, release on every trigger, the opening, expiry, surrender."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.audit import AuditEvent
from core.clock import local, now
from core.db import db
from core.errors import InvalidTransition, RuleViolation
from guarantees import release
from guarantees.models import GUARANTEE_STATES, GuaranteeState, SecurityVerification
from guarantees.records import IssuerNotice, NoticeKind
from guarantees.verification import move
from tests.guarantees.conftest import guarantee_by, issued_guarantee, set_officers, signed, submit_bid
from trading.models import SectionState


def _notices(kind: NoticeKind) -> list[IssuerNotice]:
    return db.session.scalars(sa.select(IssuerNotice).where(IssuerNotice.kind == kind)).all()


def _actions() -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()


def test_the_state_machine_allows_only_the_documented_transitions():
    allowed = {(a.value, b.value) for a, targets in GUARANTEE_STATES.transitions.items() for b in targets}
    assert ("applied", "issued") in allowed and ("issued", "verified") in allowed
    assert ("verified", "in_use") in allowed and ("in_use", "claimed") in allowed
    assert ("claimed", "paid") in allowed and ("claimed", "refused") in allowed
    assert ("released", "in_use") not in allowed and ("rejected", "issued") not in allowed
    assert ("applied", "claimed") not in allowed and ("paid", "released") not in allowed


def test_an_illegal_transition_is_refused_by_name(market):
    guarantee, _ = issued_guarantee(market)
    with pytest.raises(InvalidTransition) as refused:
        move(guarantee, GuaranteeState.PAID)
    assert "verified → paid" in refused.value.message


def test_submission_verifies_and_a_withdrawal_before_the_deadline_releases(client, market):
    set_officers(market)
    guarantee, _ = issued_guarantee(market)
    bid_id = submit_bid(client, market.section.id, market.bidder_headers)
    record = db.session.scalar(sa.select(SecurityVerification).where(SecurityVerification.stage == "submission"))
    assert record.ok and record.bid_id == bid_id and record.guarantee_id == guarantee.id
    response = client.post(f"/api/v1/bids/{bid_id}/withdraw", headers=market.bidder_headers)
    assert response.status_code == 200, response.get_json()
    released = guarantee_by(guarantee.application_no)
    assert released.state is GuaranteeState.RELEASED and released.end_reason == "bid_withdrawn"
    assert released.live is None
    [notice] = _notices(NoticeKind.RELEASE)
    assert notice.issuer_id == guarantee.issuer_id and '"bid_withdrawn"' in notice.document
    assert "guarantee.released" in _actions()


def test_a_bid_without_security_is_recorded_as_missing_at_submission(client, market):
    set_officers(market)
    submit_bid(client, market.section.id, market.bidder_headers)
    record = db.session.scalar(sa.select(SecurityVerification))
    assert not record.ok and record.stage.value == "submission" and '"missing"' in record.report


def test_the_opening_puts_guarantees_in_use_releases_keys_and_frees_non_bidders(client, market):
    set_officers(market)
    plain, _ = issued_guarantee(market)
    other, other_headers = market.bidder_user()
    cipher, _ = issued_guarantee(market, cipher=True, headers=other_headers)
    submit_bid(client, market.section.id, market.bidder_headers)
    market.section.deadline = now()  # the deadline has just passed
    db.session.commit()
    reports = release.open_bid_security(market.section)
    db.session.commit()
    assert reports[market.bidder.organisation_id].ok, reports[market.bidder.organisation_id].summary()
    assert guarantee_by(plain.application_no).state is GuaranteeState.IN_USE
    not_bid = guarantee_by(cipher.application_no)
    assert not_bid.state is GuaranteeState.RELEASED and not_bid.end_reason == "no_bid"
    assert not_bid.key_released_at is not None
    [key_notice] = _notices(NoticeKind.TERMS_KEY)
    assert key_notice.guarantee_id == cipher.id
    answer = signed(client, market.issuer, "GET", f"/issuer/applications/{cipher.application_no}").get_json()
    from guarantees import protocol

    terms = protocol.open_terms(answer["application"]["payload"]["sealed_terms"], bytes.fromhex(answer["terms_key"]),
                                cipher.application_no)
    assert terms["section_code"] == market.section.code
    opening = db.session.scalar(sa.select(SecurityVerification).where(SecurityVerification.stage == "opening"))
    assert opening.ok


def test_the_key_of_a_cipher_guarantee_is_not_given_before_the_opening(client, market):
    cipher, _ = issued_guarantee(market, cipher=True)
    answer = signed(client, market.issuer, "GET", f"/issuer/applications/{cipher.application_no}").get_json()
    assert answer["terms_key"] is None
    with pytest.raises(RuleViolation):
        release.open_bid_security(market.section)


def test_a_failed_section_releases_every_guarantee(market):
    guarantee, _ = issued_guarantee(market)
    with pytest.raises(RuleViolation):
        release.release_for_failed_section(market.section)
    market.section.state = SectionState.FAILED
    summary = release.release_for_failed_section(market.section)
    db.session.commit()
    assert [g.id for g in summary.released] == [guarantee.id]
    assert guarantee_by(guarantee.application_no).end_reason == "section_failed"


def test_contract_signing_releases_all_and_non_candidates_are_released_at_the_award(market):
    first, _ = issued_guarantee(market)
    other, headers = market.bidder_user()
    second, _ = issued_guarantee(market, headers=headers)
    summary = release.release_non_candidates(market.section, {market.bidder.organisation_id})
    db.session.commit()
    assert [g.id for g in summary.released] == [second.id]
    assert guarantee_by(first.application_no).state is GuaranteeState.VERIFIED
    signed_at = now() - timedelta(hours=2)
    summary = release.release_after_contract(market.section, signed_at)
    db.session.commit()
    assert [g.id for g in summary.released] == [first.id]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "guarantee.released",
                                                          AuditEvent.object_id == str(first.id)))
    assert event.details["reason"] == "contract_signed"
    assert event.details["due_by"].startswith((signed_at + timedelta(days=5)).strftime("%Y-%m-%d"))
    assert len(_notices(NoticeKind.RELEASE)) == 2


def test_expiry(market):
    guarantee, _ = issued_guarantee(market)
    assert release.expire_due() == []
    expired = release.expire_due(guarantee.valid_until + timedelta(days=1))
    db.session.commit()
    assert [g.id for g in expired] == [guarantee.id]
    assert guarantee_by(guarantee.application_no).state is GuaranteeState.EXPIRED


def test_the_issuer_reports_expiry_only_after_the_validity(client, market):
    guarantee, _ = issued_guarantee(market)
    response = signed(client, market.issuer, "POST", f"/issuer/guarantees/{guarantee.guarantee_no}/status",
                      {"status": "expired"})
    assert response.status_code == 409 and "not yet expired" in response.get_json()["error"]["message"]
    guarantee.valid_until = local(now()).date() - timedelta(days=1)
    db.session.commit()
    response = signed(client, market.issuer, "POST", f"/issuer/guarantees/{guarantee.guarantee_no}/status",
                      {"status": "expired"})
    assert response.status_code == 200 and response.get_json()["state"] == "expired"


def test_surrender_needs_the_bidders_request_then_the_issuer_confirms(client, market, factory):
    guarantee, _ = issued_guarantee(market)
    path = f"/issuer/guarantees/{guarantee.guarantee_no}/surrender"
    refused = signed(client, market.issuer, "POST", path, {"reason": "x"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "surrender_not_requested"
    factory.login(client, market.bidder)
    client.post(f"/guarantees/{guarantee.id}/surrender")
    assert guarantee_by(guarantee.application_no).surrender_requested_at is not None
    assert len(_notices(NoticeKind.SURRENDER_REQUEST)) == 1
    done = signed(client, market.issuer, "POST", path, {"reason": "应申请退保"})
    assert done.status_code == 200 and done.get_json()["state"] == "surrendered"
    assert guarantee_by(guarantee.application_no).live is None


def test_every_change_of_a_guarantee_is_audited(client, market):
    guarantee, _ = issued_guarantee(market)
    actions = [a for a in _actions() if a.startswith("guarantee.")]
    assert actions == ["guarantee.applied", "guarantee.issued", "guarantee.verified"]
