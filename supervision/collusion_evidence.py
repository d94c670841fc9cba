"""Bid-rigging clues from the platform's own records, after the opening (rules.md §5; 实施条例第40条).

:func:`build_evidence` reads what the platform knows of each bid of a section into the pure analysis's
``BidEvidence``: the creation fingerprint and per-module file hashes of the bid package's manifest
(docs/bid-package.md), the technical module's text from the decrypted package, the upload, decryption and
download IPs, the price and project manager from the read-out price form, the upload time, the signing
certificate, the deposit payer account from the guarantees records, and a contact person or phone where the
price form carries one. :func:`run_analysis` stores the report; only supervisors ever see it, and a supervisor
may attach it to the evaluation record (:func:`attached_clues` is what the evaluation reads).
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import fields
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core import audit
from core.accounts import Organisation, User
from core.clock import now
from core.db import db
from core.errors import RuleViolation, ValidationError
from supervision.collusion import (
    BidEvidence,
    CollusionThresholds,
    Level,
    analyze_section,
)
from supervision.collusion.thresholds import DEFAULT_IGNORED_MACS
from supervision.models import CLUE_REVIEWS, ClueReview, CollusionAnalysis
from trading.bids import Bid
from trading.models import Download, PriceFieldType, Section
from trading.opening import BidDecryption, DecryptionState, Opening, OpeningState

#: The MAC addresses shared by unrelated machines, as the bid package's fingerprint carries them (SHA-256 of
#: 12 lowercase hex digits, docs/bid-package.md).
IGNORED_MAC_HASHES = frozenset(hashlib.sha256(mac.lower().encode()).hexdigest()
                               for mac in DEFAULT_IGNORED_MACS if len(mac) == 12)
MANAGER_KEYS = ("project_manager", "manager")
MANAGER_LABELS = ("项目经理", "项目负责人")
CONTACT_KEYS, CONTACT_LABELS = ("contact", "contact_person"), ("联系人",)
PHONE_KEYS, PHONE_LABELS = ("contact_phone", "phone"), ("联系电话", "电话")
MAX_TEXT_CHARS = 4 * 1024 * 1024


def thresholds() -> CollusionThresholds:
    """Thresholds from ``COLLUSION_THRESHOLDS`` (numbers by field name; ``upload_window_seconds``)."""
    configured = dict(current_app.config.get("COLLUSION_THRESHOLDS", {}))
    window = configured.pop("upload_window_seconds", None)
    known = {f.name for f in fields(CollusionThresholds)}
    values = {k: v for k, v in configured.items() if k in known}
    if window is not None:
        values["upload_window"] = timedelta(seconds=float(window))
    return CollusionThresholds(**values)


def _field(form: dict, section: Section, keys: tuple[str, ...], labels: tuple[str, ...]) -> str | None:
    for f in section.price_form:
        if f.key in keys or any(label in f.label for label in labels):
            value = form.get(f.key)
            if value not in (None, ""):
                return str(value)
    return None


def _price(form: dict, section: Section) -> Decimal | None:
    """The read-out total price: the first money field of the price form (开标一览表)."""
    for f in section.price_form:
        if f.type is PriceFieldType.MONEY and form.get(f.key) not in (None, ""):
            try:
                return Decimal(str(form[f.key]))
            except InvalidOperation:
                return None
    return None


def _text_of(name: str, data: bytes) -> str:
    lower = name.lower()
    if lower.endswith((".txt", ".md", ".csv", ".html", ".htm", ".xml")):
        for encoding in ("utf-8", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
        return data.decode("utf-8", errors="ignore")
    if lower.endswith(".pdf"):
        try:
            from pdfminer.high_level import extract_text
        except ImportError:
            return ""
        try:
            return extract_text(io.BytesIO(data))
        except Exception:  # a malformed PDF in a bid: no text, the other indicators still run
            return ""
    return ""


def technical_text(package: Path) -> str | None:
    """The text of the technical module (技术标) of a decrypted bid package, .txt and .pdf files."""
    parts = []
    with zipfile.ZipFile(package) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not info.filename.startswith("modules/technical/"):
                continue
            parts.append(_text_of(info.filename, archive.read(info)))
    text = "\n".join(p for p in parts if p)
    return text[:MAX_TEXT_CHARS] or None


def _shared_text(section: Section) -> str | None:
    """The tender documents' text: given to every bidder, so it is discounted from the comparison."""
    parts = []
    for document in section.current_documents:
        path = document.file.path
        if path.exists() and document.file.size <= 50 * 1024 * 1024:
            parts.append(_text_of(document.file.filename, path.read_bytes()))
    return "\n".join(p for p in parts if p) or None


