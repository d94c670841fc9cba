"""PDF digital signatures (PAdES-style CMS in the PDF's signature field) with pyHanko.

The evaluation report carries the platform's signature inside the PDF, so any standard validator (pyHanko,
Adobe Reader, Foxit...) given the platform CA as a trust root confirms that the file is intact and who signed
it, without the platform. The key and certificate are the platform's own signing identity (core.pki).
"""
from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

FIELD = "bidhall-platform-signature"


def _outside_any_event_loop(work):
    """pyHanko's synchronous API runs its own asyncio loop, which cannot start inside a running one (e.g. a
    caller on an asyncio thread); such callers get the work done on a short-lived thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def sign_pdf(pdf: bytes, key, certificate: x509.Certificate, ca_certificate: x509.Certificate, *,
             reason: str, location: str = "bidhall") -> bytes:
    """Append an incremental update holding a signature over the whole file."""
    private = asn1_keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    signer = signers.SimpleSigner(signing_cert=_asn1(certificate), signing_key=private,
                                  cert_registry=SimpleCertificateStore.from_certs([_asn1(ca_certificate)]))
    metadata = signers.PdfSignatureMetadata(field_name=FIELD, reason=reason, location=location,
                                            md_algorithm="sha256")
    out = io.BytesIO()
    _outside_any_event_loop(lambda: signers.PdfSigner(metadata, signer=signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out))
    return out.getvalue()


@dataclass(frozen=True)
class PdfSignatureStatus:
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    signer: str

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_whole_file


def validate_pdf(pdf: bytes, ca_certificate: x509.Certificate) -> PdfSignatureStatus:
    """Check the file's platform signature against ``ca_certificate`` as the only trust root."""
    reader = PdfFileReader(io.BytesIO(pdf))
    signatures = [s for s in reader.embedded_signatures if s.field_name == FIELD]
    if not signatures:
        return PdfSignatureStatus(False, False, False, False, "")
    status = _outside_any_event_loop(lambda: validate_pdf_signature(
        signatures[0], ValidationContext(trust_roots=[_asn1(ca_certificate)])))
    return PdfSignatureStatus(intact=bool(status.intact), valid=bool(status.valid), trusted=bool(status.trusted),
                              covers_whole_file=status.coverage.name == "ENTIRE_FILE",
                              signer=status.signing_cert.subject.human_friendly)
