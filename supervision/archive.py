"""The electronic archive package (电子档案) of a project (电子招标投标办法第40条; rules.md §1).

One ZIP holds the notice, the tender documents and clarifications, the bids (sealed envelope, opened package,
receipts), the opening record, what the evaluation contributes (its report, bid clarifications), the recording
hashes, the award and result notices, the contract, and an excerpt of the audit chain. ``manifest.json`` lists
every file with its SHA-256 and size and the retention class; ``signature.json`` is the platform's signature
over the manifest's digest, checkable with the two certificates in the package, so :func:`verify` needs no
database and still works decades later.

Retention classes (DA/T 103-2024: permanent / 30 years / 10 years; 政府采购法第42条: procurement files at least 15
years) are chosen by :func:`retention_for`, configurable with ``ARCHIVE_PERMANENT_BUDGET``.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core import audit, clock
from core.audit import AuditEvent
from core.db import db
from crypto import certificates as x509ca
from crypto.canonical import canonical_json
from crypto.signing import SignatureError, sign_document, verify_document
from supervision.award_models import (
    Award,
    Complaint,
    Contract,
    EvaluationResult,
    SectionObjection,
)
from supervision.models import RETENTION_LABELS, ArchivePackage, RetentionClass
from trading.bids import Bid, Receipt
from trading.models import Clarification, Project, Section, TenderDocument
from trading.opening import BidDecryption, Opening

META = ("manifest.json", "signature.json", "platform-signing.pem", "platform-ca.pem")
RETENTION_YEARS = {RetentionClass.PERMANENT: None, RetentionClass.YEARS_30: 30, RetentionClass.YEARS_10: 10}

#: Functions other packages register to add their files per section: ``fn(section) -> [(path, bytes | Path)]``.
CONTRIBUTORS: list[Callable[[Section], Iterable[tuple[str, bytes | Path]]]] = []


def contribute(fn: Callable[[Section], Iterable[tuple[str, bytes | Path]]]):
    """Decorator for the evaluation (its report, bid clarifications) and others: files for a section's archive."""
    CONTRIBUTORS.append(fn)
    return fn


def retention_for(project: Project) -> RetentionClass:
    """Permanent for major projects (budget ≥ ``ARCHIVE_PERMANENT_BUDGET``, default 100 million yuan) [inferred];
    30 years for government procurement (≥ 15 years required) and government-invested works [inferred];
    10 years otherwise (DA/T 103-2024)."""
    threshold = Decimal(str(current_app.config.get("ARCHIVE_PERMANENT_BUDGET", "100000000")))
    if project.budget >= threshold:
        return RetentionClass.PERMANENT
    if project.government_invested or any(s.evaluation_method.startswith("gp_") for s in project.sections):
        return RetentionClass.YEARS_30
    return RetentionClass.YEARS_10


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode()


def _safe(name: str) -> str:
    return "".join(ch if ch not in '/\\:*?"<>|' else "_" for ch in name)[:120] or "file"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _storage(key: str | None) -> Path | None:
    if not key:
        return None
    path = Path(current_app.config["STORAGE_DIR"]) / key
    return path if path.exists() else None


