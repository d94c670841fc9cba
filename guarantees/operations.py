"""A guarantee application's life up to the issued guarantee, and what the bidder and issuer do with it after.

Every function checks, mutates through ``verification.move`` (the state machine plus the audit record) and
leaves the commit to its caller. A refusal raises a DomainError naming the field or rule, changing nothing.
"""
from __future__ import annotations

import io
import json
from datetime import date, timedelta

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, OrgKind, User
from core.clock import local, now
from core.counters import next_value
from core.db import db
from core.errors import DomainError, NotFound, RuleViolation, ValidationError
from core.notifications import notify
from core.pki import Purpose, current_certificate, platform
from core.storage import StoredFile, write_stream
from crypto.canonical import canonical_json, format_utc, parse_utc
from crypto.signing import sign_document
from guarantees import protocol
from guarantees.checks import VerificationReport, check_guarantee
from guarantees.models import (
    GUARANTEE_STATES,
    Guarantee,
    GuaranteeKind,
    GuaranteeProduct,
    GuaranteeState,
    SecurityVerification,
    VerificationStage,
)
from guarantees.notices import enqueue
from guarantees.pdf import pdf_shows_code
from guarantees.records import NoticeKind
from guarantees.rules import minimum_valid_until, premium_for
from guarantees.terms import seal_application_key, terms_of
from guarantees.verification import (
    PlatformTrust,
    expected_for,
    live_guarantees,
    move,
    record_verification,
    terms_key_of,
    verify_guarantee,
)
from guarantees.waivers import security_requirement
from trading.bids import Bid, BidState
from trading.models import ProcurementMethod, Section, SectionState

MAX_PDF_BYTES = 10 * 1024 * 1024


class VerificationFailed(DomainError):
    """验真未通过: the message names every failed check; the JSON carries the whole report."""

    status = 422
    code = "verification_failed"

    def __init__(self, report: VerificationReport):
        super().__init__(f"验真未通过 (verification failed)：{report.summary()}", field=report.failed[0])
        self.report = report

    def to_json(self) -> dict:
        body = super().to_json()
        body["error"]["failed"] = self.report.failed
        body["error"]["report"] = self.report.to_json()
        return body


def _members(organisation_id: int) -> list[int]:
    return db.session.scalars(sa.select(User.id).where(User.organisation_id == organisation_id)).all()


# -- the bidder applies ------------------------------------------------------------------------------------------

