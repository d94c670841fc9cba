"""Sealing a draw's confidential parts to public keys: the committed secret, the drawn list, who holds each seat.

The keys (docs/draw.md §8):
- the *evaluation key*: the ECDH P-256 pair of the platform's evaluation service (专家抽取与评标服务), kept in
  instance/pki/evaluation-service/ as password-protected PKCS#8, its certificate issued by the platform CA
  (core.pki.service_identity). The automated parts open with it: seat notices, confirmations, replacements,
  the re-check, cancellations, and from the evaluation's start the committee's sign-in and the pages.
- the *secret*: at the commit, the draw's 32-byte secret is wrapped (crypto.envelope.keys.wrap_secret) to the
  evaluation key only. A supervisor who knew it before the reveal could grind an entropy string to steer the
  draw, so no supervisor ever receives it; it is published with the record after the award.
- the *list key* L: 32 random bytes made at the reveal. From it, with HKDF-SHA256 (empty salt),
  ``seal key = HKDF(L, "bidhall-draw-list/1 seal <salt>")`` encrypts with AES-256-GCM (a fresh 12-byte nonce
  first, base64) the selection (associated data ``bidhall/draw/<salt>/result``) and each assignment's expert
  code (``bidhall/draw/<salt>/assignment/<slot>/<round>``, so a sealed code cannot be moved to another seat);
  ``tag key = HKDF(L, "bidhall-draw-list/1 tags <salt>")`` computes the opaque expert tags and the result
  commitment. The tag key is published with the record; L and the seal key never are.
- L is wrapped to the evaluation key and to the current encryption certificate of every supervisor of the draw
  (``DrawListKey`` rows). Each wrap's context is the canonical JSON ``{"format", "purpose": "draw_list_key",
  "draw", "salt", "recipient"}``, the recipient being the certificate's fingerprint: a wrap moved to another
  draw or recipient does not open.

SECRET_KEY plays no part in a draw's confidentiality any more (it only protects the evaluation key file, which
a database dump does not contain). Before the evaluation starts the server never opens the list to render a
page: supervisors open it with their own key, in the page (static/js/draw_list.js) or with bidtool
(``open_sealed_list`` below, which the tests use too).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import DomainError
from crypto.canonical import canonical_json as wrap_json
from crypto.draw import canonical_json
from crypto.envelope.errors import EnvelopeError
from crypto.envelope.format import KeyWrap
from crypto.envelope.keys import hkdf, unwrap_secret, wrap_secret
from crypto.signing import certificate_fingerprint, public_key_id

LIST_FORMAT = "bidhall-draw-list/1"
LIST_KEY_SIZE = 32
EVALUATION_SERVICE = "evaluation-service"
EVALUATION_HOLDER = "bidhall 专家抽取与评标服务"
#: How the list is sealed, as the supervisor's page and bidtool are told (docs/draw.md §8).
SCHEME = {
    "format": LIST_FORMAT,
    "wrap_context": 'canonical JSON {"draw", "format", "purpose": "draw_list_key", "recipient", "salt"}',
    "seal_key": "HKDF-SHA256(list key, salt = empty, info = 'bidhall-draw-list/1 seal ' + salt), 32 bytes",
    "tag_key": "HKDF-SHA256(list key, salt = empty, info = 'bidhall-draw-list/1 tags ' + salt), 32 bytes",
    "sealed": "base64(nonce (12) | AES-256-GCM ciphertext and tag)",
    "aad_result": "bidhall/draw/<salt>/result",
    "aad_assignment": "bidhall/draw/<salt>/assignment/<slot>/<round>",
    "expert_tag": "HMAC-SHA256(tag key, 'expert' 0x00 code), hex",
}


class SealedListError(DomainError):
    status = 409
    code = "draw_seal_broken"


def new_salt() -> str:
    return secrets.token_hex(16)


def list_key_context(draw_id: int, salt: str, recipient: str) -> bytes:
    """What a wrap of the list key is bound to: this draw, its salt, this recipient certificate."""
    return wrap_json({"format": LIST_FORMAT, "purpose": "draw_list_key", "draw": draw_id, "salt": salt,
                      "recipient": recipient})


def secret_context(draw_id: int, salt: str, commitment: str, recipient: str) -> bytes:
    return wrap_json({"format": LIST_FORMAT, "purpose": "draw_secret", "draw": draw_id, "salt": salt,
                      "commitment": commitment, "recipient": recipient})


def assignment_purpose(slot: int, round_: int) -> str:
    return f"assignment/{slot}/{round_}"


class ListKeys:
    """The keys one list key L derives: the seal key (selection, seat holders) and the tag key."""

    def __init__(self, salt: str, list_key: bytes):
        if len(list_key) != LIST_KEY_SIZE:
            raise SealedListError("名单密钥长度不对 (the list key has the wrong length)")
        self.salt = salt
        self._seal = AESGCM(hkdf(list_key, f"{LIST_FORMAT} seal {salt}".encode()))
        self.tag_key = hkdf(list_key, f"{LIST_FORMAT} tags {salt}".encode())

    def _aad(self, purpose: str) -> bytes:
        return f"bidhall/draw/{self.salt}/{purpose}".encode()

    def seal(self, purpose: str, data: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._seal.encrypt(nonce, data, self._aad(purpose))).decode()

    def open(self, purpose: str, sealed: str) -> bytes:
        try:
            raw = base64.b64decode(sealed.encode(), validate=True)
            return self._seal.decrypt(raw[:12], raw[12:], self._aad(purpose))
        except (InvalidTag, ValueError):
            raise SealedListError("抽取名单的密封数据无法打开：数据被改动，或不属于这一席位/这次抽取 "
                                  f"(sealed draw data ({purpose}) cannot be opened: altered, or moved from another "
                                  "seat or draw)") from None

    def seal_json(self, purpose: str, value: Any) -> str:
        return self.seal(purpose, json.dumps(value, ensure_ascii=False, sort_keys=True).encode())

    def open_json(self, purpose: str, sealed: str) -> Any:
        return json.loads(self.open(purpose, sealed))

    def seal_expert(self, slot: int, round_: int, expert_code: str) -> str:
        return self.seal(assignment_purpose(slot, round_), expert_code.encode())

    def expert_of(self, assignment) -> str:
        """The expert code sealed in an assignment (anything with ``slot``, ``round`` and ``expert_sealed``)."""
        return self.open(assignment_purpose(assignment.slot, assignment.round), assignment.expert_sealed).decode()

    def expert_tag(self, expert_code: str) -> str:
        return expert_tag(self.tag_key, expert_code)

    def result_commitment(self, result: dict) -> str:
        """Binds the platform to the selection at the reveal without disclosing it (published: the tag key)."""
        return result_commitment(self.tag_key, result)


def expert_tag(tag_key: bytes, expert_code: str) -> str:
    """The same tag as ``ListKeys.expert_tag``, from a published tag key (anyone can recompute it)."""
    return hmac.new(tag_key, b"expert\0" + expert_code.encode(), hashlib.sha256).hexdigest()


def result_commitment(tag_key: bytes, result: dict) -> str:
    return hmac.new(tag_key, b"result\0" + canonical_json(result), hashlib.sha256).hexdigest()


LIST_KEY = ("名单密钥", "list key")
SECRET = ("抽取种子", "draw secret")


def _unwrap(wrap: KeyWrap, private_key: Any, context: bytes, what: tuple[str, str]) -> bytes:
    try:
        return unwrap_secret(wrap, private_key, context, what=what[1])
    except EnvelopeError as exc:
        raise SealedListError(f"{what[0]}无法解开：它被改动过、属于另一次抽取，或不是密封给这把私钥的 "
                              f"({exc})") from None


# -- the evaluation service (server side) --------------------------------------------------------------------

def evaluation_identity():
    """The evaluation service's encryption certificate and key (core.pki.service_identity)."""
    from core.pki import service_identity

    return service_identity(EVALUATION_SERVICE, EVALUATION_HOLDER)


