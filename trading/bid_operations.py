"""Submitting, replacing and withdrawing sealed bids (电子招标投标办法第26–28条).

Upload: the bidder opens an upload with the envelope's size, sends it in chunks at explicit offsets (a chunk
at the wrong offset is refused and names the offset expected, so a client resumes exactly where the server
is), and finalises. Bytes go to a part file in the storage folder with constant memory; the keyless envelope
check (crypto.envelope.EnvelopeVerifier) runs as they arrive, so a bad header is refused after its first
kilobytes. Finalising re-reads nothing when the check already saw every byte, decides the deadline by the
server clock inside the transaction, moves the file into place atomically and issues a signed receipt.
"""
from __future__ import annotations

import fcntl
import os
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app

from core import audit
from core.accounts import Role, User
from core.clock import format_local
from core.clock import now as clock_now
from core.counters import next_value
from core.db import db
from core.errors import DomainError, NotFound, RuleViolation, ValidationError
from core.pki import Certificate, Purpose, check_certificate, current_certificate, platform
from crypto import certificates as x509ca
from crypto import envelope
from crypto.canonical import format_utc
from crypto.signing import certificate_fingerprint, sign_document
from trading import clock_source
from trading.bids import (BID_STATES, Bid, BidState, BidUpload, OpeningOfficer, Receipt, ReceiptKind, UploadState)
from trading.models import Section, SectionState

#: A chunk larger than this is refused (the client splits; 8 MiB keeps server memory flat).
MAX_CHUNK = 8 * 1024 * 1024
#: Who may hold an escrow share: the agency, the tenderee, supervisors, trading-centre staff.
OFFICER_ROLES = {Role.AGENT, Role.TENDEREE, Role.SUPERVISOR, Role.ADMIN}
#: Bytes are moved from the request to the part file this many at a time.
PIECE = 1024 * 1024
#: The largest envelope accepted.
MAX_BID_BYTES = 4 * 1024 * 1024 * 1024


class UploadRefused(DomainError):
    status = 409
    code = "upload_refused"


class DeadlinePassed(RuleViolation):
    code = "deadline_passed"


def bid_ids(section: Section, organisation_id: int) -> envelope.BidIds:
    """The ids sealed into every envelope: project code, section code, bidder credit code."""
    from core.accounts import Organisation

    org = db.session.get(Organisation, organisation_id)
    return envelope.BidIds(project=section.project.code, section=section.code, bidder=org.credit_code)


def _bid_dir() -> Path:
    path = Path(current_app.config["STORAGE_DIR"]) / "bids"
    path.mkdir(parents=True, exist_ok=True)
    return path


def part_path(upload: BidUpload) -> Path:
    return _bid_dir() / f"{upload.id}.part"


def _check_open(section: Section) -> None:
    moment = clock_source.now()
    if section.state is not SectionState.BIDDING or moment >= section.deadline:
        raise DeadlinePassed(f"投标截止时间 {format_local(section.deadline)} 已到，不再接受投标文件 "
                             f"(the bid deadline has passed: nothing more is accepted)")
    if moment < section.issue_start:
        raise RuleViolation("招标文件尚未发售，不能递交投标文件 (bidding has not started)")


def set_officers(section: Section, user_ids, threshold) -> None:
    """Name the opening officers who hold escrow shares, and how many together open a bid (k ≥ 2)."""
    if not isinstance(user_ids, list) or not all(isinstance(i, int) for i in user_ids) or len(set(user_ids)) != len(user_ids):
        raise ValidationError("开标人员应为不重复的用户 (a list of distinct users)", field="user_ids")
    if not isinstance(threshold, int) or not 2 <= threshold <= len(user_ids):
        raise ValidationError("门限应不少于2且不超过开标人员数 (2 ≤ threshold ≤ number of officers): no single "
                              "officer may open a bid", field="threshold")
    if db.session.scalar(sa.select(sa.func.count(Bid.id)).where(Bid.section_id == section.id)):
        raise RuleViolation("已有投标文件，不能再更改开标人员 (bids exist: the officers are fixed)")
    users = [db.session.get(User, i) for i in user_ids]
    if any(u is None or u.role not in OFFICER_ROLES for u in users):
        raise ValidationError("开标人员应为代理、招标人、监督人员或交易中心人员 (officers are agents, tenderees, "
                              "supervisors or trading-centre staff)", field="user_ids")
    for officer in officers_of(section):
        db.session.delete(officer)
    db.session.flush()
    for position, user in enumerate(users):
        db.session.add(OpeningOfficer(section_id=section.id, user_id=user.id, position=position))
    section.escrow_threshold = threshold
    audit.record("section.officers_set", section, officers=user_ids, threshold=threshold)


