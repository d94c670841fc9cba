"""The checks of 验真 (rules.md §4), each named, on one guarantee document: pure, no database.

The caller says what the section requires (:class:`Expected`), what the issuer registered with the platform
(:class:`Registered`) and whom to trust (:class:`Trust`); :func:`check_guarantee` runs every check that
applies and returns a :class:`VerificationReport` naming each one that failed. A check that cannot be made
because an earlier one failed (no signer certificate, terms that do not open) fails with that reason.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from crypto.canonical import CanonicalJSONError, parse_utc
from crypto.signing import SignatureError, verify_document
from guarantees import protocol

#: Every check, in the order they run, with its name for people (Chinese, English).
CHECK_LABELS: dict[str, tuple[str, str]] = {
    "format": ("保函格式", "document format"),
    "application": ("与申请一致", "matches the application"),
    "certificate": ("出函机构证书", "issuer certificate trusted and not revoked"),
    "signature": ("出函机构签名", "issuer signature"),
    "registered": ("出函登记", "registered by the issuer"),
    "document_hash": ("文件哈希", "document hash matches the issuer's"),
    "section": ("项目与标段", "project and section"),
    "beneficiary": ("受益人", "beneficiary is the tenderee"),
    "principal": ("被保证人", "principal is the bidder"),
    "amount": ("担保金额", "amount covers the bid security"),
    "validity": ("有效期", "validity covers the deadline plus the bid validity"),
    "not_expired": ("未过期", "not expired"),
    "issued_before_deadline": ("出函时间", "issued before the deadline"),
    "standing": ("保函状态", "not surrendered, claimed or released"),
    "unique": ("唯一性", "the only guarantee of this bidder in this section"),
    "deposit_before_deadline": ("保证金到账时间", "deposit received before the deadline"),
    "deposit_amount": ("保证金金额", "deposit covers the bid security"),
    "deposit_standing": ("保证金状态", "deposit held, not refunded"),
    "waived": ("免收投标保证金", "bid security waived"),
    "not_required": ("无需投标保证金", "no bid security asked"),
    "missing": ("投标保证金", "bid security posted"),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    message: str = ""

    @property
    def label(self) -> str:
        zh, en = CHECK_LABELS.get(self.name, (self.name, self.name))
        return f"{zh} ({en})"

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "message": self.message}


@dataclass
class VerificationReport:
    """The result of one verification: every check run, and what the bid security rests on."""

    basis: str                      # guarantee | deposit | waived | not_required | missing
    checks: list[CheckResult] = field(default_factory=list)
    guarantee_no: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.failures]

    def add(self, name: str, ok: bool, message: str = "") -> None:
        self.checks.append(CheckResult(name, ok, message))

    def summary(self) -> str:
        if self.ok:
            return "验真通过 (verification passed)"
        return "；".join(f"{c.label}：{c.message}" for c in self.failures)

    def to_json(self) -> dict:
        return {"basis": self.basis, "ok": self.ok, "guarantee_no": self.guarantee_no,
                "failed": self.failed, "checks": [c.to_json() for c in self.checks]}


@dataclass(frozen=True)
class Expected:
    """What the section requires of this bidder's guarantee."""

    project_code: str
    section_code: str
    beneficiary_name: str
    beneficiary_credit_code: str
    principal_credit_code: str
    amount: Decimal
    valid_until_min: date
    deadline: datetime
    deadline_date: date         # the deadline's date in Beijing time
    today: date


@dataclass(frozen=True)
class Registered:
    """The issuer's guarantee as registered with the platform (pushed through the issuer API)."""

    document_hash: str
    state: str
    state_label: str
    received_at: datetime
    bound_here: bool            # registered for this section and this bidder
    other_live: int             # other live guarantees of this bidder in this section


class Trust(Protocol):
    def certificate_for(self, fingerprint: str) -> tuple[Any, str] | None:
        """The signer's certificate and its holder's credit code, if the platform issued it."""

    def problem_with(self, certificate: Any) -> str | None:
        """Why the certificate cannot be trusted now (revoked, expired, not the platform's), or None."""


_ENDED = {"surrendered": "已退保", "claimed": "索赔中", "paid": "已赔付", "refused": "已拒赔", "released": "已释放",
          "expired": "已过期", "rejected": "已拒绝"}
_REQUIRED = ("guarantee_no", "application_no", "kind", "form", "guarantor", "principal", "amount", "currency",
             "valid_from", "valid_until", "issued_at")