def seal_secret(draw, secret: bytes) -> str:
    """At the commit: wrap the draw's secret to the evaluation key alone (canonical JSON of the wrap)."""
    service = evaluation_identity()
    context = secret_context(draw.id, draw.salt, draw.commitment, certificate_fingerprint(service.certificate))
    return wrap_json(wrap_secret(secret, service.certificate, context).to_json()).decode()


def open_secret(draw) -> bytes:
    if not draw.secret_sealed:
        raise SealedListError("本次抽取尚未承诺，没有种子 (the draw has no committed secret)")
    try:
        wrap = KeyWrap.from_json(json.loads(draw.secret_sealed), "secret_sealed")
    except (ValueError, EnvelopeError):
        raise SealedListError("抽取种子的密封数据无法识别：被改动，或早于现行的密封方式 (the sealed draw secret is not "
                              "a key wrap: altered, or sealed before the current scheme)") from None
    context = secret_context(draw.id, draw.salt, draw.commitment, wrap.recipient)
    return _service_unwrap(wrap, context, SECRET)


def _service_unwrap(wrap: KeyWrap, context: bytes, what: tuple[str, str]) -> bytes:
    service = evaluation_identity()
    return _cached_service_unwrap(certificate_fingerprint(service.certificate), wrap, context, what)


