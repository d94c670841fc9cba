"""Sealing a draw's confidential parts at rest: the committed secret, the selection, who holds each seat.

Each draw has a random salt; two keys are derived from the application secret with HKDF-SHA256 and that salt:
- the *seal key* encrypts (AES-256-GCM, a fresh nonce each time, the draw's salt and the purpose as associated
  data) the secret, the selection and each assignment's expert code;
- the *tag key* computes opaque expert tags (HMAC-SHA256 of the expert's code), so an expert finds their own
  notices and the audit log can evidence a decline without naming anyone, and the result commitment written
  to the audit log at the reveal. It is published with the record after the award, so anyone can then link the
  audit log's tags and result commitment to the named experts.

Neither key is stored: a database dump alone opens nothing. This is not yet the end-to-end sealing the issue
asks for ("encrypted to the evaluation and supervision keys"): the platform process, which holds SECRET_KEY,
can still open every draw. Sealing the list to supervisors' own encryption certificates, so that the platform
cannot, waits for the certificates work (crypto/certificates.py issues them; the web layer does not yet).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from core.errors import DomainError
from crypto.draw import canonical_json

SEAL_INFO = b"bidhall expert draw seal v1"
TAG_INFO = b"bidhall expert draw tags v1"


def new_salt() -> str:
    return secrets.token_hex(16)


def _derive(salt: str, info: bytes) -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=bytes.fromhex(salt), info=info).derive(secret)


class DrawKeys:
    """The two keys of one draw, derived once per operation."""

    def __init__(self, salt: str):
        self.salt = salt
        self._seal = AESGCM(_derive(salt, SEAL_INFO))
        self.tag_key = _derive(salt, TAG_INFO)

    def _aad(self, purpose: str) -> bytes:
        return f"bidhall/draw/{self.salt}/{purpose}".encode()

    def seal(self, purpose: str, data: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._seal.encrypt(nonce, data, self._aad(purpose))).decode()

    def open(self, purpose: str, sealed: str) -> bytes:
        raw = base64.b64decode(sealed.encode())
        try:
            return self._seal.decrypt(raw[:12], raw[12:], self._aad(purpose))
        except InvalidTag:
            raise DomainError("抽取记录的密封数据无法打开：数据被改动，或平台密钥已更换 "
                              f"(sealed draw data ({purpose}) cannot be opened: altered, or the platform key changed)",
                              code="draw_seal_broken", status=409) from None

    def seal_json(self, purpose: str, value: Any) -> str:
        return self.seal(purpose, json.dumps(value, ensure_ascii=False, sort_keys=True).encode())

    def open_json(self, purpose: str, sealed: str) -> Any:
        return json.loads(self.open(purpose, sealed))

    def expert_tag(self, expert_code: str) -> str:
        return hmac.new(self.tag_key, b"expert\0" + expert_code.encode(), hashlib.sha256).hexdigest()

    def result_commitment(self, result: dict) -> str:
        """Binds the platform to the selection at the reveal without disclosing it (published: the tag key)."""
        return hmac.new(self.tag_key, b"result\0" + canonical_json(result), hashlib.sha256).hexdigest()


def keys_of(draw) -> DrawKeys:
    return DrawKeys(draw.salt)


def expert_tag(tag_key: bytes, expert_code: str) -> str:
    """The same tag as ``DrawKeys.expert_tag``, from a published tag key (anyone can recompute it)."""
    return hmac.new(tag_key, b"expert\0" + expert_code.encode(), hashlib.sha256).hexdigest()


def result_commitment(tag_key: bytes, result: dict) -> str:
    return hmac.new(tag_key, b"result\0" + canonical_json(result), hashlib.sha256).hexdigest()
