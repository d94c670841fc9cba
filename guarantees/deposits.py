"""Cash bid security: per-section virtual sub-accounts, bank-statement import, refunds with interest.

A bidder asks for a deposit slip: the section's virtual sub-account, a reference of its own and the account
it will pay from. The trading centre imports the bank's statement (CSV, columns in ``STATEMENT_COLUMNS``);
each row is matched by sub-account, reference and payer account. A bad row is reported with its line and
reason and never stops the good rows. Refunds are computed when the deposit is released: the principal plus
interest at the configured demand-deposit rate for the days held (``guarantees.rules.refund_interest``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, User
from core.clock import format_local, local, now, parse_local
from core.db import db
from core.errors import RuleViolation, ValidationError
from core.notifications import notify
from guarantees.checks import VerificationReport
from guarantees.records import DEPOSIT_STATES, Deposit, DepositRefund, DepositSlip, DepositState, StatementImport
from guarantees.rules import days_held, refund_interest, rules
from trading.models import Section, SectionState

STATEMENT_COLUMNS = ("transaction_id", "value_time", "account", "payer_account", "payer_name", "amount", "currency",
                     "reference")
ACCOUNT = re.compile(r"^\d{8,32}$")
MAX_STATEMENT_BYTES = 5 * 1024 * 1024


def sub_account_for(section: Section) -> str:
    return f"{rules().deposit_account_prefix}{section.id:06d}"


def issue_slip(section: Section, user: User, payer_account: str, payer_name: str) -> DepositSlip:
    """The bidder's payment instruction for this section; the payer account is where the refund goes."""
    from guarantees.waivers import security_requirement

    if section.state is not SectionState.BIDDING or now() >= section.deadline:
        raise RuleViolation("投标截止后不能再缴纳投标保证金 (no deposits after the deadline)")
    if not security_requirement(section).required:
        raise RuleViolation("本标段无需缴纳投标保证金 (this section asks no bid security)")
    payer_account = re.sub(r"\s", "", payer_account or "")
    if not ACCOUNT.match(payer_account):
        raise ValidationError("付款账号应为8–32位数字 (payer account: 8–32 digits)", field="payer_account")
    if not (payer_name or "").strip():
        raise ValidationError("请填写付款户名 (payer name required)", field="payer_name")
    existing = db.session.scalar(sa.select(DepositSlip).where(DepositSlip.section_id == section.id,
                                                              DepositSlip.organisation_id == user.organisation_id))
    if existing is not None:
        raise ValidationError(f"已生成缴款信息，附言 {existing.reference} (a slip exists already)", field="payer_account")
    slip = DepositSlip(section_id=section.id, organisation_id=user.organisation_id, sub_account=sub_account_for(section),
                       reference="BZ" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10)),
                       payer_account=payer_account, payer_name=payer_name.strip()[:200])
    db.session.add(slip)
    db.session.flush()
    audit.record("deposit.slip_issued", slip, actor=user, section_id=section.id, sub_account=slip.sub_account,
                 reference=slip.reference, payer_account=payer_account)
    return slip


def deposits_of(section_id: int, organisation_id: int, *, received_only: bool = False) -> list[Deposit]:
    query = sa.select(Deposit).where(Deposit.section_id == section_id, Deposit.organisation_id == organisation_id)
    if received_only:
        query = query.where(Deposit.state == DepositState.RECEIVED)
    return db.session.scalars(query.order_by(Deposit.id)).all()


def deposit_report(section: Section, organisation: Organisation, at: datetime) -> VerificationReport:
    from guarantees.waivers import security_requirement

    report = VerificationReport(basis="deposit")
    rows = deposits_of(section.id, organisation.id)
    on_time = [d for d in rows if d.received_at < section.deadline]
    held = [d for d in on_time if d.state is DepositState.RECEIVED]
    required = security_requirement(section).amount
    total = sum((d.amount for d in held), Decimal("0"))
    report.add("deposit_before_deadline", bool(on_time), "" if on_time else
               "保证金在投标截止时间后才到账 (the deposit arrived after the deadline)")
    report.add("deposit_amount", total >= required, "" if total >= required else
               f"截止前到账 {total:,.2f} 元，低于投标保证金 {required:,.2f} 元 (deposit below the bid security)")
    report.add("deposit_standing", len(held) == len(on_time) and bool(held), "" if held and len(held) == len(on_time)
               else "保证金已退还 (the deposit was refunded)")
    return report


def _row_problem(row: dict, slips: dict[str, DepositSlip], seen: set[str], imported: set[str]) -> str | None:
    tx = (row.get("transaction_id") or "").strip()
    if not tx:
        return "缺少交易流水号 (transaction_id missing)"
    if tx in seen:
        return "文件内流水号重复 (duplicate transaction_id in the file)"
    if tx in imported:
        return "该流水已导入 (already imported)"
    try:
        parse_local(row.get("value_time") or "")
    except ValueError:
        return f"到账时间格式错误：{row.get('value_time')!r} (value_time: YYYY-MM-DD HH:MM[:SS], Beijing time)"
    try:
        amount = Decimal((row.get("amount") or "").replace(",", "").strip())
    except InvalidOperation:
        return f"金额格式错误：{row.get('amount')!r} (amount is not a number)"
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        return f"金额应为正数且最多两位小数：{row.get('amount')!r} (amount: positive, at most 2 decimals)"
    if (row.get("currency") or "").strip().upper() != "CNY":
        return f"币种应为 CNY：{row.get('currency')!r} (currency must be CNY)"
    slip = slips.get((row.get("reference") or "").strip().upper())
    if slip is None:
        return f"附言 {row.get('reference')!r} 无对应缴款信息 (no deposit slip with this reference)"
    if (row.get("account") or "").strip() != slip.sub_account:
        return f"入账子账户 {row.get('account')!r} 与附言对应的标段子账户 {slip.sub_account} 不符 (wrong sub-account)"
    if re.sub(r"\s", "", row.get("payer_account") or "") != slip.payer_account:
        return f"付款账号 {row.get('payer_account')!r} 与登记的付款账号不符 (payer account differs from the slip)"
    return None


