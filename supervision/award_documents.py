"""The award notice (中标通知书, 招标投标法第45条) and the result notice (中标结果通知书), as signed PDFs.

Like the opening record (trading/opening_record.py): the document's facts are data, their canonical JSON is
digested, the digest is printed on every page, and the platform signs the digest with the PDF's own hash.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core.clock import format_local
from core.db import db
from core.pdf import Paragraph, Spacer, build, styles, table
from core.pki import platform
from crypto.canonical import canonical_json
from crypto.signing import sign_document
from supervision.award_models import Award, EvaluationResult
from trading.models import Section
from trading.opening import BidDecryption


def _winner_form(award: Award, section: Section) -> list[dict]:
    """The winner's read-out price form, field by field (total price, duration, quality, project manager...)."""
    if award.candidate.bid_id is None:
        return []
    decryption = db.session.scalar(sa.select(BidDecryption).where(BidDecryption.bid_id == award.candidate.bid_id))
    form = json.loads(decryption.price_form) if decryption and decryption.price_form else {}
    return [{"label": f.label, "value": str(form[f.key])} for f in section.price_form if f.key in form]


def notice_data(award: Award, section: Section, issued_at: datetime, contract_due: str) -> dict:
    project = section.project
    return {
        "type": "bidhall.award_notice.v1", "notice_no": award.notice_no,
        "project": {"code": project.code, "name": project.name},
        "section": {"code": section.code, "name": section.name},
        "winner": {"name": award.organisation.name, "credit_code": award.organisation.credit_code},
        "amount": str(award.amount), "rank": award.rank, "reason": award.reason,
        "price_form": _winner_form(award, section),
        "tenderee": project.tenderee.name, "agency": project.agency.name,
        "decided_at": award.decided_at.isoformat(), "issued_at": issued_at.isoformat(), "contract_due": contract_due,
    }


def result_data(award: Award, section: Section, result: EvaluationResult, issued_at: datetime) -> dict:
    project = section.project
    return {
        "type": "bidhall.result_notice.v1", "notice_no": award.notice_no,
        "project": {"code": project.code, "name": project.name},
        "section": {"code": section.code, "name": section.name, "ceiling_price": str(section.ceiling_price)},
        "candidates": [{"rank": c.rank, "name": c.organisation.name, "price": str(c.price),
                        "score": None if c.score is None else f"{c.score:.2f}"} for c in result.candidates],
        "publicity": {"started": result.publicity_started_at.isoformat() if result.publicity_started_at else None,
                      "ended": result.publicity_ends_at.isoformat() if result.publicity_ends_at else None},
        "winner": {"name": award.organisation.name, "credit_code": award.organisation.credit_code},
        "amount": str(award.amount), "tenderee": project.tenderee.name, "agency": project.agency.name,
        "issued_at": issued_at.isoformat(),
    }


def _dt(text: str | None) -> str:
    return format_local(datetime.fromisoformat(text)) if text else ""


def render_notice(data: dict, digest: str) -> bytes:
    s = styles()
    story = [Paragraph("中 标 通 知 书", s["title"]),
             Paragraph(f"编号：{data['notice_no']}", s["body"]), Spacer(1, 6),
             Paragraph(f"{data['winner']['name']}（统一社会信用代码 {data['winner']['credit_code']}）：", s["body"]),
             Paragraph(f"你单位参加的 {data['project']['name']}（{data['project']['code']}）"
                       f"{data['section']['name']}（{data['section']['code']}）的投标，经评标委员会评审、中标候选人公示，"
                       f"招标人于 {_dt(data['decided_at'])} 确定你单位为中标人。", s["body"]),
             Paragraph(f"中标金额：人民币 {data['amount']} 元。", s["body"])]
    if data["price_form"]:
        story.append(table([["项目", "投标文件载明"]] + [[f["label"], f["value"]] for f in data["price_form"]]))
    story += [Spacer(1, 6),
              Paragraph(f"请你单位自本通知书发出之日起30日内（{data['contract_due']}前）与招标人按照招标文件和你单位的"
                        f"投标文件订立书面合同（招标投标法第46条）。", s["body"]),
              Spacer(1, 12), Paragraph(f"招标人：{data['tenderee']}", s["body"]),
              Paragraph(f"招标代理机构：{data['agency']}", s["body"]),
              Paragraph(f"发出时间：{_dt(data['issued_at'])}", s["body"]), Spacer(1, 10),
              Paragraph("本通知书由电子交易平台生成并签名；每页页脚为本通知书数据的 SHA-256 摘要。", s["body"])]
    return build(story, title="中标通知书", digest=digest)


def render_result(data: dict, digest: str) -> bytes:
    s = styles()
    story = [Paragraph("中 标 结 果 通 知 书", s["title"]),
             Paragraph(f"项目：{data['project']['name']}（{data['project']['code']}）", s["body"]),
             Paragraph(f"标段：{data['section']['name']}（{data['section']['code']}）；最高投标限价：{data['section']['ceiling_price']} 元",
                       s["body"]),
             Paragraph(f"中标候选人公示期：{_dt(data['publicity']['started'])} 至 {_dt(data['publicity']['ended'])}", s["body"]),
             Paragraph("一、中标候选人", s["h2"]),
             table([["排序", "中标候选人", "投标报价（元）", "评审得分"]]
                   + [[str(c["rank"]), c["name"], c["price"], c["score"] or ""]
                      for c in data["candidates"]]),
             Paragraph("二、中标结果", s["h2"]),
             Paragraph(f"中标人：{data['winner']['name']}；中标金额：{data['amount']} 元。", s["body"]),
             Spacer(1, 12), Paragraph(f"招标人：{data['tenderee']}；招标代理机构：{data['agency']}", s["body"]),
             Paragraph(f"发出时间：{_dt(data['issued_at'])}", s["body"]), Spacer(1, 10),
             Paragraph("本通知书由电子交易平台生成并签名；每页页脚为本通知书数据的 SHA-256 摘要。", s["body"])]
    return build(story, title="中标结果通知书", digest=digest)


def _store(key: str, pdf: bytes) -> None:
    path = Path(current_app.config["STORAGE_DIR"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(pdf)
    partial.replace(path)


def _signed(kind: str, section: Section, digest: str, pdf: bytes) -> str:
    identity = platform()
    signature = sign_document({"type": f"bidhall.{kind}.signature.v1", "section": section.code,
                               "record_digest": digest, "pdf_sha256": hashlib.sha256(pdf).hexdigest()},
                              identity.signing_key, identity.signing_certificate)
    return canonical_json(signature).decode()


def write_documents(award: Award, section: Section, result: EvaluationResult, issued_at: datetime,
                    contract_due: str) -> None:
    """Generate, store and sign both notices; their keys, digests and signatures go on the award."""
    data = notice_data(award, section, issued_at, contract_due)
    digest = hashlib.sha256(canonical_json(data)).hexdigest()
    pdf = render_notice(data, digest)
    award.notice_key = f"records/award-notice-{section.code}.pdf"
    _store(award.notice_key, pdf)
    award.notice_digest, award.notice_signature = digest, _signed("award_notice", section, digest, pdf)
    data = result_data(award, section, result, issued_at)
    digest = hashlib.sha256(canonical_json(data)).hexdigest()
    pdf = render_result(data, digest)
    award.result_key = f"records/result-notice-{section.code}.pdf"
    _store(award.result_key, pdf)
    award.result_digest, award.result_signature = digest, _signed("result_notice", section, digest, pdf)