def _opening(section: Section) -> Opening:
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if opening is None or opening.state not in (OpeningState.READ_OUT, OpeningState.CLOSED):
        raise RuleViolation("串标分析在开标（唱标）之后进行 (the analysis runs after the opening's read-out)",
                            code="collusion_before_opening")
    return opening


def build_evidence(section: Section) -> tuple[list[BidEvidence], dict[str, dict]]:
    """One BidEvidence per bid of the opening, and who each bid is (bid id → bidder name and credit code)."""
    opening = _opening(section)
    storage = Path(current_app.config["STORAGE_DIR"])
    given = {d.file.sha256 for d in section.documents}
    rows = db.session.execute(sa.select(BidDecryption, Bid, Organisation).join(Bid, Bid.id == BidDecryption.bid_id)
                              .join(Organisation, Organisation.id == Bid.organisation_id)
                              .where(BidDecryption.opening_id == opening.id).order_by(Bid.id)).all()
    downloads = {org: ip for org, ip in db.session.execute(
        sa.select(Download.organisation_id, Download.ip).where(Download.section_id == section.id)
        .order_by(Download.at.desc()))}
    deposit_accounts = _deposit_accounts(section)
    evidence, bidders = [], {}
    for decryption, bid, org in rows:
        opened = decryption.state is DecryptionState.DECRYPTED
        manifest = json.loads(decryption.manifest) if opened and decryption.manifest else {}
        form = json.loads(decryption.price_form) if opened and decryption.price_form else {}
        fingerprint = manifest.get("fingerprint") or {}
        hashes = {f"{module}/{item.get('path')}": item.get("sha256")
                  for module, items in (manifest.get("modules") or {}).items() for item in items
                  if item.get("sha256") and item.get("sha256") not in given}
        mac = fingerprint.get("mac_sha256")
        text = None
        if opened and decryption.plaintext_key and (storage / decryption.plaintext_key).exists():
            text = technical_text(storage / decryption.plaintext_key)
        evidence.append(BidEvidence(
            bid_id=bid.id, bidder_id=org.id, bidder_name=org.name,
            machine_ids=tuple(v for v in [fingerprint.get("machine_id_sha256")] if v),
            mac_addresses=() if not mac or mac in IGNORED_MAC_HASHES else (mac,),
            host_hashes=tuple(v for v in [fingerprint.get("host_sha256")] if v),
            certificate_serial=bid.signer_certificate.serial if bid.signer_certificate else None,
            file_hashes=hashes, technical_text=text, upload_ip=bid.upload_ip,
            decryption_ip=decryption.decryption_ip if not decryption.decrypted_by_escrow else None,
            download_ip=downloads.get(org.id), deposit_account=deposit_accounts.get(org.id),
            contact_person=_field(form, section, CONTACT_KEYS, CONTACT_LABELS),
            contact_phone=_field(form, section, PHONE_KEYS, PHONE_LABELS),
            project_manager=_field(form, section, MANAGER_KEYS, MANAGER_LABELS),
            price=_price(form, section), ceiling_price=section.ceiling_price, uploaded_at=bid.submitted_at))
        bidders[str(bid.id)] = {"organisation_id": org.id, "name": org.name, "credit_code": org.credit_code}
    return evidence, bidders