def officers_of(section: Section) -> list[OpeningOfficer]:
    return db.session.scalars(sa.select(OpeningOfficer).where(OpeningOfficer.section_id == section.id)
                              .order_by(OpeningOfficer.position)).all()


# -- in-process verifiers: one per open upload, rebuilt from the part file after a restart ----------

_verifiers: dict[str, tuple[envelope.EnvelopeVerifier, int]] = {}
_lock = threading.Lock()


def officer_certificates(section: Section) -> list[tuple[OpeningOfficer, Certificate]]:
    """Each opening officer with the encryption certificate a bid's escrow share is sealed to; refused while
    one of them has none (no bid could be opened by escrow)."""
    officers = []
    for officer in officers_of(section):
        certificate = current_certificate(officer.user, Purpose.ENCRYPTION)
        if certificate is None:
            raise RuleViolation(f"开标人员 {officer.user.display_name} 尚无加密证书，暂不能投标，请联系招标代理 "
                                f"(an opening officer has no encryption certificate yet)")
        officers.append((officer, certificate))
    return officers


def _signer_for(upload: BidUpload, header: envelope.EnvelopeHeader) -> x509ca.x509.Certificate:
    recorded = db.session.scalar(sa.select(Certificate).where(Certificate.fingerprint == header.signer_fingerprint))
    if recorded is None or recorded.organisation_id != upload.organisation_id or recorded.purpose is not Purpose.SIGNING:
        raise UploadRefused("投标文件的签名证书不是本单位的签名证书 (the envelope is signed with a certificate "
                            "that is not your organisation's signing certificate)")
    check_certificate(recorded.x509, x509ca.Purpose.SIGNING)
    return recorded.x509


def _verifier(upload: BidUpload, section: Section) -> envelope.EnvelopeVerifier | None:
    """The upload's verifier, fed with every byte received so far; None until the header has arrived."""
    with _lock:
        cached = _verifiers.get(upload.id)
    if cached and cached[1] == upload.received:
        return cached[0]
    path = part_path(upload)
    with open(path, "rb") as stream:
        try:
            header = envelope.read_header(stream)
        except envelope.Truncated:
            return None
    verifier = envelope.EnvelopeVerifier(expected_ids=bid_ids(section, upload.organisation_id),
                                         bidder_signing_cert=_signer_for(upload, header))
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            verifier.feed(block)
    with _lock:
        _verifiers[upload.id] = (verifier, upload.received)
    return verifier


def _forget(upload_id: str) -> None:
    with _lock:
        _verifiers.pop(upload_id, None)


# -- operations ---------------------------------------------------------------------------------------

def start_upload(section: Section, user: User, size: int, ip: str | None) -> BidUpload:
    _check_open(section)
    if not isinstance(size, int) or not 0 < size <= MAX_BID_BYTES:
        raise ValidationError(f"投标文件大小应为1字节至{MAX_BID_BYTES // 2**30} GiB (size out of range)", field="size")
    if section.project.method.value == "invited" and not any(
            inv.organisation_id == user.organisation_id for inv in section.project.invitations):
        raise RuleViolation("本项目为邀请招标，贵单位不在邀请名单中 (your organisation was not invited)")
    upload = BidUpload(id=uuid.uuid4().hex, section_id=section.id, organisation_id=user.organisation_id,
                       user_id=user.id, size=size, ip=ip, received=0)
    db.session.add(upload)
    part_path(upload).touch()
    audit.record("bid_upload.started", object_type="bid_uploads", object_id=upload.id, section_id=section.id,
                 size=size)
    return upload


