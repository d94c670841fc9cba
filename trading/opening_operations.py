"""Every state change of the online opening. Views and socket handlers call these and commit once (``decrypt``
excepted: it commits in steps, so that no transaction is open while a bid is decrypted)."""
from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from flask import current_app

from bidtool.package import PackageError, read_manifest
from core import audit
from core.accounts import Role, User
from core.clock import format_local
from core.db import db
from core.errors import DomainError, Forbidden, ValidationError
from core.pki import check_certificate, platform, revoked_serials
from core.sealing_box import seal_secret
from crypto import certificates as x509ca
from crypto import draw as drawing
from crypto import envelope
from crypto.canonical import canonical_json
from crypto.shamir import Share
from trading import bid_operations, clock_source
from trading.bids import Bid, BidState, BidUpload, OpeningOfficer, UploadState
from trading.models import SECTION_STATES, Section, SectionState
from trading.opening import (FAULT_RULINGS, OPENING_STATES, BidDecryption, DecryptionState, Fault, HallSignIn, Opening, OpeningState, Ruling, ShareRelease)
from trading.price_form import PriceFormInvalid, validate_price_form


class OpeningRefused(DomainError):
    status = 409
    code = "opening_refused"


def _now():
    return clock_source.now()


# -- the hall ----------------------------------------------------------------------------------------

def hall_for(section: Section) -> Opening:
    """The section's opening; at the deadline the hall opens by itself (bids then become the opening's)."""
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if opening is not None:
        return opening
    if section.state is not SectionState.BIDDING or _now() < section.deadline:
        raise OpeningRefused(f"开标大厅将于投标截止时间 {format_local(section.deadline)} 开放 "
                             f"(the hall opens at the bid deadline)", code="hall_not_open")
    section = db.session.scalars(sa.select(Section).where(Section.id == section.id).with_for_update()).one()
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if opening is not None:
        return opening
    SECTION_STATES.check(section.state, SectionState.OPENING)
    section.state = SectionState.OPENING
    opening = Opening(section_id=section.id, opened_at=_now())
    db.session.add(opening)
    db.session.flush()
    bids = db.session.scalars(sa.select(Bid).where(Bid.section_id == section.id, Bid.state == BidState.SUBMITTED)
                              .order_by(Bid.submitted_at)).all()
    for bid in bids:
        db.session.add(BidDecryption(opening_id=opening.id, bid_id=bid.id))
    for upload in db.session.scalars(sa.select(BidUpload).where(BidUpload.section_id == section.id,
                                                                BidUpload.state == UploadState.OPEN)):
        upload.state, upload.error = UploadState.ABANDONED, "投标截止时未完成上传 (not finished by the deadline)"
        bid_operations.part_path(upload).unlink(missing_ok=True)
    audit.record("opening.hall_opened", opening, section_id=section.id, bids=len(bids))
    return opening


def decryptions(opening: Opening) -> list[BidDecryption]:
    """Every bid of the opening with its bidder, loaded in three queries however many bids there are."""
    return db.session.scalars(sa.select(BidDecryption).where(BidDecryption.opening_id == opening.id)
                              .options(selectinload(BidDecryption.bid).selectinload(Bid.organisation))
                              .order_by(BidDecryption.id)).all()


def decryption_of(opening: Opening, organisation_id: int) -> BidDecryption | None:
    return db.session.scalar(sa.select(BidDecryption).join(Bid).where(
        BidDecryption.opening_id == opening.id, Bid.organisation_id == organisation_id))


def is_host(opening: Opening, user: User) -> bool:
    return db.session.get(Section, opening.section_id).project.can_manage(user)


def _require_host(opening: Opening, user: User) -> Section:
    section = db.session.get(Section, opening.section_id)
    if not section.project.can_manage(user):
        raise Forbidden("只有主持开标的招标代理可以执行此操作 (only the host may do this)")
    return section


def new_sign_in_challenge(opening: Opening) -> str:
    from core.pki_api import LoginChallenge

    challenge = x509ca.make_challenge(f"opening:{opening.section_id}", now=_now())
    db.session.add(LoginChallenge(nonce=challenge.nonce, issued_at=_now()))
    return base64.b64encode(challenge.data).decode()