def _payload_of(document: Any, report: VerificationReport) -> Mapping[str, Any] | None:
    payload = document.get("payload") if isinstance(document, Mapping) else None
    if not isinstance(payload, Mapping) or payload.get("type") != protocol.GUARANTEE_TYPE:
        report.add("format", False, f"不是电子保函文件 (not a {protocol.GUARANTEE_TYPE} document)")
        return None
    missing = [k for k in _REQUIRED if k not in payload]
    if missing or not ("terms" in payload or "sealed_terms" in payload):
        report.add("format", False, f"缺少字段 {', '.join(missing) or 'terms'} (missing fields)")
        return None
    try:
        date.fromisoformat(payload["valid_from"]), date.fromisoformat(payload["valid_until"])
        parse_utc(payload["issued_at"]), Decimal(payload["amount"])
        payload["guarantor"]["credit_code"], payload["principal"]["credit_code"]
    except (TypeError, ValueError, KeyError, InvalidOperation, CanonicalJSONError) as exc:
        report.add("format", False, f"字段格式错误 (malformed field): {exc}")
        return None
    report.add("format", True)
    return payload


def check_guarantee(document: Any, expected: Expected, *, trust: Trust, registered: Registered | None = None,
                    terms_key: bytes | None = None, application: Mapping[str, Any] | None = None,
                    stage_issue: bool = False) -> VerificationReport:
    """Run every check of rules.md §4 on ``document`` for the section and bidder in ``expected``.

    ``terms_key`` opens a cipher guarantee's sealed terms (the platform holds it). With ``application`` the
    document must match the order it answers (the issue step). ``stage_issue`` is the issuer's push: the
    registry checks (registered, hash, standing, uniqueness) do not apply yet.
    """
    report = VerificationReport(basis="guarantee")
    payload = _payload_of(document, report)
    if payload is None:
        return report
    report.guarantee_no = str(payload["guarantee_no"])
    if application is not None:
        _check_application(report, payload, application)
    _check_signature(report, document, payload, trust)
    if not stage_issue:
        _check_registry(report, document, registered)
    _check_terms(report, payload, expected, terms_key)
    _check_money_and_dates(report, payload, expected, registered)
    if not stage_issue:
        _check_standing(report, registered)
    return report


def _check_application(report: VerificationReport, payload: Mapping, application: Mapping) -> None:
    problems = []
    for key in ("application_no", "kind", "amount", "currency"):
        if payload.get(key) != application.get(key):
            problems.append(f"{key}: {payload.get(key)!r} ≠ {application.get(key)!r}")
    if payload.get("form") != application["product"]["form"]:
        problems.append(f"form: {payload.get('form')!r} ≠ {application['product']['form']!r}")
    if payload["guarantor"].get("credit_code") != application["guarantor"]["credit_code"]:
        problems.append("guarantor")
    if payload.get("sealed_terms") != application.get("sealed_terms") or \
            payload.get("terms") != application.get("terms"):
        problems.append("terms")
    report.add("application", not problems,
               "" if not problems else f"与申请不一致 (differs from the application): {'; '.join(problems)}")


def _check_signature(report: VerificationReport, document: Mapping, payload: Mapping, trust: Trust) -> None:
    signer = (document.get("signature") or {}).get("signer") if isinstance(document.get("signature"), Mapping) else None
    found = trust.certificate_for(signer) if isinstance(signer, str) else None
    if found is None:
        report.add("certificate", False, "签名证书不是本平台为出函机构签发的证书 (the signing certificate is not an "
                                         "issuer certificate of this platform)")
        report.add("signature", False, "无可信证书，无法验证签名 (no trusted certificate to check the signature)")
        return
    certificate, holder_code = found
    problem = trust.problem_with(certificate)
    if problem is None and holder_code != payload["guarantor"]["credit_code"]:
        problem = (f"证书持有人 {holder_code} 不是保函上的出函机构 {payload['guarantor']['credit_code']} "
                   f"(the certificate holder is not the guarantor named)")
    report.add("certificate", problem is None, problem or "")
    try:
        verify_document(document, certificate)
        report.add("signature", True)
    except SignatureError as exc:
        report.add("signature", False, f"签名无效：保函内容被改动或非出函机构签署 (signature invalid: {exc})")


def _check_registry(report: VerificationReport, document: Mapping, registered: Registered | None) -> None:
    if registered is None:
        report.add("registered", False, "出函机构未向平台登记此保函 (the issuer never registered this guarantee)")
        report.add("document_hash", False, "无登记的文件哈希可比对 (no registered hash to compare)")
        return
    report.add("registered", True)
    actual = protocol.document_hash(document)
    report.add("document_hash", actual == registered.document_hash,
               "" if actual == registered.document_hash else
               f"文件哈希 {actual[:16]}… 与出函机构登记的 {registered.document_hash[:16]}… 不符 (document hash differs)")


