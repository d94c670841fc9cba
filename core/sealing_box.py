"""Small secrets kept at rest (TOTP seeds) are sealed with a key derived from the application secret.

A database dump alone then reveals no second factor (fangjian stored one-time passwords in clear).
"""
from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bidhall sealed secrets v1").derive(secret)


def seal_secret(value: str) -> str:
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + AESGCM(_key()).encrypt(nonce, value.encode(), b"bidhall")).decode()


def open_secret(sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], b"bidhall").decode()