def sign_in(opening: Opening, user: User, *, challenge: str, signature: str, certificate_pem: str,
            ip: str | None) -> HallSignIn:
    """签到: a bidder whose organisation submitted a bid proves it holds the organisation's signing key."""
    from core.pki_api import CHALLENGE_LIFETIME, LoginChallenge

    if not user.is_(Role.BIDDER) or decryption_of(opening, user.organisation_id) is None:
        raise Forbidden("只有递交了投标文件的投标人可以签到 (only bidders who submitted a bid sign in)")
    try:
        raw_challenge = base64.b64decode(challenge, validate=True)
        raw_signature = base64.b64decode(signature, validate=True)
        certificate = x509ca.load_certificate(certificate_pem.encode())
    except (ValueError, x509ca.CertificateError):
        raise ValidationError("签到数据格式不正确 (malformed sign-in)") from None
    holder = check_certificate(certificate, x509ca.Purpose.SIGNING)
    if holder.identifier != user.organisation.credit_code:
        raise Forbidden("该证书不属于贵单位 (this certificate is not your organisation's)")
    try:
        result = x509ca.verify_challenge_response(raw_challenge, raw_signature, certificate, platform().ca.certificate,
                                                  context=f"opening:{opening.section_id}",
                                                  revoked_serials=revoked_serials(), now=_now())
    except x509ca.CertificateError as exc:
        raise OpeningRefused(f"签到失败：{exc}", code="sign_in_failed") from None
    spent = db.session.scalars(sa.select(LoginChallenge).where(LoginChallenge.nonce == result.nonce)
                               .with_for_update()).first()
    if spent is None or spent.used_at is not None or spent.issued_at < _now() - CHALLENGE_LIFETIME:
        raise OpeningRefused("该签到挑战已使用或已失效，请重新签到 (the challenge was already used: a replay)",
                             code="challenge_replayed")
    spent.used_at = _now()
    existing = db.session.scalar(sa.select(HallSignIn).where(HallSignIn.opening_id == opening.id,
                                                             HallSignIn.organisation_id == user.organisation_id))
    if existing is not None:
        return existing
    entry = HallSignIn(opening_id=opening.id, organisation_id=user.organisation_id, user_id=user.id,
                       certificate_fingerprint=result.certificate_fingerprint, at=_now(), ip=ip)
    db.session.add(entry)
    audit.record("opening.signed_in", opening, actor=user, organisation_id=user.organisation_id)
    return entry


def _k_choices(section: Section) -> list[str] | None:
    from evaluation.scoring import load_methods

    method = load_methods().get(section.evaluation_method)
    k_range = getattr(getattr(method, "price", None), "k_range", None) if method else None
    return drawing.decimal_range(k_range[0], k_range[1], "0.01") if k_range else None


def start(opening: Opening, host: User) -> Opening:
    """The host starts: too few bids fail the tender (流标); otherwise the decryption window runs."""
    section = _require_host(opening, host)
    bids = decryptions(opening)
    minimum = current_app.config["CLOCKS"].minimum_bids.get(section.project.method.value, 3)
    if len(bids) < minimum:
        OPENING_STATES.check(opening.state, OpeningState.FAILED)
        opening.state = OpeningState.FAILED
        opening.failure_reason = (f"递交投标文件的投标人少于{minimum}个（实际{len(bids)}个），依法流标"
                                  f"（招标投标法实施条例第44条）")
        SECTION_STATES.check(section.state, SectionState.FAILED)
        section.state = SectionState.FAILED
        audit.record("opening.failed", opening, actor=host, bids=len(bids), minimum=minimum)
        return opening
    OPENING_STATES.check(opening.state, OpeningState.DECRYPTING)
    opening.state, opening.started_at, opening.started_by_id = OpeningState.DECRYPTING, _now(), host.id
    opening.decryption_ends_at = opening.started_at + section.decryption_window
    choices = _k_choices(section)
    commitment = None
    if choices:
        secret = drawing.new_secret()
        request = {"kind": "value", "purpose": "k_coefficient", "section": section.code}
        commitment = drawing.DrawCeremony.open(secret, request, choices).commitment.as_json()
        opening.k_secret_sealed, opening.k_commitment = seal_secret(secret.hex()), json.dumps(commitment)
    audit.record("opening.started", opening, actor=host, bids=len(bids),
                 decryption_ends_at=opening.decryption_ends_at.isoformat(), k_commitment=commitment)
    return opening