def _check_terms(report: VerificationReport, payload: Mapping, expected: Expected, terms_key: bytes | None) -> None:
    terms = payload.get("terms")
    if "sealed_terms" in payload:
        if terms_key is None:
            reason = "密文保函无法解密：未登记 (cipher terms cannot be opened: not registered)"
            report.add("section", False, reason)
            report.add("beneficiary", False, reason)
            terms = None
        else:
            try:
                terms = protocol.open_terms(payload["sealed_terms"], terms_key, str(payload["application_no"]))
            except protocol.TermsError as exc:
                report.add("section", False, f"密文无法解密 (sealed terms): {exc}")
                report.add("beneficiary", False, f"密文无法解密 (sealed terms): {exc}")
                terms = None
        if terms is None:
            _check_principal(report, payload, expected)
            return
    if not isinstance(terms, Mapping):
        terms = {}
    section_ok = (terms.get("project_code"), terms.get("section_code")) == (expected.project_code,
                                                                             expected.section_code)
    report.add("section", section_ok, "" if section_ok else
               f"保函为 {terms.get('project_code')}/{terms.get('section_code')}，本标段为 {expected.project_code}/"
               f"{expected.section_code} (issued for another section)")
    beneficiary = terms.get("beneficiary") if isinstance(terms.get("beneficiary"), Mapping) else {}
    ben_ok = beneficiary.get("credit_code") == expected.beneficiary_credit_code
    report.add("beneficiary", ben_ok, "" if ben_ok else
               f"受益人 {beneficiary.get('name')}（{beneficiary.get('credit_code')}）不是招标人 {expected.beneficiary_name}"
               f"（{expected.beneficiary_credit_code}）(the beneficiary is not the tenderee)")
    _check_principal(report, payload, expected)


def _check_principal(report: VerificationReport, payload: Mapping, expected: Expected) -> None:
    code = payload["principal"].get("credit_code")
    report.add("principal", code == expected.principal_credit_code, "" if code == expected.principal_credit_code else
               f"被保证人 {code} 不是投标人 {expected.principal_credit_code} (the principal is not the bidder)")


def _check_money_and_dates(report: VerificationReport, payload: Mapping, expected: Expected,
                           registered: Registered | None) -> None:
    amount = Decimal(payload["amount"])
    amount_ok = amount >= expected.amount and payload.get("currency") == "CNY"
    report.add("amount", amount_ok, "" if amount_ok else
               f"担保金额 {amount:,.2f} {payload.get('currency')} 低于投标保证金 {expected.amount:,.2f} CNY "
               f"(the amount does not cover the bid security)")
    valid_from, valid_until = date.fromisoformat(payload["valid_from"]), date.fromisoformat(payload["valid_until"])
    validity_ok = valid_until >= expected.valid_until_min and valid_from <= expected.deadline_date
    report.add("validity", validity_ok, "" if validity_ok else
               f"有效期 {valid_from}–{valid_until} 未覆盖截止日至 {expected.valid_until_min} (the validity must cover "
               f"the deadline to {expected.valid_until_min})")
    report.add("not_expired", valid_until >= expected.today, "" if valid_until >= expected.today else
               f"保函已于 {valid_until} 到期 (the guarantee expired on {valid_until})")
    issued_at = parse_utc(payload["issued_at"])
    received = registered.received_at if registered else None
    in_time = issued_at < expected.deadline and (received is None or received < expected.deadline)
    report.add("issued_before_deadline", in_time, "" if in_time else
               "保函开立或登记晚于投标截止时间 (issued or registered after the bid deadline)")


def _check_standing(report: VerificationReport, registered: Registered | None) -> None:
    if registered is None:
        report.add("standing", False, "未登记，状态不明 (not registered: standing unknown)")
        report.add("unique", False, "未登记 (not registered)")
        return
    ended = registered.state in _ENDED
    report.add("standing", not ended, "" if not ended else
               f"保函状态为“{registered.state_label}”，不能作为投标保证金 (the guarantee is {registered.state})")
    unique = registered.bound_here and registered.other_live == 0
    if not registered.bound_here:
        message = "该保函已登记用于其他标段或其他投标人，不能重复使用 (registered for another section or bidder: no reuse)"
    else:
        message = f"该投标人在本标段另有 {registered.other_live} 份保函 (other guarantees for this bidder here)"
    report.add("unique", unique, "" if unique else message)