def _deposit_accounts(section: Section) -> dict[int, str]:
    """The account each bidder paid its cash deposit from (实施条例第40条(六)), when guarantees is installed."""
    from supervision.facts import guarantees_installed

    if not guarantees_installed():
        return {}
    from guarantees.records import DepositSlip

    return {org: account for org, account in db.session.execute(
        sa.select(DepositSlip.organisation_id, DepositSlip.payer_account).where(DepositSlip.section_id == section.id))}


def run_analysis(section: Section, supervisor: User | None = None) -> CollusionAnalysis:
    """Analyse the section's opened bids and store the clue list (for supervisors only)."""
    bids, bidders = build_evidence(section)
    if len(bids) < 2:
        raise RuleViolation("至少需要2份投标文件才能分析 (at least 2 bids are needed)", code="collusion_too_few")
    report = analyze_section(bids, thresholds(), shared_text=_shared_text(section))
    suspected = any(g.level is Level.SUSPECTED for g in report.groups) or any(
        p.level is Level.SUSPECTED for p in report.pairs)
    analysis = CollusionAnalysis(section_id=section.id, run_at=now(), run_by_id=supervisor.id if supervisor else None,
                                 report=_json(report.to_dict()), bidders=_json(bidders),
                                 evidence_count=len(report.evidence),
                                 suspected=suspected)
    db.session.add(analysis)
    db.session.flush()
    audit.record("collusion.analysed", analysis, actor=supervisor, section_id=section.id, bids=len(bids),
                 evidence=len(report.evidence), groups=len(report.groups), suspected=suspected)
    return analysis


def _json(value) -> str:
    """Stored, not signed: the report holds float scores and similarity figures (canonical_json refuses floats)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def latest_analysis(section_id: int) -> CollusionAnalysis | None:
    return db.session.scalar(sa.select(CollusionAnalysis).where(CollusionAnalysis.section_id == section_id)
                             .order_by(CollusionAnalysis.id.desc()).limit(1))


def review(analysis: CollusionAnalysis, supervisor: User, decision: str, note: str) -> CollusionAnalysis:
    """核查: the supervisor confirms the clues or dismisses them, always with a note."""
    try:
        target = ClueReview(decision)
    except ValueError:
        raise ValidationError("核查结论应为 confirmed 或 dismissed (decision: confirmed or dismissed)",
                              field="decision") from None
    if not (note or "").strip():
        raise ValidationError("请填写核查意见 (a review note is required)", field="note")
    CLUE_REVIEWS.check(analysis.review, target)
    before = analysis.review
    analysis.review, analysis.review_note = target, note.strip()[:4000]
    analysis.reviewed_by_id, analysis.reviewed_at = supervisor.id, now()
    audit.record("collusion.reviewed", analysis, actor=supervisor, before=before.value, after=target.value,
                 note=analysis.review_note)
    return analysis


def attach(analysis: CollusionAnalysis, supervisor: User) -> CollusionAnalysis:
    """Attach the clue list to the section's evaluation record (the committee's file), once."""
    if analysis.attached_at is not None:
        raise RuleViolation("该线索清单已附入评标记录 (already attached)", code="already_attached")
    analysis.attached_at, analysis.attached_by_id = now(), supervisor.id
    audit.record("collusion.attached", analysis, actor=supervisor, section_id=analysis.section_id)
    return analysis


def attached_clues(section_id: int) -> dict | None:
    """What the evaluation record carries: the latest clue list a supervisor attached, or None."""
    analysis = db.session.scalar(sa.select(CollusionAnalysis).where(
        CollusionAnalysis.section_id == section_id, CollusionAnalysis.attached_at.is_not(None))
        .order_by(CollusionAnalysis.id.desc()).limit(1))
    if analysis is None:
        return None
    return {"analysis_id": analysis.id, "run_at": analysis.run_at.isoformat(),
            "attached_at": analysis.attached_at.isoformat(), "bidders": analysis.bidder_map, "report": analysis.data}
