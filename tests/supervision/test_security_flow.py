"""Bid security follows the steps after the report through the guarantees package: the deposit account shared by
two bidders is a clue (实施条例第40条(六)); the award refunds the non-candidates, the contract everyone, and the
bond-release point turns green."""
from datetime import timedelta

import sqlalchemy as sa

from core import clock
from core.accounts import Role
from core.db import db
from guarantees.records import Deposit, DepositRefund, DepositState
from supervision import post_award as ops
from supervision import warnings as engine
from supervision.collusion_evidence import run_analysis
from tests.supervision.conftest import report
from tests.supervision.opened import BidSpec, open_section


def test_deposits_are_a_clue_and_are_refunded_by_the_award_and_the_contract(app, factory, monkeypatch):
    shared = "6222020200112233445"
    opened = open_section(app, factory, monkeypatch, [BidSpec("8650000.00", "周建国"), BidSpec("8912300.00", "吴芳"),
                                                      BidSpec("7907700.00", "郑强")],
                          deposit_accounts={0: shared, 1: shared, 2: "6222020200998877665"})
    analysis = run_analysis(opened.section, factory.user(Role.SUPERVISOR))
    clues = [e for e in analysis.data["evidence"] if e["indicator"] == "same_deposit_account"]
    assert clues and clues[0]["bid_ids"] == [opened.bidders[0].bid_id, opened.bidders[1].bid_id]
    result = report(opened, ranked=(2, 0))  # bidder 1 is not a candidate
    ops.start_publicity(opened.section, opened.agent)
    result.publicity_ends_at = clock.now() - timedelta(minutes=1)
    award = ops.decide_award(opened.section, opened.tenderee, opened.bidders[2].user.organisation_id)
    db.session.commit()
    states = {d.organisation_id: d.state for d in db.session.scalars(sa.select(Deposit))}
    assert states[opened.bidders[1].user.organisation_id] is DepositState.REFUNDED
    assert states[opened.bidders[0].user.organisation_id] is DepositState.RECEIVED
    ops.issue_notice(award, opened.agent)
    award.notice_issued_at -= timedelta(minutes=5)
    ops.record_contract(award, opened.tenderee, signed_at=clock.now() - timedelta(minutes=1), amount=award.amount)
    db.session.commit()
    assert all(d.state is DepositState.REFUNDED for d in db.session.scalars(sa.select(Deposit)))
    assert db.session.scalar(sa.select(sa.func.count(DepositRefund.id))) == 3
    points = {r.point: r for r in engine.section_points(opened.section.id)}
    assert points["bond_release"].light.value == "green" and points["contract"].light.value == "green"