# -- decryption -------------------------------------------------------------------------------------

def _opened_path(decryption: BidDecryption) -> Path:
    path = Path(current_app.config["STORAGE_DIR"]) / "opened"
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{decryption.bid_id}.zip"


@dataclass(frozen=True)
class _BidFile:
    """What opening one stored bid needs, read from the database first so the file work can run with no
    transaction open."""

    source: Path
    target: Path
    expected_ids: envelope.BidIds
    signer: x509ca.x509.Certificate
    ciphertext_digest: str
    price_form: list[dict]

    @classmethod
    def of(cls, decryption: BidDecryption) -> _BidFile:
        bid = decryption.bid
        section = db.session.get(Section, bid.section_id)
        return cls(Path(current_app.config["STORAGE_DIR"]) / bid.storage_key, _opened_path(decryption),
                   bid_operations.bid_ids(section, bid.organisation_id), bid.signer_certificate.x509,
                   bid.ciphertext_digest, [f.as_dict() for f in section.price_form])

    def open(self, content_key: bytes) -> tuple[dict, dict]:
        """Decrypt with every check, compare with the receipt's digest, read the price form; atomic on disk.
        Returns the validated price form and the manifest's modules and fingerprint."""
        partial = self.target.with_suffix(".part")
        try:
            with open(self.source, "rb") as stream, open(partial, "wb") as out:
                summary = envelope.open_envelope(stream, out, content_key, expected_ids=self.expected_ids,
                                                 bidder_signing_cert=self.signer)
            if summary.ciphertext_digest.hex() != self.ciphertext_digest:
                raise envelope.DigestMismatch("the stored bid's digest differs from the one in its receipt")
            manifest = read_manifest(partial)
            form = validate_price_form(self.price_form, manifest.get("price_form") or {})
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, self.target)
        return form, {k: manifest[k] for k in ("modules", "fingerprint")}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One opening of this bid at a time, across threads and processes."""
        with open(self.target.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield


def _record_opened(decryption: BidDecryption, bid_file: _BidFile, form: dict, manifest: dict) -> None:
    decryption.price_form = canonical_json(form).decode()
    decryption.manifest = canonical_json(manifest).decode()
    decryption.plaintext_key = str(bid_file.target.relative_to(current_app.config["STORAGE_DIR"]))
    decryption.state, decryption.decrypted_at = DecryptionState.DECRYPTED, _now()


def _open_bid(decryption: BidDecryption, content_key: bytes) -> None:
    """Open the bid inside the caller's transaction (the escrow path: a few officers, once per failed bid)."""
    bid_file = _BidFile.of(decryption)
    form, manifest = bid_file.open(content_key)
    _record_opened(decryption, bid_file, form, manifest)


def _require_window(opening: Opening) -> None:
    if opening.state is not OpeningState.DECRYPTING:
        raise OpeningRefused(f"当前不在解密阶段（{opening.state_label}）(not in the decryption stage)",
                             code="not_decrypting")
    if _now() >= opening.decryption_ends_at:
        raise OpeningRefused(f"解密时限已于 {format_local(opening.decryption_ends_at)} 结束 (the decryption window has "
                             f"closed)", code="window_closed")


def _require_decryptable(decryption: BidDecryption) -> None:
    if decryption.state is DecryptionState.DECRYPTED:
        raise OpeningRefused("该投标文件已解密 (this bid is already decrypted)", code="already_decrypted")
    if decryption.state is DecryptionState.FAILED:
        raise OpeningRefused("该投标文件解密失败待主持人认定；认定重试后方可再次解密 (failed: waiting for the host's "
                             "ruling)", code="awaiting_ruling")


