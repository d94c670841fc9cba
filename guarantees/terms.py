"""What a guarantee for a section must name, and the per-application keys of cipher guarantees (密文保函).

Each cipher application gets a fresh AES-256 key. The platform keeps it sealed (AES-256-GCM) under a key
derived from the application secret, so a database dump alone opens no terms; the platform opens it to
verify the guarantee, and releases it to the issuer only after the section's opening
(``guarantees.release.open_bid_security``).
"""
from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from trading.models import Section


def terms_of(section: Section) -> dict:
    """Project, section and beneficiary (the tenderee, with its credit code): what a cipher guarantee hides."""
    project = section.project
    return {"project_code": project.code, "project_name": project.name, "section_code": section.code,
            "section_name": section.name,
            "beneficiary": {"name": project.tenderee.name, "credit_code": project.tenderee.credit_code}}


def _sealing_key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"bidhall guarantee terms keys v1").derive(secret)


def seal_application_key(key: bytes, application_no: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_sealing_key()).encrypt(nonce, key, application_no.encode())).decode()


def unseal_application_key(sealed: str, application_no: str) -> bytes:
    raw = base64.b64decode(sealed)
    return AESGCM(_sealing_key()).decrypt(raw[:12], raw[12:], application_no.encode())
