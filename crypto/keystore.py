"""Password-protected private key files for the bidder tool and the platform CA.

The bidder's private keys never leave the bidder's machine (the fangjian mistake was sending them to the
server, anchors.md). On disk they are PKCS#8 PEM encrypted with cryptography's ``BestAvailableEncryption``
(a password-based KDF and AES-256), written with mode 0600 through a temporary file and an atomic rename so
a crash never leaves half a key.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from .canonical import CryptoError


class KeystoreError(CryptoError):
    """A key file that cannot be written or read."""

    code = "keystore_invalid"


class WrongPassword(KeystoreError):
    code = "keystore_wrong_password"


def dump_private_key(key: Any, password: str) -> bytes:
    """Encrypt ``key`` under ``password`` as PKCS#8 PEM."""
    if not password:
        raise KeystoreError("a key file needs a password; an empty password would leave the key readable")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password.encode("utf-8")))


def load_private_key(data: bytes, password: str) -> Any:
    """Decrypt a PKCS#8 PEM key; a wrong password raises :class:`WrongPassword`."""
    if b"ENCRYPTED PRIVATE KEY" not in data:
        raise KeystoreError("this is not a password-protected PKCS#8 key file")
    try:
        return serialization.load_pem_private_key(data, password.encode("utf-8"))
    except ValueError as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise WrongPassword("the password does not unlock this key file") from exc
        raise KeystoreError(f"the key file is damaged: {exc}") from exc
    except TypeError as exc:
        raise KeystoreError(f"the key file cannot be read: {exc}") from exc


def save_private_key_file(key: Any, path: str | os.PathLike[str], password: str) -> Path:
    """Write ``key`` to ``path`` (mode 0600, atomically); refuses to overwrite an existing file."""
    target = Path(path)
    if target.exists():
        raise KeystoreError(f"{target} already exists; choose another file or remove it first")
    data = dump_private_key(key, password)
    fd, temporary = tempfile.mkstemp(prefix=".key-", dir=target.parent or Path("."))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, target)
    finally:
        os.unlink(temporary)
    return target


def load_private_key_file(path: str | os.PathLike[str], password: str) -> Any:
    """Read a key written by :func:`save_private_key_file`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read the key file {path}: {exc.strerror}") from exc
    return load_private_key(data, password)
