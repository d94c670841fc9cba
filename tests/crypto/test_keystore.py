"""Password-protected key files for the bidder tool."""
from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization

from crypto.certificates import RSA_OAEP, generate_encryption_key, generate_signing_key
from crypto.keystore import (KeystoreError, WrongPassword, dump_private_key, load_private_key,
                             load_private_key_file, save_private_key_file)


def test_a_key_file_round_trips_and_is_private(tmp_path):
    key = generate_signing_key()
    path = save_private_key_file(key, tmp_path / "signing.pem", "正确的密码 correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = load_private_key_file(path, "正确的密码 correct horse")
    assert loaded.private_numbers() == key.private_numbers()
    assert [p.name for p in tmp_path.iterdir()] == ["signing.pem"]


def test_a_wrong_password_says_so(tmp_path):
    path = save_private_key_file(generate_encryption_key(RSA_OAEP, rsa_bits=2048), tmp_path / "enc.pem", "right")
    with pytest.raises(WrongPassword, match="password does not unlock"):
        load_private_key_file(path, "wrong")


def test_refusals(tmp_path):
    key = generate_signing_key()
    with pytest.raises(KeystoreError, match="needs a password"):
        dump_private_key(key, "")
    save_private_key_file(key, tmp_path / "k.pem", "pw")
    with pytest.raises(KeystoreError, match="already exists"):
        save_private_key_file(key, tmp_path / "k.pem", "pw")
    clear = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(KeystoreError, match="not a password-protected"):
        load_private_key(clear, "pw")
    damaged = dump_private_key(key, "pw").replace(b"\n", b"\n!", 3)
    with pytest.raises(KeystoreError):
        load_private_key(damaged, "pw")
    with pytest.raises(KeystoreError, match="cannot read"):
        load_private_key_file(tmp_path / "missing.pem", "pw")
