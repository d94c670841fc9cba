"""Real PDF tender documents for the demo, written with reportlab in Chinese."""
from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"


def tender_documents_pdf(title: str, paragraphs: list[str]) -> bytes:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(title)
    width, height = A4
    y = height - 72
    pdf.setFont(FONT, 18)
    pdf.drawCentredString(width / 2, y, title)
    y -= 40
    pdf.setFont(FONT, 11)
    for paragraph in paragraphs:
        for start in range(0, len(paragraph), 38):
            if y < 72:
                pdf.showPage()
                pdf.setFont(FONT, 11)
                y = height - 72
            pdf.drawString(72, y, paragraph[start:start + 38])
            y -= 18
        y -= 8
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
