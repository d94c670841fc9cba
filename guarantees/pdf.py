"""The guarantee's PDF rendering, as an issuer produces it: the signed terms in Chinese, the document hash and
the verification code (验真码) anyone can look up on the platform. No Flask: the simulator uses it too.

Chinese text uses reportlab's built-in CID font STSong-Light (no font file is shipped); the verification code
and the hash are in Helvetica so that any PDF text extractor reads them back exactly.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"
FORM_TITLES = {"bank_guarantee": "投标保函（银行保函）", "guarantee_company": "投标保函（担保公司保函）",
               "surety_insurance": "投标保证保险保单"}


def _font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def render_guarantee_pdf(payload: Mapping[str, Any], *, document_hash: str, verification_code: str,
                         terms: Mapping[str, Any] | None = None, verify_url: str | None = None) -> bytes:
    """Render a guarantee. ``terms`` are the plain terms; a cipher guarantee's stay sealed until the opening."""
    _font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"{FORM_TITLES.get(payload['form'], '投标保函')} {payload['guarantee_no']}")
    width, height = A4
    y = height - 72
    pdf.setFont(FONT, 18)
    pdf.drawCentredString(width / 2, y, FORM_TITLES.get(payload["form"], "投标保函"))
    y -= 36
    terms = terms if terms is not None else payload.get("terms")
    lines = [
        ("保函编号", payload["guarantee_no"]), ("申请编号", payload["application_no"]),
        ("保函类型", "密文保函" if payload["kind"] == "cipher" else "明文保函"),
        ("出函机构（保证人）", f"{payload['guarantor']['name']}（{payload['guarantor']['credit_code']}）"),
        ("被保证人（投标人）", f"{payload['principal']['name']}（{payload['principal']['credit_code']}）"),
        ("担保金额", f"人民币 {payload['amount']} 元"),
        ("有效期", f"{payload['valid_from']} 至 {payload['valid_until']}"),
        ("开立时间（UTC）", payload["issued_at"]),
    ]
    if terms:
        lines[3:3] = [("项目", f"{terms['project_name']}（{terms['project_code']}）"),
                      ("标段", f"{terms['section_name']}（{terms['section_code']}）"),
                      ("受益人（招标人）", f"{terms['beneficiary']['name']}（{terms['beneficiary']['credit_code']}）")]
    else:
        lines.insert(3, ("项目、标段与受益人", "密文，开标后解密（sealed until the opening）"))
    for label, value in lines:
        pdf.setFont(FONT, 11)
        pdf.drawString(72, y, f"{label}：")
        pdf.drawString(200, y, str(value)[:40])
        y -= 22
    y -= 10
    pdf.setFont(FONT, 10)
    for sentence in ("鉴于被保证人参加上述标段投标，保证人不可撤销地保证：被保证人在投标有效期内撤销投标文件、",
                     "中标后无正当理由不与招标人订立合同或有法律法规规定的其他情形的，保证人在收到受益人",
                     "书面索赔通知及证明材料后，在担保金额内承担保证责任。本保函以电子签名文件为准。"):
        pdf.drawString(72, y, sentence)
        y -= 16
    y -= 20
    pdf.setFont(FONT, 11)
    pdf.drawString(72, y, "验真码（verification code）：")
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(240, y, verification_code)
    y -= 20
    pdf.setFont(FONT, 9)
    pdf.drawString(72, y, "文件哈希 SHA-256：")
    pdf.setFont("Helvetica", 8)
    pdf.drawString(170, y, document_hash)
    if verify_url:
        widget = QrCodeWidget(verify_url)
        x0, y0, x1, y1 = widget.getBounds()
        size = 96
        drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, pdf, width - 72 - size, 60)
        pdf.setFont("Helvetica", 7)
        pdf.drawRightString(width - 72, 50, verify_url)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def pdf_shows_code(data: bytes, code: str) -> bool:
    """Whether the PDF's text carries the verification code (read back with pypdf)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "".join(page.extract_text() or "" for page in reader.pages[:3])
    except (PdfReadError, ValueError, KeyError, TypeError):
        return False
    return code in text
