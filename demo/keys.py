"""Demo key holders: what each demo user's own machine would hold, made as bidtool makes it.

For the demo only: the keys are generated here, acting as each holder's computer, and written as bidtool
home folders under instance/demo-keys/<user>/ (password-protected PKCS#8, the demo password). The platform
receives only certificate requests, exactly as from bidtool; no private key is stored in the database.
"""
from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flask import current_app

from core import pki
from core.accounts import User
from crypto import certificates as x509ca
from crypto.keystore import save_private_key_file


def new_holder_keys(user: User, *, for_organisation: bool) -> tuple[object, pki.Certificate, object, pki.Certificate]:
    """Act as the holder's machine: make both key pairs and have the platform certify them from requests only.
    Returns (signing key, signing certificate row, encryption key, encryption certificate row)."""
    signing_key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(signing_key, user.username).public_bytes(serialization.Encoding.PEM).decode()
    signing = pki.issue_signing_certificate(user, csr, for_organisation=for_organisation)
    encryption_key = x509ca.generate_encryption_key()
    request = x509ca.create_encryption_request(encryption_key.public_key(), signing_key, signing.x509)
    encryption = pki.issue_encryption_certificate(user, request, for_organisation=for_organisation)
    return signing_key, signing, encryption_key, encryption


def enrol_holder(user: User, *, for_organisation: bool, password: str, server: str) -> Path:
    home = Path(current_app.instance_path) / "demo-keys" / user.username
    home.mkdir(parents=True, exist_ok=True)
    signing_key, signing, encryption_key, encryption = new_holder_keys(user, for_organisation=for_organisation)
    save_private_key_file(signing_key, home / "signing-key.pem", password)
    save_private_key_file(encryption_key, home / "encryption-key.pem", password)
    (home / "signing-cert.pem").write_text(signing.pem)
    (home / "encryption-cert.pem").write_text(encryption.pem)
    (home / "config.json").write_text(json.dumps({"server": server, "username": user.username}, indent=2))
    return home