@lru_cache(maxsize=4096)
def _cached_service_unwrap(service_fingerprint: str, wrap: KeyWrap, context: bytes, what: tuple[str, str]) -> bytes:
    """One ECDH per wrap and process: pages and sweeps open the same draws again and again. The cache holds
    what the process can recompute at any moment from its own key; the fingerprint keys it to that key."""
    if wrap.recipient != service_fingerprint:
        raise SealedListError(f"评标服务无法启封{what[0]}：它密封给的不是本平台当前的评标服务证书"
                              f"（instance/pki/{EVALUATION_SERVICE}/ 被更换了？） (the evaluation service cannot "
                              f"open the {what[1]}: it was sealed to another evaluation certificate, "
                              f"{wrap.recipient[:16]}…)")
    return _unwrap(wrap, evaluation_identity().private_key, context, what)


def seal_list(draw, supervisors) -> ListKeys:
    """At the reveal: a fresh list key L, wrapped to the evaluation key and to each ``(user, Certificate)``
    of the draw's supervisors; returns the keys it derives, to seal the selection and the seats."""
    from core.pki import Purpose
    from evaluation.draw_models import DrawListKey, ListKeyRecipient

    list_key = secrets.token_bytes(LIST_KEY_SIZE)
    service = evaluation_identity()
    recipients = [(ListKeyRecipient.EVALUATION, None, None, service.certificate)]
    for user, certificate in supervisors:
        if certificate.purpose is not Purpose.ENCRYPTION or certificate.is_revoked:
            raise SealedListError(f"{user.display_name} 的证书不能用于加密 (not a valid encryption certificate)")
        recipients.append((ListKeyRecipient.SUPERVISION, user, certificate, certificate.x509))
    for recipient, user, row, x509_certificate in recipients:
        fingerprint = certificate_fingerprint(x509_certificate)
        wrap = wrap_secret(list_key, x509_certificate, list_key_context(draw.id, draw.salt, fingerprint))
        draw.list_keys.append(DrawListKey(
            recipient=recipient, user_id=user.id if user else None, certificate_id=row.id if row else None,
            algorithm=wrap.algorithm, recipient_fingerprint=wrap.recipient, recipient_key=wrap.recipient_key,
            wrapped=wrap.wrapped.hex(), ephemeral_key=wrap.ephemeral_key.hex() if wrap.ephemeral_key else None))
    return ListKeys(draw.salt, list_key)


def wrap_of(row) -> KeyWrap:
    return KeyWrap(row.algorithm, row.recipient_fingerprint, row.recipient_key, bytes.fromhex(row.wrapped),
                   bytes.fromhex(row.ephemeral_key) if row.ephemeral_key else None)


def keys_of(draw) -> ListKeys:
    """The evaluation service opens the list (automated steps; pages only from the evaluation's start)."""
    from evaluation.draw_models import ListKeyRecipient

    row = next((k for k in draw.list_keys if k.recipient is ListKeyRecipient.EVALUATION), None)
    if row is None:
        raise SealedListError("本次抽取尚未抽取，没有名单 (the draw has not been drawn: there is no list)",
                              code="draw_not_drawn")
    context = list_key_context(draw.id, draw.salt, row.recipient_fingerprint)
    return ListKeys(draw.salt, _service_unwrap(wrap_of(row), context, LIST_KEY))


# -- a supervisor opens the list with their own key ------------------------------------------------------------

