"""Cash deposits: slips, bank-statement import (bad rows reported, good rows kept), refunds with interest."""
import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.accounts import Role
from core.clock import SHANGHAI, now
from core.db import db
from core.errors import ValidationError
from guarantees import deposits, release
from guarantees.records import Deposit, DepositRefund, DepositState, StatementImport
from guarantees.rules import SecurityRules, days_held, refund_interest
from guarantees.verification import verify_for_section

HEADER = "transaction_id,value_time,account,payer_account,payer_name,amount,currency,reference\n"


def _slip(client, market, headers=None, account="6222020200112233445"):
    response = client.post(f"/api/v1/sections/{market.section.id}/deposit-slip",
                           json={"payer_account": account, "payer_name": "福建某建设有限公司"},
                           headers=headers or market.bidder_headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _when(days_ago: int = 1) -> str:
    return (now().astimezone(SHANGHAI) - timedelta(days=days_ago)).strftime("%Y-%m-%d %H:%M:%S")


def test_interest_worked_example_and_day_count():
    # 300,000.00 held 17 days at 0.35%: 300000 × 0.0035 × 17 ÷ 360 = 49.5833… → 49.58 (ROUND_HALF_UP)
    assert refund_interest(Decimal("300000.00"), 17, Decimal("0.0035")) == Decimal("49.58")
    # a half fen rounds up: 1,800.00 × 0.0035 × 1 ÷ 360 = 0.0175 → 0.02
    assert refund_interest(Decimal("1800.00"), 1, Decimal("0.0035")) == Decimal("0.02")
    received = datetime(2026, 11, 3).date()
    assert days_held(received, datetime(2026, 11, 20).date()) == 17   # the first day counts, the last does not
    assert days_held(received, received) == 0


def test_a_statement_with_bad_rows_reports_each_and_keeps_every_good_row(client, factory, market):
    slip = _slip(client, market)
    other_user, other_headers = market.bidder_user()
    other = _slip(client, market, headers=other_headers, account="6217001234567890")
    rows = [
        f"T001,{_when(3)},{slip['sub_account']},{slip['payer_account']},甲公司,\"100,000.00\",CNY,{slip['reference']}",
        f"T002,{_when(2)},{other['sub_account']},6217009999999999,乙公司,100000.00,CNY,{other['reference']}",
        f"T003,{_when(2)},{other['sub_account']},{other['payer_account']},乙公司,100000.00,CNY,BZUNKNOWN0",
        f"T004,yesterday,{other['sub_account']},{other['payer_account']},乙公司,100000.00,CNY,{other['reference']}",
        f"T005,{_when(2)},{other['sub_account']},{other['payer_account']},乙公司,-5,CNY,{other['reference']}",
        f"T006,{_when(2)},{other['sub_account']},{other['payer_account']},乙公司,100000.00,USD,{other['reference']}",
        f"T001,{_when(1)},{slip['sub_account']},{slip['payer_account']},甲公司,1.00,CNY,{slip['reference']}",
        f"T007,{_when(1)},{other['sub_account']},{other['payer_account']},乙公司,100000.00,CNY,{other['reference']}",
    ]
    admin = factory.user(Role.ADMIN)
    batch = deposits.import_statement(("\ufeff" + HEADER + "\n".join(rows)).encode(), "对账单.csv", admin)
    db.session.commit()
    assert (batch.rows_total, batch.rows_matched, batch.rows_bad) == (8, 2, 6)
    problems = {row["line"]: row["problem"] for row in json.loads(batch.report)}
    assert "payer account differs" in problems[3] and "no deposit slip" in problems[4]
    assert "value_time" in problems[5] and "positive" in problems[6] and "CNY" in problems[7]
    assert "duplicate transaction_id" in problems[8]
    kept = db.session.scalars(sa.select(Deposit).order_by(Deposit.transaction_id)).all()
    assert [(d.transaction_id, d.amount) for d in kept] == [("T001", Decimal("100000.00")), ("T007", Decimal("100000.00"))]
    again = deposits.import_statement((HEADER + rows[0]).encode(), "again.csv", admin)
    assert again.rows_matched == 0 and "already imported" in again.report


def test_a_file_without_the_columns_is_refused_whole(factory, market):
    admin = factory.user(Role.ADMIN)
    with pytest.raises(ValidationError) as refused:
        deposits.import_statement("流水号,金额\nT1,100\n".encode(), "x.csv", admin)
    assert "missing columns" in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count(StatementImport.id))) == 0


def test_a_deposit_secures_the_bid_and_is_refunded_with_interest(client, factory, market):
    slip = _slip(client, market)
    admin = factory.user(Role.ADMIN)
    deposits.import_statement((HEADER + f"T100,{_when(10)},{slip['sub_account']},{slip['payer_account']},甲,"
                                        f"100000.00,CNY,{slip['reference']}").encode(), "s.csv", admin)
    db.session.commit()
    report = verify_for_section(market.section, market.bidder.organisation)
    assert report.ok and report.basis == "deposit"
    release.release_non_candidates(market.section, {market.factory.org().id})
    db.session.commit()
    refund = db.session.scalar(sa.select(DepositRefund))
    assert refund.days == 10 and refund.annual_rate == Decimal("0.003500")
    assert refund.interest == refund_interest(Decimal("100000.00"), 10, Decimal("0.0035")) == Decimal("9.72")
    assert refund.total == Decimal("100009.72") and refund.payee_account == slip["payer_account"]
    assert db.session.scalar(sa.select(Deposit)).state is DepositState.REFUNDED
    assert verify_for_section(market.section, market.bidder.organisation).failed == ["deposit_amount",
                                                                                     "deposit_standing"]


def test_the_rate_is_configured(app, client, factory, market):
    app.config["GUARANTEE_RULES"] = SecurityRules(demand_deposit_rate=Decimal("0.0010"))
    try:
        slip = _slip(client, market)
        admin = factory.user(Role.ADMIN)
        deposits.import_statement((HEADER + f"T200,{_when(36)},{slip['sub_account']},{slip['payer_account']},甲,"
                                            f"100000.00,CNY,{slip['reference']}").encode(), "s.csv", admin)
        refund = deposits.refund(db.session.scalar(sa.select(Deposit)), "test")
        assert refund.interest == Decimal("10.00")  # 100000 × 0.001 × 36 ÷ 360
    finally:
        app.config.pop("GUARANTEE_RULES")


def test_a_late_or_short_deposit_fails_verification_by_name(client, factory, market):
    slip = _slip(client, market)
    admin = factory.user(Role.ADMIN)
    deposits.import_statement((HEADER + f"T300,{_when(1)},{slip['sub_account']},{slip['payer_account']},甲,"
                                        f"50000.00,CNY,{slip['reference']}").encode(), "s.csv", admin)
    db.session.commit()
    assert verify_for_section(market.section, market.bidder.organisation).failed == ["deposit_amount"]
    market.section.deadline = now() - timedelta(days=2)
    db.session.commit()
    assert "deposit_before_deadline" in verify_for_section(market.section, market.bidder.organisation).failed


def test_slip_input_is_checked(client, market):
    url = f"/api/v1/sections/{market.section.id}/deposit-slip"
    response = client.post(url, json={"payer_account": "12ab", "payer_name": "x"}, headers=market.bidder_headers)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "payer_account"
    _slip(client, market)
    again = client.post(url, json={"payer_account": "6222020200112233445", "payer_name": "x"},
                        headers=market.bidder_headers)
    assert again.status_code == 422