def decrypt(decryption: BidDecryption, user: User, content_key_b64: str, ip: str | None) -> BidDecryption:
    """The bidder hands over the content key it unwrapped on its side; the platform opens the bid.

    Commits by itself, in steps (see the comment below); the caller's own commit afterwards finds nothing left."""
    opening = db.session.get(Opening, decryption.opening_id)
    if not decryption.bid.is_owned_by(user):
        raise Forbidden("只能解密本单位的投标文件 (you can decrypt only your own bid)")
    _require_window(opening)
    _require_decryptable(decryption)
    try:
        key = base64.b64decode(content_key_b64, validate=True)
    except ValueError:
        raise ValidationError("密钥应为 base64 (the key must be base64)", field="content_key") from None
    if len(key) != 32:
        raise ValidationError("密钥长度应为32字节 (the content key has 32 bytes)", field="content_key")
    # The bid is decrypted with no transaction open (on SQLite a transaction holds the database's one write
    # lock, and every other bidder in the hall would wait out this decryption); a lock on the bid keeps one
    # opening of it at a time, and the outcome is recorded, and committed, in a short transaction of its own.
    bid_file, decryption_id, opening_id = _BidFile.of(decryption), decryption.id, opening.id
    db.session.commit()
    with bid_file.locked():
        decryption = db.session.get(BidDecryption, decryption_id, populate_existing=True)
        _require_decryptable(decryption)
        db.session.commit()
        try:
            outcome = bid_file.open(key)
        except envelope.WrongKey as exc:
            outcome = exc
        except (envelope.EnvelopeError, PackageError, PriceFormInvalid) as exc:
            outcome = exc
        opening = db.session.get(Opening, opening_id, with_for_update=True, populate_existing=True)
        decryption = db.session.get(BidDecryption, decryption_id, populate_existing=True)
        decryption.attempts += 1
        decryption.decryption_ip = ip
        if isinstance(outcome, envelope.WrongKey):
            audit.record("opening.decryption_refused", decryption, actor=user, reason="wrong_key")
            db.session.commit()
            raise OpeningRefused(f"密钥与该投标文件不符 (the key does not open this bid): {outcome}",
                                 code="wrong_key", status=422)
        if isinstance(outcome, Exception):
            decryption.state, decryption.fault = DecryptionState.FAILED, Fault.UNKNOWN
            decryption.last_error = str(outcome)
            audit.record("opening.decryption_failed", decryption, actor=user, error=str(outcome)[:500])
        else:
            _record_opened(decryption, bid_file, *outcome)
            audit.record("opening.decrypted", decryption, actor=user, bid_id=decryption.bid_id, escrow=False)
            _contribute_k_entropy(opening, decryption)
        db.session.commit()
    return decryption


def report_failure(decryption: BidDecryption, user: User, reason: str) -> BidDecryption:
    """The bidder cannot decrypt (key lost, CA lock broken...): the host rules whose fault it is."""
    if not decryption.bid.is_owned_by(user):
        raise Forbidden("只能申报本单位的投标文件 (only your own bid)")
    _require_window(db.session.get(Opening, decryption.opening_id))
    if decryption.state is not DecryptionState.PENDING:
        raise OpeningRefused("该投标文件不在待解密状态 (the bid is not pending)")
    if not (reason or "").strip():
        raise ValidationError("请说明原因 (a reason is required)", field="reason")
    decryption.state, decryption.fault, decryption.last_error = DecryptionState.FAILED, Fault.UNKNOWN, reason.strip()
    audit.record("opening.decryption_failed", decryption, actor=user, error=reason.strip()[:500], reported=True)
    return decryption


def expire_window(opening: Opening) -> int:
    """When the window has closed, every bid still pending has failed; the host must rule on each."""
    if opening.state is not OpeningState.DECRYPTING or _now() < opening.decryption_ends_at:
        return 0
    count = 0
    for decryption in decryptions(opening):
        if decryption.state is DecryptionState.PENDING:
            decryption.state, decryption.fault = DecryptionState.FAILED, Fault.UNKNOWN
            decryption.last_error = "解密时限内未完成解密 (not decrypted within the window)"
            audit.record("opening.decryption_failed", decryption, error="window closed")
            count += 1
    return count