def sealed_list_package(draw, user) -> dict:
    """What a supervisor fetches to open the list on their side: their wraps, the sealed selection, the seats.
    Nothing here is readable without the supervisor's private key."""
    from core.db import db
    from core.pki import Certificate
    from evaluation.draw_models import ListKeyRecipient

    rows = [k for k in draw.list_keys if k.recipient is ListKeyRecipient.SUPERVISION and k.user_id == user.id]
    if not rows:
        raise SealedListError("名单未密封给您：抽取时您不是本次抽取的监督人员，或没有有效的加密证书 (the list was "
                              "not sealed to you: at the reveal you were not a supervisor of this draw or held no "
                              "valid encryption certificate)", code="not_sealed_to_you")
    wraps = []
    for row in rows:
        certificate = db.session.get(Certificate, row.certificate_id) if row.certificate_id else None
        wraps.append({"certificate": {"id": row.certificate_id, "fingerprint": row.recipient_fingerprint,
                                      "serial": certificate.serial if certificate else None},
                      "wrap": wrap_of(row).to_json()})
    return {"format": LIST_FORMAT, "draw": draw.id, "state": draw.state.value, "salt": draw.salt,
            "scheme": SCHEME, "wraps": wraps, "result_sealed": draw.result_sealed,
            "result_commitment": draw.result_commitment,
            "quotas": [{"specialty": q.specialty, "count": q.count, "reserves": q.reserves} for q in draw.quotas],
            "assignments": [{"id": a.id, "slot": a.slot, "quota": a.quota, "specialty": draw.quotas[a.quota].specialty,
                             "round": a.round, "venue": a.venue_code, "seat": a.seat, "status": a.status.value,
                             "notified_at": a.notified_at.isoformat(), "respond_by": a.respond_by.isoformat(),
                             "reason": a.decline_reason, "expert_tag": a.expert_tag, "expert_sealed": a.expert_sealed}
                            for a in sorted(draw.assignments, key=lambda a: a.id)]}


CURRENT_STATUSES = ("notified", "confirmed")


@dataclass(frozen=True)
class OpenedSeat:
    assignment: int
    slot: int
    quota: int
    specialty: str
    round: int
    venue: str | None
    seat: int | None
    status: str
    expert: str
    reason: str | None = None

    @property
    def current(self) -> bool:
        return self.status in CURRENT_STATUSES


@dataclass(frozen=True)
class OpenedList:
    draw: int
    result: dict
    seats: tuple[OpenedSeat, ...]   # every seat offered, in order (the notices and replacements)

    def members(self) -> dict[str, OpenedSeat]:
        """Expert code → the seat they hold now (per slot, the latest assignment still notified or confirmed)."""
        held: dict[int, OpenedSeat] = {}
        for seat in sorted(self.seats, key=lambda s: s.assignment):
            if seat.current:
                held[seat.slot] = seat
        return {seat.expert: seat for _slot, seat in sorted(held.items())}


def open_sealed_list(package: dict, private_key: Any, *, draw_id: int) -> OpenedList:
    """Open a supervisor's sealed-list package with their encryption private key, as their page does.

    ``draw_id`` is the draw the caller asked for: the wrap's context names it, so a package of another draw
    does not open. Every seat's code is checked against its tag and the selection against the result
    commitment, so a server that swapped rows is caught. Raises SealedListError saying what failed.
    """
    if package.get("format") != LIST_FORMAT or package.get("draw") != draw_id:
        raise SealedListError(f"这不是第{draw_id}号抽取的密封名单 (this is not the sealed list of draw {draw_id})")
    key_id = public_key_id(private_key.public_key())
    entry = next((w for w in package.get("wraps", []) if w["wrap"].get("recipient_key") == key_id), None)
    if entry is None:
        raise SealedListError("名单没有密封给这把私钥：请使用抽取时有效的加密证书对应的私钥 (the list is not sealed to "
                              "this private key: use the key of the encryption certificate valid at the draw)",
                              code="not_sealed_to_you")
    try:
        wrap = KeyWrap.from_json(entry["wrap"], "wrap")
    except EnvelopeError as exc:
        raise SealedListError(f"名单密钥的封装格式有误 (the list key's wrap is malformed): {exc}") from None
    salt = str(package["salt"])
    list_key = _unwrap(wrap, private_key, list_key_context(draw_id, salt, wrap.recipient), LIST_KEY)
    keys = ListKeys(salt, list_key)
    result = keys.open_json("result", package["result_sealed"])
    if package.get("result_commitment") and keys.result_commitment(result) != package["result_commitment"]:
        raise SealedListError("抽取结果与揭示时写入审计日志的结果承诺不符 (the selection does not match the result "
                              "commitment written at the reveal)")
    seats = []
    for a in package["assignments"]:
        code = keys.open(assignment_purpose(a["slot"], a["round"]), a["expert_sealed"]).decode()
        if not hmac.compare_digest(keys.expert_tag(code), a["expert_tag"]):
            raise SealedListError(f"第{a['slot'] + 1}席（第{a['round']}轮）的专家标记与密封的专家不符 (the expert tag of "
                                  f"assignment {a['id']} does not match the sealed expert)")
        seats.append(OpenedSeat(a["id"], a["slot"], a["quota"], a["specialty"], a["round"], a["venue"], a["seat"],
                                a["status"], code, a.get("reason")))
    return OpenedList(draw_id, result, tuple(seats))