def apply(section: Section, user: User, product: GuaranteeProduct | None, *, cipher: bool) -> Guarantee:
    """申请电子保函: the application fills itself in from the section, the tenderee and the bidder."""
    organisation = user.organisation
    if organisation is None or organisation.kind is not OrgKind.BIDDER:
        raise ValidationError("只有投标人可以申请投标保函 (only bidders apply)")
    if section.state is not SectionState.BIDDING or now() >= section.deadline:
        raise RuleViolation("投标截止后不能再申请投标保函 (no applications after the deadline)", code="deadline_passed")
    if section.project.method is ProcurementMethod.INVITED and not any(
            inv.organisation_id == organisation.id for inv in section.project.invitations):
        raise RuleViolation("本项目为邀请招标，贵单位不在邀请名单中 (your organisation was not invited)")
    requirement = security_requirement(section)
    if not requirement.required:
        raise RuleViolation(f"本标段无需投标保证金：{requirement.description}", code="security_not_required")
    if product is None or not product.active:
        raise ValidationError("请选择在售的保函产品 (choose an active guarantee product)", field="product_id")
    existing = live_guarantees(section.id, organisation.id)
    if existing:
        raise RuleViolation(f"贵单位在本标段已有保函申请 {existing[0].application_no}（{existing[0].state_label}），"
                            f"同一投标人同一标段只能有一份 (duplicate application: one per bidder per section)",
                            code="duplicate_application", field="product_id")
    amount = requirement.amount
    if not product.min_amount <= amount <= product.max_amount:
        raise ValidationError(f"担保金额 {amount:,.2f} 元不在产品承保范围 {product.min_amount:,.2f}–"
                              f"{product.max_amount:,.2f} 元内 (amount outside the product's limits)", field="product_id")
    valid_until = minimum_valid_until(section)
    if (valid_until - local(now()).date()).days > product.max_validity_days:
        raise ValidationError(f"所需有效期超过产品最长 {product.max_validity_days} 天 (validity beyond the product's "
                              f"limit)", field="product_id")
    if cipher and not product.supports_cipher:
        raise ValidationError("该产品不支持密文保函 (this product offers no cipher guarantees)", field="cipher")
    if current_certificate(product.issuer, Purpose.SIGNING) is None:
        raise RuleViolation("该出函机构尚未接入（无有效签名证书）(the issuer has no valid signing certificate yet)",
                            field="product_id")
    number = f"BH{local(now()):%Y%m%d}{next_value('guarantee_application'):06d}"
    premium = premium_for(amount, product.premium_rate, product.minimum_premium)
    guarantee = Guarantee(application_no=number, section_id=section.id, organisation_id=organisation.id,
                          issuer_id=product.issuer_id, product_id=product.id, applicant_id=user.id,
                          kind=GuaranteeKind.CIPHER if cipher else GuaranteeKind.PLAIN, amount=amount,
                          premium=premium, valid_until_min=valid_until, application_document="", live=1,
                          applied_at=now())
    payload = {
        "type": protocol.APPLICATION_TYPE, "application_no": number, "kind": guarantee.kind.value,
        "product": {"code": product.code, "name": product.name, "form": product.form.value},
        "guarantor": {"name": product.issuer.name, "credit_code": product.issuer.credit_code},
        "principal": {"name": organisation.name, "credit_code": organisation.credit_code,
                      "legal_representative": organisation.legal_representative or ""},
        "amount": protocol.money(amount), "currency": "CNY", "bid_deadline": format_utc(section.deadline),
        "bid_validity_days": section.bid_validity_days, "valid_until_min": valid_until.isoformat(),
        "premium": protocol.money(premium), "created_at": format_utc(now()),
    }
    if cipher:
        key = protocol.new_terms_key()
        payload["sealed_terms"] = protocol.seal_terms(terms_of(section), key, number)
        guarantee.sealed_key = seal_application_key(key, number)
        guarantee.key_digest = payload["sealed_terms"]["key_digest"]
    else:
        payload["terms"] = terms_of(section)
    identity = platform()
    guarantee.application_document = canonical_json(
        sign_document(payload, identity.signing_key, identity.signing_certificate)).decode()
    db.session.add(guarantee)
    db.session.flush()
    audit.record("guarantee.applied", guarantee, actor=user, application_no=number, section_id=section.id,
                 issuer_id=product.issuer_id, product=product.code, kind=guarantee.kind.value, amount=str(amount),
                 premium=str(premium))
    enqueue(product.issuer_id, NoticeKind.APPLICATION, guarantee, {"application_no": number})
    return guarantee


def application_payload(guarantee: Guarantee) -> dict:
    return json.loads(guarantee.application_document)["payload"]


# -- the issuer decides and issues --------------------------------------------------------------------------------

def _issuer_owns(guarantee: Guarantee, issuer: Organisation) -> None:
    if guarantee.issuer_id != issuer.id:
        raise NotFound("没有这份保函申请 (no such application)")


def approve(guarantee: Guarantee, issuer: Organisation, note: str = "", actor: User | None = None) -> None:
    _issuer_owns(guarantee, issuer)
    GUARANTEE_STATES.check(guarantee.state, GuaranteeState.APPROVED)
    guarantee.decided_at, guarantee.decision_reason = now(), (note or "").strip()[:500] or None
    move(guarantee, GuaranteeState.APPROVED, issuer_id=issuer.id, note=guarantee.decision_reason,
         by=actor.username if actor else "issuer-api")
    notify(_members(guarantee.organisation_id), f"保函申请已核保：{guarantee.application_no}", issuer.name,
           link=f"/sections/{guarantee.section_id}/security")


def reject(guarantee: Guarantee, issuer: Organisation, reason: str, actor: User | None = None) -> None:
    _issuer_owns(guarantee, issuer)
    if not (reason or "").strip():
        raise ValidationError("请填写拒绝原因 (a reason is required)", field="reason")
    GUARANTEE_STATES.check(guarantee.state, GuaranteeState.REJECTED)
    guarantee.decided_at, guarantee.decision_reason = now(), reason.strip()[:500]
    move(guarantee, GuaranteeState.REJECTED, issuer_id=issuer.id, reason=guarantee.decision_reason,
         by=actor.username if actor else "issuer-api")
    notify(_members(guarantee.organisation_id), f"保函申请被拒绝：{guarantee.application_no}",
           f"{issuer.name}：{guarantee.decision_reason}", link=f"/sections/{guarantee.section_id}/security")