def append_chunk(upload: BidUpload, offset: int, body: BinaryIO, length: int) -> int:
    """Append ``length`` bytes read from ``body`` at ``offset``, in 1 MiB pieces (constant memory per request);
    refuse a duplicate, out-of-order or oversize chunk, naming the offset the server expects.

    The one operation that commits by itself, in steps: a chunk may take seconds to arrive, and no database
    transaction stays open meanwhile (on SQLite a transaction holds the database's one write lock, which would
    queue every other request of the platform behind this network read). An exclusive lock on the upload's
    part file keeps one upload's chunks in order, across threads and processes, from the offset check to the
    commit of the new offset.
    """
    upload_id, path = upload.id, part_path(upload)
    db.session.commit()  # the transaction that found the upload ends here; the checks run again under the lock
    with open(path, "r+b") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
        upload = db.session.get(BidUpload, upload_id, populate_existing=True)
        verifier = _check_chunk(upload, offset, length)
        db.session.commit()
        written = 0
        out.seek(offset)
        out.truncate()
        while written < length:
            piece = body.read(min(PIECE, length - written))
            if not piece:
                break
            try:
                if verifier is not None:
                    verifier.feed(piece)
            except (envelope.EnvelopeError, DomainError) as exc:
                raise _reject(upload, exc) from None
            out.write(piece)
            written += len(piece)
        if written != length:
            out.truncate(offset)
            _forget(upload_id)  # the check saw bytes that are not kept: rebuild it from the file next time
            raise UploadRefused(f"分块不完整：收到 {written} / {length} 字节，请从偏移量 {offset} 重传 "
                                f"(the chunk was cut off; resend from offset {offset})", code="chunk_incomplete")
        out.flush()
        os.fsync(out.fileno())
        upload = db.session.get(BidUpload, upload_id, populate_existing=True)
        upload.received = offset + length
        upload.updated_at = clock_now()
        if verifier is None:
            try:
                _verifier(upload, db.session.get(Section, upload.section_id))
            except (envelope.EnvelopeError, DomainError) as exc:
                raise _reject(upload, exc) from None
        else:
            with _lock:
                _verifiers[upload_id] = (verifier, upload.received)
        db.session.commit()
        return upload.received


def _check_chunk(upload: BidUpload, offset: int, length: int) -> envelope.EnvelopeVerifier | None:
    section = db.session.get(Section, upload.section_id)
    if upload.state is not UploadState.OPEN:
        raise UploadRefused(f"此次上传已{ {'finalised': '完成', 'rejected': '被拒绝', 'abandoned': '放弃'}[upload.state.value]}"
                            f"，请重新开始 (this upload is {upload.state.value}{': ' + upload.error if upload.error else ''})")
    _check_open(section)
    if length > MAX_CHUNK:
        raise UploadRefused(f"分块过大：{length} 字节，上限 {MAX_CHUNK} 字节 (chunk too large)", status=413,
                            code="chunk_too_large")
    if length <= 0:
        raise ValidationError("分块为空 (empty chunk)", field="body")
    if offset != upload.received:
        kind = "重复" if offset < upload.received else "乱序"
        raise UploadRefused(f"{kind}的分块：偏移量 {offset}，服务器期待 {upload.received} "
                            f"(chunk at offset {offset}; the server expects offset {upload.received})",
                            code="wrong_offset")
    if upload.received + length > upload.size:
        raise UploadRefused(f"数据超出声明的大小 {upload.size} 字节 (more bytes than declared)", code="too_many_bytes")
    return _verifier(upload, section)


def _reject(upload: BidUpload, error: Exception) -> UploadRefused:
    """Record the refusal (the upload is dead; a bid already stored is untouched) and say what was wrong."""
    if isinstance(error, DomainError):
        message, code = error.message, error.code
    else:
        message, code = f"投标文件校验失败 (the envelope failed its check): {error}", getattr(error, "code", "envelope_invalid")
    db.session.rollback()
    upload = db.session.get(BidUpload, upload.id)
    upload.state, upload.error = UploadState.REJECTED, message[:2000]
    _forget(upload.id)
    audit.record("bid_upload.rejected", object_type="bid_uploads", object_id=upload.id, reason=message[:500],
                 code=code)
    db.session.commit()
    part_path(upload).unlink(missing_ok=True)
    return UploadRefused(message, code=code, status=422)


