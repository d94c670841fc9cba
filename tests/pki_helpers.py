"""Holders' keys made on the holder's side and certified through the API, as bidtool and the browser do."""
from __future__ import annotations

import io
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from crypto import certificates as x509ca
from crypto import envelope


#: The encryption private keys the tests hold, by certificate fingerprint, as each holder's own machine would.
ENCRYPTION_KEYS: dict[str, object] = {}


@dataclass
class Holder:
    signing_key: object
    signing_cert: object
    encryption_key: object
    encryption_cert: object
    headers: dict


def enrol(client, headers: dict, *, for_organisation: bool = True, name: str = "holder") -> Holder:
    signing_key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(signing_key, name).public_bytes(serialization.Encoding.PEM).decode()
    response = client.post("/api/v1/certificates/signing", json={"csr": csr, "for_organisation": for_organisation},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    signing_cert = x509ca.load_certificate(response.get_json()["pem"].encode())
    encryption_key = x509ca.generate_encryption_key()
    request = x509ca.create_encryption_request(encryption_key.public_key(), signing_key, signing_cert)
    response = client.post("/api/v1/certificates/encryption", json={"request": request,
                                                                    "for_organisation": for_organisation},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    encryption_cert = x509ca.load_certificate(response.get_json()["pem"].encode())
    ENCRYPTION_KEYS[response.get_json()["fingerprint"]] = encryption_key
    return Holder(signing_key, signing_cert, encryption_key, encryption_cert, headers)


def enrol_directly(user, *, for_organisation: bool = False) -> Holder:
    """``enrol`` without HTTP (no token needed): keys made here, certificates issued from requests by core.pki."""
    from demo.keys import new_holder_keys

    signing_key, signing, encryption_key, encryption = new_holder_keys(user, for_organisation=for_organisation)
    ENCRYPTION_KEYS[encryption.fingerprint] = encryption_key
    return Holder(signing_key, signing.x509, encryption_key, encryption.x509, {})


def seal_bid(client, bidder: Holder, section_id: int, plaintext: bytes, *, chunk_size: int = 64 * 1024) -> bytes:
    info = client.get(f"/api/v1/sections/{section_id}/sealing", headers=bidder.headers).get_json()
    officers = [(o["officer"], x509ca.load_certificate(o["certificate"].encode())) for o in info["officers"]]
    out = io.BytesIO()
    envelope.seal(io.BytesIO(plaintext), out, ids=envelope.BidIds(**info["ids"]), bidder_signing_key=bidder.signing_key,
                  bidder_signing_cert=bidder.signing_cert, bidder_encryption_cert=bidder.encryption_cert,
                  officers=officers, threshold=info["threshold"], chunk_size=chunk_size)
    return out.getvalue()


def upload(client, headers: dict, section_id: int, data: bytes, *, piece: int = 100_000, finalise: bool = True,
           size: int | None = None):
    """Upload ``data`` in pieces; ``size`` declares a larger whole when only a first part is sent."""
    started = client.post(f"/api/v1/sections/{section_id}/uploads", json={"size": size or len(data)}, headers=headers)
    assert started.status_code == 201, started.get_json()
    upload_id = started.get_json()["upload"]
    for offset in range(0, len(data), piece):
        response = client.put(f"/api/v1/uploads/{upload_id}/chunks?offset={offset}", data=data[offset:offset + piece],
                              headers=headers | {"Content-Type": "application/octet-stream"})
        if response.status_code != 200:
            return upload_id, response
    if not finalise:
        return upload_id, None
    return upload_id, client.post(f"/api/v1/uploads/{upload_id}/finalise", headers=headers)