def issue(guarantee: Guarantee, issuer: Organisation, document: dict, pdf: bytes, pdf_sha256: str) -> VerificationReport:
    """出函: take the issuer's signed document and PDF, check everything, store, and verify at once."""
    _issuer_owns(guarantee, issuer)
    GUARANTEE_STATES.check(guarantee.state, GuaranteeState.ISSUED)
    section, organisation = guarantee.section, guarantee.organisation
    payload = document.get("payload") if isinstance(document, dict) else None
    number = str((payload or {}).get("guarantee_no", ""))
    if not protocol.GUARANTEE_NO_PATTERN.match(number):
        raise ValidationError("保函编号应为4–40位字母、数字或 - (guarantee_no)", field="document.payload.guarantee_no")
    if db.session.scalar(sa.select(Guarantee.id).where(Guarantee.issuer_id == issuer.id,
                                                        Guarantee.guarantee_no == number)):
        raise RuleViolation(f"保函编号 {number} 已被使用 (guarantee number already used)", code="duplicate_guarantee_no",
                            field="document.payload.guarantee_no")
    report = check_guarantee(document, expected_for(section, organisation), trust=PlatformTrust(),
                             terms_key=terms_key_of(guarantee), application=application_payload(guarantee),
                             stage_issue=True)
    issued_at = parse_utc(payload["issued_at"]) if report.ok else None
    if issued_at is not None and (now() >= section.deadline or issued_at > now() + timedelta(minutes=5)):
        report.checks = [c for c in report.checks if c.name != "issued_before_deadline"]
        report.add("issued_before_deadline", False, "保函在投标截止后送达，或开立时间晚于当前时间 (received after the "
                                                     "deadline, or issued_at lies in the future)")
    if not report.ok:
        raise VerificationFailed(report)
    code = protocol.verification_code(protocol.document_hash(document))
    if len(pdf) > MAX_PDF_BYTES or not pdf.startswith(b"%PDF-"):
        raise ValidationError("保函文件应为不超过 10 MiB 的 PDF (the file must be a PDF up to 10 MiB)", field="pdf")
    if protocol.sha256_hex(pdf) != (pdf_sha256 or "").lower():
        raise ValidationError("PDF 的 SHA-256 与声明的不符 (pdf_sha256 does not match the file)", field="pdf_sha256")
    if not pdf_shows_code(pdf, code):
        raise ValidationError(f"PDF 上没有验真码 {code} (the PDF must show the verification code)", field="pdf")
    written = write_stream(io.BytesIO(pdf), area="guarantees", max_bytes=MAX_PDF_BYTES, field="pdf")
    stored = StoredFile(key=written.key, filename=f"{number}.pdf", content_type="application/pdf", size=written.size,
                        sha256=written.sha256)
    db.session.add(stored)
    db.session.flush()
    guarantee.guarantee_no, guarantee.document = number, canonical_json(document).decode()
    guarantee.document_hash, guarantee.verification_code = protocol.document_hash(document), code
    guarantee.issued_at = issued_at
    guarantee.valid_from = date.fromisoformat(payload["valid_from"])
    guarantee.valid_until = date.fromisoformat(payload["valid_until"])
    guarantee.received_at, guarantee.pdf_file_id = now(), stored.id
    move(guarantee, GuaranteeState.ISSUED, document_hash=guarantee.document_hash, pdf_sha256=written.sha256,
         valid_until=payload["valid_until"])
    notify(_members(guarantee.organisation_id), f"电子保函已出具：{number}", issuer.name,
           link=f"/sections/{guarantee.section_id}/security")
    db.session.flush()
    verified, _row = record_verification(section, organisation, VerificationStage.ISSUE)
    return verified


# -- what the bidder does with it -----------------------------------------------------------------------------------

