"""The opening record (开标记录, 电子招标投标办法第32条): a PDF in Chinese, digest on every page, platform-signed."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core.clock import format_local
from core.db import db
from core.pdf import Paragraph, Spacer, build, styles, table
from core.pki import platform
from crypto.canonical import canonical_json
from crypto.signing import sign_document
from trading.models import Section
from trading.opening import HallSignIn, Objection, Opening, RecordConfirmation, Ruling

OUTCOME = {"opened": "已解密", "revoked": "撤销（投标人原因）", "withdrawn": "撤回（非投标人原因）", "failed": "解密失败",
           "pending": "未解密"}


def record_data(opening: Opening, section: Section) -> dict:
    """Everything the record states, as data: its canonical JSON is what the digest and the signature cover."""
    from trading.opening_operations import decryptions

    read_out = json.loads(opening.read_out or "{}")
    rulings = []
    for d in decryptions(opening):
        for r in db.session.scalars(sa.select(Ruling).where(Ruling.decryption_id == d.id).order_by(Ruling.id)):
            rulings.append({"bidder": d.bid.organisation.name, "ruling": r.ruling, "reason": r.reason,
                            "at": r.at.isoformat()})
    return {
        "type": "bidhall.opening_record.v1",
        "project": {"code": section.project.code, "name": section.project.name},
        "section": {"code": section.code, "name": section.name, "ceiling_price": str(section.ceiling_price),
                    "deadline": section.deadline.isoformat()},
        "times": {"opened": opening.opened_at.isoformat(), "started": opening.started_at.isoformat(),
                  "read_out": opening.read_out_at.isoformat(), "closed": opening.closed_at.isoformat()},
        "sign_ins": [{"bidder": s.organisation.name, "at": s.at.isoformat()} for s in db.session.scalars(
            sa.select(HallSignIn).where(HallSignIn.opening_id == opening.id).order_by(HallSignIn.at))],
        "read_out": read_out,
        "rulings": rulings,
        "k": json.loads(opening.k_record) if opening.k_record else None,
        "objections": [{"bidder": o.organisation.name, "text": o.text, "raised_at": o.raised_at.isoformat(),
                        "answer": o.answer, "answered_at": o.answered_at.isoformat() if o.answered_at else None}
                       for o in db.session.scalars(sa.select(Objection).where(Objection.opening_id == opening.id)
                                                   .order_by(Objection.id))],
        "confirmations": sorted(c.organisation_id for c in db.session.scalars(
            sa.select(RecordConfirmation).where(RecordConfirmation.opening_id == opening.id))),
    }


def render(data: dict, digest: str) -> bytes:
    s = styles()
    story = [Paragraph("开 标 记 录", s["title"]),
             Paragraph(f"项目：{data['project']['name']}（{data['project']['code']}）", s["body"]),
             Paragraph(f"标段：{data['section']['name']}（{data['section']['code']}）；最高投标限价：{data['section']['ceiling_price']} 元",
                       s["body"]),
             Paragraph(f"投标截止/开标时间：{format_local(_dt(data['section']['deadline']))}；开始解密："
                       f"{format_local(_dt(data['times']['started']))}；唱标：{format_local(_dt(data['times']['read_out']))}；"
                       f"结束：{format_local(_dt(data['times']['closed']))}", s["body"]),
             Spacer(1, 6), Paragraph("一、投标文件递交与解密情况", s["h2"])]
    fields = data["read_out"].get("fields", [])
    header = ["序号", "投标人", "递交时间", "解密结果"] + [f["label"] for f in fields]
    rows = [header]
    for i, row in enumerate(data["read_out"].get("rows", []), start=1):
        form = row.get("price_form") or {}
        outcome = OUTCOME.get(row["outcome"], row["outcome"]) + ("（托管密钥开启）" if row.get("escrow") else "")
        rows.append([str(i), row["bidder"], format_local(_dt(row["submitted_at"])), outcome]
                    + [str(form.get(f["key"], "")) for f in fields])
    story.append(table(rows))
    if data["k"]:
        story += [Paragraph("二、下浮系数K的随机抽取", s["h2"]),
                  Paragraph(f"抽取结果 K = {data['k']['result']['value'] if isinstance(data['k'].get('result'), dict) else data['k'].get('result')}；"
                            f"承诺值 {data['k']['commitment']}；种子 {data['k']['seed']}；可用 tools/verify_draw.py 复核。", s["body"])]
    story.append(Paragraph("三、解密失败的责任认定", s["h2"]))
    story.append(table([["投标人", "认定", "理由", "时间"]] + [
        [r["bidder"], {"bidder": "投标人原因", "platform": "非投标人原因", "reset": "准予重试"}[r["ruling"]], r["reason"],
         format_local(_dt(r["at"]))] for r in data["rulings"]]) if data["rulings"] else Paragraph("无", s["body"]))
    story.append(Paragraph("四、异议及答复", s["h2"]))
    story.append(table([["投标人", "异议", "答复"]] + [[o["bidder"], o["text"], o["answer"] or ""]
                                                    for o in data["objections"]]) if data["objections"]
                 else Paragraph("无", s["body"]))
    story.append(Paragraph("五、签到", s["h2"]))
    story.append(Paragraph("；".join(f"{x['bidder']} {format_local(_dt(x['at']))}" for x in data["sign_ins"]) or "无",
                           s["body"]))
    story.append(Spacer(1, 10))
    story.append(Paragraph("本记录由电子交易平台生成并签名；每页页脚为本记录数据的 SHA-256 摘要。", s["body"]))
    return build(story, title="开标记录", digest=digest)


def _dt(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def write_record(opening: Opening, section: Section) -> None:
    data = record_data(opening, section)
    digest = hashlib.sha256(canonical_json(data)).hexdigest()
    pdf = render(data, digest)
    key = f"records/opening-{section.code}.pdf"
    path = Path(current_app.config["STORAGE_DIR"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(pdf)
    partial.replace(path)
    identity = platform()
    signature = sign_document({"type": "bidhall.opening_record.signature.v1", "section": section.code,
                               "record_digest": digest, "pdf_sha256": hashlib.sha256(pdf).hexdigest()},
                              identity.signing_key, identity.signing_certificate)
    opening.record_key, opening.record_digest = key, digest
    opening.record_signature = canonical_json(signature).decode()
