"""An issuer's HTTP client for the platform's issuer API: every request signed, every answer checked.

No Flask: a bank's integration (or the simulator) needs only this module, crypto/ and ``requests``.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import requests
from cryptography import x509

from crypto.signing import SignatureError, verify_bytes
from guarantees import protocol


class IssuerApiError(RuntimeError):
    def __init__(self, status: int, code: str, message: str, body: dict | None = None):
        super().__init__(f"{message} [{code}, HTTP {status}]")
        self.status, self.code, self.message, self.body = status, code, message, body or {}


@dataclass
class Signed:
    """A request ready to send (kept whole, so a test can send the very same bytes twice)."""

    method: str
    url: str
    headers: dict
    body: bytes


class IssuerClient:
    def __init__(self, server: str, key, certificate: x509.Certificate, *,
                 platform_certificate: x509.Certificate | None = None, timeout: float = 30):
        self.server = server.rstrip("/")
        self.key, self.certificate = key, certificate
        self.platform_certificate = platform_certificate
        self.timeout = timeout
        self.session = requests.Session()

    def prepare(self, method: str, path: str, body: dict | None = None, *, idempotency_key: str | None = None) -> Signed:
        full = "/api/v1" + path
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        headers = protocol.sign_request(self.key, self.certificate, method, full, data)
        headers["Content-Type"] = "application/json"
        if method.upper() in ("POST", "PUT"):
            headers[protocol.HEADER_IDEMPOTENCY] = idempotency_key or uuid.uuid4().hex
        return Signed(method.upper(), self.server + full, headers, data)

    def send(self, signed: Signed) -> requests.Response:
        response = self.session.request(signed.method, signed.url, headers=signed.headers, data=signed.body,
                                        timeout=self.timeout)
        if response.ok and self.platform_certificate is not None:
            self._check_answer(signed, response)
        return response

    def _check_answer(self, signed: Signed, response: requests.Response) -> None:
        nonce = signed.headers[protocol.HEADER_NONCE]
        if response.headers.get(protocol.HEADER_NONCE) != nonce:
            raise IssuerApiError(response.status_code, "nonce_not_echoed", "the platform did not echo our nonce")
        try:
            verify_bytes(self.platform_certificate.public_key(),
                         protocol.response_signing_bytes(nonce, response.status_code, response.content),
                         bytes.fromhex(response.headers.get(protocol.HEADER_SIGNATURE, "")), what="answer signature")
        except (SignatureError, ValueError) as exc:
            raise IssuerApiError(response.status_code, "answer_signature_invalid", str(exc)) from exc

    def call(self, method: str, path: str, body: dict | None = None, *, idempotency_key: str | None = None):
        response = self.send(self.prepare(method, path, body, idempotency_key=idempotency_key))
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                raise IssuerApiError(response.status_code, "http_error", response.text[:300]) from None
            raise IssuerApiError(response.status_code, error.get("code", "error"), error.get("message", ""), error)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response.content