def finalise(upload: BidUpload) -> Bid:
    """Check the whole envelope, decide the deadline inside the transaction, store atomically, sign a receipt."""
    section = db.session.scalars(sa.select(Section).where(Section.id == upload.section_id).with_for_update()).one()
    if upload.state is not UploadState.OPEN:
        raise UploadRefused(f"此次上传状态为 {upload.state.value}，不能完成 (upload is {upload.state.value})")
    if upload.received != upload.size:
        raise UploadRefused(f"尚未传完：已收到 {upload.received} / {upload.size} 字节 (upload incomplete: "
                            f"{upload.received} of {upload.size} bytes)", code="incomplete")
    try:
        verifier = _verifier(upload, section)
        if verifier is None:
            raise envelope.Truncated("the envelope ends inside its header")
        summary = verifier.finish()
    except (envelope.EnvelopeError, DomainError) as exc:
        raise _reject(upload, exc) from None
    moment = clock_source.now()
    _check_open(section)  # the server clock decides, here, inside the transaction
    signer = db.session.scalar(sa.select(Certificate).where(
        Certificate.fingerprint == summary.header.signer_fingerprint))
    previous = db.session.scalar(sa.select(Bid).where(
        Bid.section_id == section.id, Bid.organisation_id == upload.organisation_id,
        Bid.state == BidState.SUBMITTED))
    key = f"bids/{section.id}/{upload.id}.bid"
    final = Path(current_app.config["STORAGE_DIR"]) / key
    final.parent.mkdir(parents=True, exist_ok=True)
    bid = Bid(section_id=section.id, organisation_id=upload.organisation_id, submitted_by_id=upload.user_id,
              storage_key=key, size=upload.size, plaintext_size=summary.plaintext_size,
              chunk_count=summary.chunk_count, ciphertext_digest=summary.ciphertext_digest.hex(),
              header_hash=summary.header.header_hash.hex(), signer_certificate_id=signer.id, submitted_at=moment,
              upload_ip=upload.ip)
    db.session.add(bid)
    db.session.flush()
    kind = ReceiptKind.SUBMITTED
    if previous is not None:
        BID_STATES.check(previous.state, BidState.REPLACED)
        previous.state, previous.replaced_by_id = BidState.REPLACED, bid.id
        kind = ReceiptKind.REPLACED
    upload.state = UploadState.FINALISED
    receipt = _issue_receipt(bid, kind, moment, replaces=previous)
    audit.record("bid.submitted" if previous is None else "bid.replaced", bid, section_id=section.id,
                 organisation_id=bid.organisation_id, size=bid.size, ciphertext_digest=bid.ciphertext_digest,
                 receipt=receipt.sequence, replaces=previous.id if previous else None)
    os.replace(part_path(upload), final)
    _forget(upload.id)
    return bid


def withdraw(bid: Bid, user: User) -> Receipt:
    section = db.session.scalars(sa.select(Section).where(Section.id == bid.section_id).with_for_update()).one()
    _check_open(section)
    BID_STATES.check(bid.state, BidState.WITHDRAWN)
    moment = clock_source.now()
    bid.state, bid.withdrawn_at = BidState.WITHDRAWN, moment
    receipt = _issue_receipt(bid, ReceiptKind.WITHDRAWN, moment)
    audit.record("bid.withdrawn", bid, actor=user, section_id=section.id, receipt=receipt.sequence)
    return receipt


def _issue_receipt(bid: Bid, kind: ReceiptKind, moment: datetime, replaces: Bid | None = None) -> Receipt:
    sequence = next_value("receipt")
    section = db.session.get(Section, bid.section_id)
    identity = platform()
    payload = {
        "type": "bidhall.receipt.v1", "kind": kind.value, "sequence": sequence, "server_time": format_utc(moment),
        "project": section.project.code, "section": section.code, "bidder": bid.organisation.credit_code,
        "bidder_name": bid.organisation.name, "bid": bid.id, "size": bid.size, "plaintext_size": bid.plaintext_size,
        "chunks": bid.chunk_count, "ciphertext_digest": bid.ciphertext_digest, "header_hash": bid.header_hash,
        "signer_certificate": bid.signer_certificate.fingerprint,
        "platform_certificate": certificate_fingerprint(identity.signing_certificate),
    }
    if replaces is not None:
        payload["replaces_bid"] = replaces.id
    document = sign_document(payload, identity.signing_key, identity.signing_certificate)
    from crypto.canonical import canonical_json

    receipt = Receipt(sequence=sequence, bid=bid, kind=kind, document=canonical_json(document).decode(),
                      issued_at=moment)
    db.session.add(receipt)
    return receipt


def get_upload(upload_id: str, user: User) -> BidUpload:
    upload = db.session.get(BidUpload, upload_id)
    if upload is None or upload.organisation_id != user.organisation_id:
        raise NotFound("没有这次上传 (no such upload)")
    return upload