def import_statement(data: bytes, filename: str, user: User) -> StatementImport:
    """Import every good row; report each bad row with its line number and reason."""
    if not data:
        raise ValidationError("文件为空 (the file is empty)", field="file")
    if len(data) > MAX_STATEMENT_BYTES:
        raise ValidationError("对账单文件过大 (statement larger than 5 MiB)", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("对账单应为 UTF-8 编码的 CSV (the statement must be UTF-8 CSV)", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in STATEMENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(f"对账单缺少列：{', '.join(missing)} (missing columns)", field="file")
    rows = list(reader)
    slips = {s.reference: s for s in db.session.scalars(sa.select(DepositSlip).where(DepositSlip.reference.in_(
        {(r.get("reference") or "").strip().upper() for r in rows})))}
    imported = set(db.session.scalars(sa.select(Deposit.transaction_id).where(Deposit.transaction_id.in_(
        {(r.get("transaction_id") or "").strip() for r in rows}))))
    batch = StatementImport(filename=(filename or "statement.csv")[:255], sha256=hashlib.sha256(data).hexdigest(),
                            imported_by_id=user.id, rows_total=len(rows), rows_matched=0, rows_bad=0, report="[]")
    db.session.add(batch)
    db.session.flush()
    bad, seen = [], set()
    for line, row in enumerate(rows, start=2):
        problem = _row_problem(row, slips, seen, imported)
        tx = (row.get("transaction_id") or "").strip()
        seen.add(tx)
        if problem:
            bad.append({"line": line, "transaction_id": tx, "problem": problem})
            continue
        slip = slips[row["reference"].strip().upper()]
        deposit = Deposit(slip_id=slip.id, section_id=slip.section_id, organisation_id=slip.organisation_id,
                          transaction_id=tx, amount=Decimal(row["amount"].replace(",", "").strip()),
                          received_at=parse_local(row["value_time"]), import_id=batch.id)
        db.session.add(deposit)
        db.session.flush()
        audit.record("deposit.received", deposit, actor=user, section_id=slip.section_id,
                     organisation_id=slip.organisation_id, amount=str(deposit.amount), transaction_id=tx)
        members = db.session.scalars(sa.select(User.id).where(User.organisation_id == slip.organisation_id)).all()
        notify(members, "投标保证金已到账", f"{deposit.amount:,.2f} 元，到账时间 {format_local(deposit.received_at)}",
               link=f"/sections/{slip.section_id}/security")
        batch.rows_matched += 1
    batch.rows_bad, batch.report = len(bad), json.dumps(bad, ensure_ascii=False)
    audit.record("deposit.statement_imported", batch, actor=user, filename=batch.filename, sha256=batch.sha256,
                 rows=batch.rows_total, matched=batch.rows_matched, bad=batch.rows_bad)
    return batch


def refund(deposit: Deposit, reason: str, at: datetime | None = None) -> DepositRefund:
    """Refund principal plus demand-deposit interest for the days held (rounded half-up to the fen)."""
    moment = at or now()
    DEPOSIT_STATES.check(deposit.state, DepositState.REFUNDED)
    settings = rules()
    days = days_held(local(deposit.received_at).date(), local(moment).date())
    interest = refund_interest(deposit.amount, days, settings.demand_deposit_rate, settings.day_count_basis)
    row = DepositRefund(deposit=deposit, principal=deposit.amount, interest=interest, total=deposit.amount + interest,
                        days=days, annual_rate=settings.demand_deposit_rate, reason=reason,
                        payee_account=deposit.slip.payer_account, instructed_at=moment)
    deposit.state = DepositState.REFUNDED
    db.session.add(row)
    audit.record("deposit.refunded", deposit, reason=reason, principal=str(deposit.amount), interest=str(interest),
                 days=days, rate=str(settings.demand_deposit_rate), payee_account=row.payee_account)
    members = db.session.scalars(sa.select(User.id).where(User.organisation_id == deposit.organisation_id)).all()
    notify(members, "投标保证金已退还", f"本金 {deposit.amount:,.2f} 元，利息 {interest:,.2f} 元（{days} 天）",
           link=f"/sections/{deposit.section_id}/security")
    return row


def refund_held(section_id: int, organisation_id: int | None, reason: str) -> list[DepositRefund]:
    query = sa.select(Deposit).where(Deposit.section_id == section_id, Deposit.state == DepositState.RECEIVED)
    if organisation_id is not None:
        query = query.where(Deposit.organisation_id == organisation_id)
    return [refund(d, reason) for d in db.session.scalars(query.order_by(Deposit.id)).all()]