def _section_files(section: Section) -> Iterator[tuple[str, bytes | Path]]:
    base = section.code
    for document in db.session.scalars(sa.select(TenderDocument).where(TenderDocument.section_id == section.id)
                                       .order_by(TenderDocument.version)):
        if document.file.path.exists():
            yield f"documents/{base}/v{document.version}-{_safe(document.file.filename)}", document.file.path
    clarifications = db.session.scalars(sa.select(Clarification).where(Clarification.section_id == section.id)
                                        .order_by(Clarification.number)).all()
    yield f"documents/{base}/clarifications.json", _json([{
        "number": c.number, "title": c.title, "body": c.body, "decision": c.decision.value, "reason": c.reason,
        "issued_at": _iso(c.issued_at), "previous_deadline": _iso(c.previous_deadline),
        "new_deadline": _iso(c.new_deadline)} for c in clarifications])
    for bid in db.session.scalars(sa.select(Bid).where(Bid.section_id == section.id).order_by(Bid.id)):
        folder = f"bids/{base}/{bid.organisation.credit_code}-{bid.id}"
        if (path := _storage(bid.storage_key)) is not None:
            yield f"{folder}/envelope.bhe", path
        decryption = db.session.scalar(sa.select(BidDecryption).where(BidDecryption.bid_id == bid.id))
        if decryption is not None and (path := _storage(decryption.plaintext_key)) is not None:
            yield f"{folder}/package.zip", path
        receipts = db.session.scalars(sa.select(Receipt).where(Receipt.bid_id == bid.id).order_by(Receipt.sequence))
        yield f"{folder}/receipts.json", _json([json.loads(r.document) for r in receipts])
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if opening is not None:
        if (path := _storage(opening.record_key)) is not None:
            yield f"opening/{base}/record.pdf", path
        if opening.record_signature:
            yield f"opening/{base}/record-signature.json", opening.record_signature.encode()
        if opening.read_out:
            yield f"opening/{base}/read-out.json", opening.read_out.encode()
    yield from _recordings(section)
    for contributor in CONTRIBUTORS:
        yield from contributor(section)
    yield from _award_files(section)


def _recordings(section: Section) -> Iterator[tuple[str, bytes]]:
    """The evaluation room's recordings are kept by hash (the files stay in the storage folder)."""
    try:
        from evaluation.media.models import MediaRoom, Recording
    except ImportError:
        return
    rows = db.session.execute(sa.select(Recording).join(MediaRoom, MediaRoom.id == Recording.room_id)
                              .where(MediaRoom.section_id == section.id).order_by(Recording.id)).scalars().all()
    if rows:
        yield f"evaluation/{section.code}/recording-hashes.json", _json([{
            "stream": r.stream_id, "kind": r.stream_kind, "sha256": r.sha256, "size": r.size,
            "started_at": _iso(r.started_at), "ended_at": _iso(r.ended_at), "state": r.state.value} for r in rows])


def _award_files(section: Section) -> Iterator[tuple[str, bytes | Path]]:
    base = section.code
    results = db.session.scalars(sa.select(EvaluationResult).where(EvaluationResult.section_id == section.id)
                                 .order_by(EvaluationResult.id)).all()
    award = db.session.scalar(sa.select(Award).where(Award.section_id == section.id))
    objections = db.session.scalars(sa.select(SectionObjection).where(SectionObjection.section_id == section.id)
                                    .order_by(SectionObjection.id)).all()
    complaints = db.session.scalars(sa.select(Complaint).where(Complaint.section_id == section.id)
                                    .order_by(Complaint.id)).all()
    if not (results or objections or complaints):
        return
    yield f"award/{base}/award.json", _json({
        "results": [{"report_digest": r.report_digest, "received_at": _iso(r.received_at),
                     "publicity": [_iso(r.publicity_started_at), _iso(r.publicity_ends_at)],
                     "superseded_at": _iso(r.superseded_at),
                     "candidates": [{"rank": c.rank, "bidder": c.organisation.name, "credit_code": c.organisation.credit_code,
                                     "price": str(c.price), "score": c.score} for c in r.candidates]} for r in results],
        "objections": [{"subject": o.subject.value, "bidder": o.organisation.name, "text": o.text,
                        "raised_at": _iso(o.raised_at), "answer": o.answer, "answered_at": _iso(o.answered_at)}
                       for o in objections],
        "complaints": [{"bidder": c.organisation.name, "text": c.text, "state": c.state.value,
                        "filed_at": _iso(c.filed_at), "decision": c.decision, "decided_at": _iso(c.decided_at)}
                       for c in complaints],
        "award": None if award is None else {
            "winner": award.organisation.name, "credit_code": award.organisation.credit_code, "rank": award.rank,
            "amount": str(award.amount), "reason": award.reason, "decided_at": _iso(award.decided_at),
            "notice_no": award.notice_no, "notice_issued_at": _iso(award.notice_issued_at),
            "report_filed_at": _iso(award.report_filed_at)}})
    if award is not None:
        for name, key, signature in (("award-notice", award.notice_key, award.notice_signature),
                                     ("result-notice", award.result_key, award.result_signature)):
            if (path := _storage(key)) is not None:
                yield f"award/{base}/{name}.pdf", path
                yield f"award/{base}/{name}-signature.json", (signature or "").encode()
    contract = db.session.scalar(sa.select(Contract).where(Contract.section_id == section.id))
    if contract is not None:
        yield f"contract/{base}/contract.json", _json({
            "signed_at": _iso(contract.signed_at), "amount": str(contract.amount),
            "award_amount": str(contract.award.amount), "difference_reason": contract.difference_reason,
            "recorded_at": _iso(contract.recorded_at), "file_sha256": contract.file.sha256 if contract.file else None})
        if contract.file is not None and contract.file.path.exists():
            yield f"contract/{base}/{_safe(contract.file.filename)}", contract.file.path