def rule(decryption: BidDecryption, host: User, ruling: str, reason: str) -> Ruling:
    """Art 31: BIDDER → revoked; PLATFORM → withdrawn (escrow may open it); RESET → retry while the window is open.
    A BIDDER ruling may be corrected to PLATFORM, never the reverse."""
    opening = db.session.get(Opening, decryption.opening_id)
    _require_host(opening, host)
    if not (reason or "").strip():
        raise ValidationError("每项认定都需要说明理由 (every ruling needs a reason)", field="reason")
    if decryption.state is not DecryptionState.FAILED:
        raise OpeningRefused("只有解密失败的投标文件需要认定 (only failed decryptions are ruled)")
    current = decryption.fault or Fault.UNKNOWN
    if ruling == "reset":
        if current is not Fault.UNKNOWN:
            raise OpeningRefused("已认定责任的不能重试 (a ruled failure cannot be reset)")
        _require_window(opening)
        decryption.state, decryption.fault = DecryptionState.PENDING, None
    elif ruling in ("bidder", "platform"):
        FAULT_RULINGS.check(current, Fault(ruling))
        decryption.fault = Fault(ruling)
    else:
        raise ValidationError("认定应为 bidder、platform 或 reset (ruling: bidder, platform or reset)", field="ruling")
    entry = Ruling(decryption_id=decryption.id, ruling=ruling, reason=reason.strip(), by_id=host.id, at=_now())
    db.session.add(entry)
    audit.record("opening.ruled", decryption, actor=host, ruling=ruling, before=current.value, reason=reason.strip())
    return entry


def release_share(decryption: BidDecryption, officer: User, x: int, y_hex: str) -> ShareRelease:
    """An opening officer releases its escrow share; the threshold of shares together opens the bid."""
    opening = db.session.get(Opening, decryption.opening_id)
    configured = db.session.scalar(sa.select(OpeningOfficer).where(
        OpeningOfficer.section_id == opening.section_id, OpeningOfficer.user_id == officer.id))
    if configured is None:
        raise Forbidden("您不是本标段的开标密钥保管人 (you are not an opening officer of this section)")
    if decryption.fault is not Fault.PLATFORM or decryption.state is not DecryptionState.FAILED:
        raise OpeningRefused("主持人认定为非投标人原因后才能释放托管密钥 (shares are released only after a "
                             "PLATFORM ruling)", code="no_platform_ruling")
    with open(Path(current_app.config["STORAGE_DIR"]) / decryption.bid.storage_key, "rb") as stream:
        header = envelope.read_header(stream)
    expected = header.share_for(configured.officer_id)
    try:
        y = bytes.fromhex(y_hex)
    except ValueError:
        raise ValidationError("份额应为十六进制 (the share is hex)", field="y") from None
    if x != expected.x or len(y) != 32:
        raise ValidationError("该份额不属于您在本投标文件中的位置 (this share is not yours for this bid)", field="x")
    if db.session.scalar(sa.select(ShareRelease.id).where(ShareRelease.decryption_id == decryption.id,
                                                          ShareRelease.officer_id == officer.id)):
        raise OpeningRefused("您已释放过份额 (you already released your share)")
    release = ShareRelease(decryption_id=decryption.id, officer_id=officer.id, x=x, y_hex=y_hex, at=_now())
    db.session.add(release)
    db.session.flush()
    audit.record("opening.share_released", decryption, actor=officer, x=x)
    released = db.session.scalars(sa.select(ShareRelease).where(ShareRelease.decryption_id == decryption.id)).all()
    if len(released) >= header.threshold:
        try:
            key = envelope.combine_shares(header, [Share(r.x, bytes.fromhex(r.y_hex)) for r in released])
            _open_bid(decryption, key)
        except (envelope.EnvelopeError, PackageError, PriceFormInvalid) as exc:
            decryption.last_error = f"托管密钥开启失败 (escrow opening failed): {exc}"
            audit.record("opening.escrow_failed", decryption, error=str(exc)[:500])
            return release
        decryption.decrypted_by_escrow = True
        for r in released:
            r.y_hex = None  # the key did its work; no share outlives the opening
        audit.record("opening.decrypted", decryption, bid_id=decryption.bid_id, escrow=True)
        _contribute_k_entropy(opening, decryption)
    return release


def _contribute_k_entropy(opening: Opening, decryption: BidDecryption) -> None:
    """Each opened price form, unknown to the platform when it committed to K's secret, is entropy for K."""
    if not opening.k_commitment:
        return
    entries = json.loads(opening.k_contributions or "[]")
    entries.append({"contributor": f"bid:{decryption.bid_id}", "at": _now().isoformat(),
                    "entropy": decryption.bid.ciphertext_digest + ":" + (decryption.price_form or "")})
    opening.k_contributions = json.dumps(entries, ensure_ascii=False)