def present(section: Section, user: User, document) -> VerificationReport:
    """The bidder presents a guarantee file for this section: every check runs; only a pass is recorded."""
    organisation = user.organisation
    payload = document.get("payload") if isinstance(document, dict) else None
    registered = None
    if isinstance(payload, dict) and isinstance(payload.get("guarantor"), dict):
        registered = db.session.scalar(sa.select(Guarantee).join(Organisation, Organisation.id == Guarantee.issuer_id)
                                       .where(Guarantee.guarantee_no == str(payload.get("guarantee_no", "")),
                                              Organisation.credit_code == str(payload["guarantor"].get("credit_code"))))
    if registered is not None and registered.document is not None:
        report = verify_guarantee(registered, section, organisation, document=document)
    else:
        report = check_guarantee(document, expected_for(section, organisation), trust=PlatformTrust())
    if not report.ok:
        audit.record("guarantee.presentation_refused", object_type="sections", object_id=section.id, actor=user,
                     organisation_id=organisation.id, guarantee_no=report.guarantee_no, failed=report.failed)
        return report
    db.session.add(SecurityVerification(section_id=section.id, organisation_id=organisation.id,
                                        guarantee_id=registered.id, stage=VerificationStage.PRESENTED, ok=True,
                                        report=canonical_json(report.to_json()).decode(), at=now()))
    audit.record("security.verified", object_type="sections", object_id=section.id, actor=user,
                 stage=VerificationStage.PRESENTED.value, organisation_id=organisation.id, basis="guarantee", ok=True,
                 failed=[], guarantee_no=report.guarantee_no)
    if registered.state is GuaranteeState.ISSUED:
        move(registered, GuaranteeState.VERIFIED, stage=VerificationStage.PRESENTED.value)
    return report


def request_surrender(guarantee: Guarantee, user: User) -> None:
    """退保申请: the bidder gives the guarantee back (not while a submitted bid relies on it)."""
    if guarantee.state not in (GuaranteeState.ISSUED, GuaranteeState.VERIFIED):
        raise RuleViolation(f"保函状态为“{guarantee.state_label}”，不能退保 (cannot surrender in this state)")
    if guarantee.surrender_requested_at is not None:
        raise RuleViolation("已申请退保，等待出函机构确认 (surrender already requested)")
    if db.session.scalar(sa.select(Bid.id).where(Bid.section_id == guarantee.section_id, Bid.state == BidState.SUBMITTED,
                                                 Bid.organisation_id == guarantee.organisation_id).limit(1)):
        raise RuleViolation("已递交的投标文件依赖此保函，请先撤回投标文件 (a submitted bid relies on it: withdraw it first)")
    guarantee.surrender_requested_at = now()
    audit.record("guarantee.surrender_requested", guarantee, actor=user, guarantee_no=guarantee.guarantee_no)
    enqueue(guarantee.issuer_id, NoticeKind.SURRENDER_REQUEST, guarantee, {"requested_at": format_utc(now())})


def surrender(guarantee: Guarantee, issuer: Organisation, reason: str = "") -> None:
    """退保结果: the issuer confirms a surrender the bidder asked for."""
    _issuer_owns(guarantee, issuer)
    if guarantee.surrender_requested_at is None:
        raise RuleViolation("投标人未申请退保 (the bidder has not asked to surrender)", code="surrender_not_requested")
    GUARANTEE_STATES.check(guarantee.state, GuaranteeState.SURRENDERED)
    guarantee.end_reason = "surrendered"
    move(guarantee, GuaranteeState.SURRENDERED, reason=(reason or "").strip()[:300])
    notify(_members(guarantee.organisation_id), f"保函已退保：{guarantee.guarantee_no}", issuer.name,
           link=f"/sections/{guarantee.section_id}/security")


def update_status(guarantee: Guarantee, issuer: Organisation, status: str, reason: str = "") -> None:
    """The issuer reports a status change; today that is expiry once the validity has ended."""
    _issuer_owns(guarantee, issuer)
    if status != GuaranteeState.EXPIRED.value:
        raise ValidationError("出函机构只能报告 expired 状态；退保、索赔各有接口 (only 'expired' is reported here)",
                              field="status")
    if guarantee.valid_until is None or guarantee.valid_until >= local(now()).date():
        raise RuleViolation(f"保函有效期至 {guarantee.valid_until}，尚未到期 (not yet expired)", field="status")
    guarantee.end_reason = "expired"
    move(guarantee, GuaranteeState.EXPIRED, reason=(reason or "").strip()[:300], by="issuer-api")