def _audit_excerpt(project: Project) -> bytes:
    """The audit events about this project's objects, each with its hash (checkable against the live chain)."""
    section_ids = [s.id for s in project.sections]
    objects: dict[str, list[int]] = {"projects": [project.id], "sections": section_ids}
    per_section = {"bids": Bid, "openings": Opening, "clarifications": Clarification, "tender_documents": TenderDocument,
                   "evaluation_results": EvaluationResult, "section_objections": SectionObjection,
                   "complaints": Complaint, "awards": Award, "contracts": Contract}
    for table, model in per_section.items():
        objects[table] = list(db.session.scalars(sa.select(model.id).where(model.section_id.in_(section_ids))))
    opening_ids = objects["openings"]
    objects["bid_decryptions"] = list(db.session.scalars(sa.select(BidDecryption.id).where(
        BidDecryption.opening_id.in_(opening_ids)))) if opening_ids else []
    clauses = [sa.and_(AuditEvent.object_type == table, AuditEvent.object_id.in_([str(i) for i in ids]))
               for table, ids in objects.items() if ids]
    lines = []
    for event in db.session.scalars(sa.select(AuditEvent).where(sa.or_(*clauses)).order_by(AuditEvent.seq)):
        lines.append(canonical_json(event.content() | {"hash": event.hash}))
    return b"\n".join(lines) + b"\n"


