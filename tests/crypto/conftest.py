"""A small public-key infrastructure for the crypto tests: one platform CA and certified parties.

Keys are real (P-256 and one RSA-2048), made once per session so the tests stay fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509

from crypto.certificates import (ECDH_P256, RSA_OAEP, Holder, PlatformCA, create_encryption_request,
                                 create_signing_request, generate_encryption_key, generate_signing_key)


@dataclass(frozen=True)
class Party:
    holder: Holder
    signing_key: Any
    signing_cert: x509.Certificate
    encryption_key: Any
    encryption_cert: x509.Certificate


class Pki:
    def __init__(self, ca: PlatformCA) -> None:
        self.ca = ca

    def party(self, name: str, identifier: str, role: str, algorithm: str = ECDH_P256) -> Party:
        holder = Holder(name, identifier, role)
        signing_key = generate_signing_key()
        signing_cert = self.ca.issue_signing_certificate(create_signing_request(signing_key, name), holder)
        encryption_key = generate_encryption_key(algorithm, rsa_bits=2048)
        request = create_encryption_request(encryption_key.public_key(), signing_key, signing_cert)
        encryption_cert = self.ca.issue_encryption_certificate(request, signing_cert, revoked_serials=set())
        return Party(holder, signing_key, signing_cert, encryption_key, encryption_cert)


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki(PlatformCA.create("bidhall test CA"))


@pytest.fixture(scope="session")
def bidder(pki: Pki) -> Party:
    return pki.party("福州某某建设工程有限公司", "91350100M000100Y43", "bidder")


@pytest.fixture(scope="session")
def other_bidder(pki: Pki) -> Party:
    return pki.party("厦门另一建筑有限公司", "91350200MA2XXXXX1K", "bidder")


@pytest.fixture(scope="session")
def officers(pki: Pki) -> list[Party]:
    """Agent, supervisor and trading-centre custodian; the custodian uses RSA-OAEP."""
    return [pki.party("代理 王工", "user:101", "opening_officer"),
            pki.party("监督 李工", "user:102", "opening_officer"),
            pki.party("交易中心 陈工", "user:103", "opening_officer", RSA_OAEP)]