def _write(archive: zipfile.ZipFile, name: str, content: bytes | Path) -> dict:
    """Add one entry, hashing as it streams (bids and recordings can be large)."""
    digest, size = hashlib.sha256(), 0
    with archive.open(name, "w", force_zip64=True) as out:
        if isinstance(content, Path):
            with open(content, "rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        else:
            digest.update(content)
            out.write(content)
            size = len(content)
    return {"path": name, "sha256": digest.hexdigest(), "size": size}


@dataclass
class Built:
    path: Path
    manifest: dict
    sha256: str
    size: int
    files: list[dict] = field(default_factory=list)


def build(project: Project, target: Path) -> Built:
    """Write the package of ``project`` to ``target`` (atomically) and return its manifest."""
    from core.pki import platform

    created = clock.now()
    retention = retention_for(project)
    years = RETENTION_YEARS[retention]
    entries: list[tuple[str, bytes | Path]] = [("notice/project.json", _json({
        "code": project.code, "name": project.name, "type": project.type.value, "method": project.method.value,
        "budget": str(project.budget), "ceiling_price": str(project.ceiling_price), "region_code": project.region_code,
        "government_invested": project.government_invested, "tenderee": project.tenderee.name,
        "agency": project.agency.name, "published_at": _iso(project.published_at), "notice_text": project.notice_text,
        "sections": [{"code": s.code, "name": s.name, "ceiling_price": str(s.ceiling_price), "state": s.state.value,
                      "schedule": {k: _iso(getattr(s, k)) for k in ("notice_at", "issue_start", "issue_end",
                                                                      "clarification_deadline", "deadline")}}
                     for s in project.sections]}))]
    for section in project.sections:
        entries.extend(_section_files(section))
    entries.append(("audit/excerpt.jsonl", _audit_excerpt(project)))
    partial = target.with_name(target.name + ".part")
    listed = []
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, content in entries:
            listed.append(_write(archive, name, content))
        manifest = {"type": "bidhall.archive.v1", "created_at": created.isoformat(),
                    "project": {"code": project.code, "name": project.name},
                    "retention": {"class": retention.value, "label": RETENTION_LABELS[retention],
                                  "until": None if years is None else f"{clock.local(created).year + years}-12-31"},
                    "files": listed}
        manifest_bytes = canonical_json(manifest)
        identity = platform()
        signature = sign_document({"type": "bidhall.archive.signature.v1", "project": project.code,
                                   "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()},
                                  identity.signing_key, identity.signing_certificate)
        archive.writestr("manifest.json", manifest_bytes)
        archive.writestr("signature.json", canonical_json(signature))
        archive.writestr("platform-signing.pem", x509ca.certificate_pem(identity.signing_certificate))
        archive.writestr("platform-ca.pem", x509ca.certificate_pem(identity.ca.certificate))
    os.replace(partial, target)
    return Built(target, manifest, file_sha256(target), target.stat().st_size, listed)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def store_package(project: Project) -> ArchivePackage:
    """Assemble the package into the storage folder and record it (at the close of the project)."""
    folder = Path(current_app.config["STORAGE_DIR"]) / "archives"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = clock.local(clock.now()).strftime("%Y%m%d%H%M%S")
    built = build(project, folder / f"{project.code}-{stamp}.zip")
    package = ArchivePackage(project_id=project.id, key=f"archives/{built.path.name}", sha256=built.sha256,
                             size=built.size, retention=RetentionClass(built.manifest["retention"]["class"]),
                             manifest_digest=hashlib.sha256(canonical_json(built.manifest)).hexdigest(),
                             files=len(built.files), created_at=clock.now())
    db.session.add(package)
    db.session.flush()
    audit.record("archive.created", package, project_id=project.id, sha256=built.sha256, files=len(built.files),
                 retention=package.retention.value)
    return package


@dataclass
class Verification:
    ok: bool
    problems: list[str]
    manifest: dict | None = None


def verify(path: Path, trusted_ca_pem: bytes | None = None) -> Verification:
    """Check the signature over the manifest and every file's digest; name each problem found."""
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return Verification(False, [f"not a readable ZIP archive: {exc}"])
    with archive:
        names = set(archive.namelist())
        missing = [m for m in META if m not in names]
        if missing:
            return Verification(False, [f"package incomplete: {', '.join(missing)} missing"])
        manifest_bytes = archive.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        signer = x509ca.load_certificate(archive.read("platform-signing.pem"))
        ca = x509ca.load_certificate(archive.read("platform-ca.pem"))
        if trusted_ca_pem is not None and x509ca.load_certificate(trusted_ca_pem) != ca:
            problems.append("the package's CA certificate is not this platform's CA")
        try:
            x509ca.verify_certificate(signer, ca, revoked_serials=(), purpose=x509ca.Purpose.SIGNING,
                                      at=datetime.fromisoformat(manifest["created_at"]))
            payload = verify_document(json.loads(archive.read("signature.json")), signer)
            if payload.get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
                problems.append("manifest.json was changed: its digest differs from the signed one")
        except (x509ca.CertificateError, SignatureError) as exc:
            problems.append(f"signature check failed: {exc}")
        listed = {entry["path"]: entry for entry in manifest.get("files", [])}
        for name in sorted(names - set(META) - set(listed)):
            problems.append(f"{name}: not listed in the manifest (added)")
        for name, entry in listed.items():
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest, size = hashlib.sha256(), 0
            with archive.open(name) as stream:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                problems.append(f"{name}: content changed (SHA-256 differs from the manifest)")
    return Verification(not problems, problems, manifest)
