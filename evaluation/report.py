"""The evaluation report PDF (评标报告): rendered in Chinese with reportlab, signed inside the PDF, archived.

The report states the data the members signed (evaluation.report_data; its SHA-256 is on every page) and ends
with the signature page: each member's signature of that digest, or the refusal and its reason. The agent
generates it once the committee has signed; the platform then signs the PDF itself with pyHanko, so a standard
validator accepts it, stores it in the storage folder and writes its SHA-256 into the audit chain.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Table, TableStyle

from core import audit
from core.accounts import Role, User
from core.clock import format_local, now
from core.db import db
from core.errors import Forbidden
from core.notifications import notify
from core.pdf import FONT, Paragraph, Spacer, build, styles
from core.pki import platform
from evaluation import media_roster
from evaluation.committee import CommitteeRefused
from evaluation.evaluation_models import (
    EVALUATION_STATES,
    SIGNATURE_LABELS,
    Evaluation,
    EvaluationState,
    ReportSignature,
    SignatureDecision,
)
from evaluation.pdf_signature import sign_pdf
from evaluation.report_data import member_name

OUTCOMES = {"opened": "已解密", "revoked": "撤销（投标人原因）", "withdrawn": "撤回（非投标人原因）", "failed": "解密失败",
            "pending": "未解密"}
DECIDED_BY = {"total": "总分", "evaluated_price": "评标价", "quotient": "性价比", "lower_bid_price": "投标报价较低",
              "lower_evaluated_price": "评标价较低", "higher_technical": "技术得分较高", "draw": "随机抽签", "tied": "并列"}
WIDTH = 180 * mm


def _grid(rows: list[list], widths: list[float] | None = None, wrap: tuple[int, ...] = (1,)) -> Table:
    """A table of plain strings (fast for hundreds of rows); the ``wrap`` columns hold wrapping paragraphs."""
    cell = styles()["cell"]
    data = [[Paragraph(str(v), cell) if (c in wrap or r == 0) else str(v) for c, v in enumerate(row)]
            for r, row in enumerate(rows)]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 7.5),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
    return table


def _t(text: str | None) -> str:
    from datetime import datetime

    return format_local(datetime.fromisoformat(text)) if text else ""


def render(data: dict, signatures: list[dict], digest: str) -> bytes:
    s = styles()
    story: list = [Paragraph("评 标 报 告", s["title"])]
    basic = data["basic"]

    def h(text: str) -> None:
        story.append(Paragraph(text, s["h2"]))

    def p(text: str) -> None:
        story.append(Paragraph(text, s["body"]))

    h("一、基本情况")
    p(f"项目：{basic['project']['name']}（{basic['project']['code']}，{basic['project']['type']}，"
      f"{basic['project']['method']}）")
    p(f"标段：{basic['section']['name']}（{basic['section']['code']}）；最高投标限价：{basic['section']['ceiling_price']} 元")
    p(f"招标人：{basic['tenderee']}；招标代理机构：{basic['agency']}")
    p(f"评标办法：{basic['evaluation_method']['name']}（{basic['evaluation_method']['id']}）；依据：{basic['evaluation_method']['source']}")
    p(f"评标开始：{_t(basic['opened_at'])}；评审结束：{_t(basic['closed_at'])}")
    h("二、评标委员会成员")
    story.append(_grid([["序号", "姓名", "身份", "职称", "工作单位", "场地/席位", "签到方式", "状态"]] + [
        [m["position"], m["name"] + ("（主任委员）" if m["chair"] else ""), m["kind"], m["title"], m["employer"],
         f"{m['venue']}{'第%s号席位' % m['seat'] if m['seat'] else ''}",
         {"certificate": "数字证书", "totp": "密码+动态口令"}.get(m["sign_in"] or "", "—"),
         m["status"] + (f"：{m['recusal']}" if m["recusal"] else "")] for m in data["committee"]],
        [10 * mm, 28 * mm, 18 * mm, 20 * mm, 38 * mm, 28 * mm, 18 * mm, 20 * mm], wrap=(1, 4, 5, 7)))
    h("三、开标记录摘要")
    opening = data["opening"]
    p(f"唱标时间：{_t(opening['read_out_at'])}；下浮系数K：{opening['k_coefficient'] or '—'}；"
      f"开标记录摘要值：{opening['record_digest'] or ''}")
    story.append(_grid([["投标人", "解密结果"] + opening["fields"]] + [
        [r["bidder"], OUTCOMES.get(r["outcome"], r["outcome"]) + ("（托管开启）" if r["escrow"] else "")] + r["values"]
        for r in opening["rows"]], wrap=(0,)))
    _review(story, data, s)
    _criteria(story, data, s)
    _expert_tables(story, data, s)
    _price(story, data, s)
    _ranking(story, data, s)
    h("十、澄清、说明、补正事项纪要")
    if data["clarifications"]:
        story.append(_grid([["序号", "投标人", "问题", "答复", "时限", "答复时间", "签名证书"]] + [
            [c["number"], c["bidder"], c["question"], c["answer"] or "（未答复）", _t(c["deadline"]), _t(c["answered_at"]),
             (c["certificate"] or "")[:16]] for c in data["clarifications"]],
            [10 * mm, 25 * mm, 40 * mm, 45 * mm, 20 * mm, 20 * mm, 20 * mm], wrap=(1, 2, 3)))
    else:
        p("无")
    h("十一、评分偏离与复核记录")
    if data["outliers"]:
        story.append(_grid([["评委", "投标人", "评分项", "提示", "分值", "参照", "处理", "说明/修改后"]] + [
            [f"{o['member']} {o['name']}", o["bidder"], o["item"], o["reason"],
             o["score"], o["reference"], o["state"], o["note"] or (o["revised_to"] or "")] for o in data["outliers"]],
            [20 * mm, 28 * mm, 24 * mm, 30 * mm, 12 * mm, 14 * mm, 22 * mm, 30 * mm], wrap=(0, 1, 2, 3, 6, 7)))
    else:
        p("无")
    story.append(PageBreak())
    h("十二、评标委员会成员签字页")
    p(f"评标报告数据摘要（SHA-256）：{digest}。各成员以本人数字证书对上述摘要签名；拒绝签字且未书面说明理由的，视为同意"
      "评标结果（评标委员会和评标方法暂行规定第42条）。")
    story.append(_grid([["成员", "签署结果", "证书指纹", "签名值", "时间", "理由"]] + [
        [x["name"], x["decision"], (x["certificate"] or "")[:16], (x["signature"] or "")[:24], _t(x["at"]), x["reason"] or ""]
        for x in signatures], [28 * mm, 34 * mm, 26 * mm, 36 * mm, 24 * mm, 32 * mm], wrap=(0, 1, 5)))
    story.append(Spacer(1, 8))
    p("本报告由电子交易平台生成，平台以其签名证书对PDF文件进行数字签名；每页页脚为评标报告数据的SHA-256摘要。")
    return build(story, title="评标报告", digest=digest)


def _review(story, data, s) -> None:
    review = data["review"]
    story.append(Paragraph("四、符合要求的投标与被否决的投标", s["h2"]))
    story.append(Paragraph("通过初步评审的投标人：" + ("、".join(b["name"] for b in review["compliant"]) or "无"), s["body"]))
    rows = [["投标人", "阶段", "评审项", "判定", "理由"]]
    for bidder in review["rejected"]:
        for r in bidder["reasons"]:
            how = ("依据投标数据计算" if r["computed"] else f"评委{'、'.join(map(str, r['members']))}认为不通过"
                   if r["members"] else "投标人书面答复")
            rows.append([bidder["name"], bidder["stage"], r["label"], how, "；".join(r["reasons"]) or "不符合要求"])
    story.append(_grid(rows, [34 * mm, 22 * mm, 40 * mm, 32 * mm, 52 * mm], wrap=(0, 2, 3, 4)) if len(rows) > 1
                 else Paragraph("无被否决的投标。", s["body"]))
    dissents = [d for stage in review["stages"] for d in stage["dissents"]]
    if dissents:
        story.append(Paragraph("少数意见（未达多数，不否决）：" + "；".join(
            f"{d['name']} {d['label']}：评委{'、'.join(map(str, d['members']))}（{'；'.join(d['reasons'])}）" for d in dissents),
            s["body"]))
    if review["not_evaluated"]:
        story.append(Paragraph("未进入评审（开标时未解密）：" + "；".join(
            f"{r['name']}（{OUTCOMES.get(r['outcome'], r['outcome'])}）" for r in review["not_evaluated"]), s["body"]))


def _criteria(story, data, s) -> None:
    c = data["criteria"]
    story.append(Paragraph("五、评标办法与评审标准", s["h2"]))
    for stage in c["stages"]:
        story.append(Paragraph(f"{stage['name']}：" + "；".join(f"{i['label']}（{i['decided']}）" for i in stage["items"]),
                               s["body"]))
    if c["items"]:
        story.append(_grid([["评分项", "类别", "方式", "分值范围", "步长"]] + [
            [i["label"], i["category"], {"subjective": "评委打分", "objective": "客观计算", "price": "价格公式"}[i["kind"]],
             f"{i['min']}–{i['max']}", i["step"] or "—"] for i in c["items"]],
            [70 * mm, 30 * mm, 25 * mm, 30 * mm, 25 * mm], wrap=(0,)))
    price = c["price"]
    story.append(Paragraph(f"价格：{price['formula']}（{price['source']}）；K={price['k'] or price['k_range']}；a={price['a']}；"
                           f"b={price['b']}；Smax={price['smax']}；Smin={price['smin']}；取舍={price['trim']}；"
                           f"小微企业价格扣除={price['deduction_rate'] or '—'}", s["body"]))
    story.append(Paragraph(f"修约：{c['rounding']}；汇总：{c['aggregation']}；同分排序：{'、'.join(c['tie_breaks'])}；"
                           f"推荐候选人数：{c['candidates']}", s["body"]))


def _expert_tables(story, data, s) -> None:
    story.append(Paragraph("六、各评委评分表", s["h2"]))
    if not data["expert_scores"]:
        story.append(Paragraph("本评标办法不设评分项（按评标价排序）。", s["body"]))
        return
    labels = {i["id"]: i["label"] for i in data["criteria"]["items"]}
    first = data["expert_scores"][0]
    story.append(Paragraph("评分项：" + "；".join(f"{n} {labels.get(i, i)}{'（系统计算）' if computed else ''}"
                                              for n, (i, computed) in enumerate(zip(first["items"], first["computed"]), 1)),
                           s["body"]))
    for table in data["expert_scores"]:
        story.append(Paragraph(f"评委{table['position']}：{table['name']}（*为系统计算项）", s["body"]))
        items = [f"{n}{'*' if computed else ''}" for n, computed in enumerate(table["computed"], 1)]
        for start in range(0, len(items), 12):
            part = slice(start, start + 12)
            widths = [40 * mm] + [11 * mm] * len(items[part]) + [14 * mm]
            story.append(_grid([["投标人"] + items[part] + ["合计"]] + [
                [r["name"]] + r["scores"][part] + [r["total"]] for r in table["rows"]], widths, wrap=(0,)))
        notes = [f"{r['name']} {labels.get(item, item)}：{text}" for r in table["rows"] for item, text in r["comments"].items()]
        if notes:
            story.append(Paragraph("评分说明：" + "；".join(notes), s["cell"]))
        story.append(Spacer(1, 4))


def _price(story, data, s) -> None:
    price = data["price"]
    story.append(Paragraph("七、价格计算表", s["h2"]))
    story.append(Paragraph(f"评标基准：最低评标价 {price.get('base') or '—'}；算术平均值A {price.get('average') or '—'}；"
                           f"K {price.get('k') or '—'}；评标基准价B {price.get('benchmark') or '—'}", s["body"]))
    story.append(_grid([["投标人", "投标报价", "修正后报价", "评标价", "扣除率", "参与平均", "偏差率%", "价格分"]] + [
        [r["name"], r["bid_price"], r["reviewed_price"], r["evaluated_price"], r["deduction_rate"] or "—",
         {True: "是", False: "否", None: "—"}[r["in_average"]], r["deviation_percent"] or "—", r["score"] or "—"]
        for r in price["rows"]], [40 * mm, 22 * mm, 22 * mm, 24 * mm, 14 * mm, 14 * mm, 20 * mm, 18 * mm], wrap=(0,)))
    corrections = data.get("price_corrections") or []
    story.append(Paragraph("算术修正：" + ("" if corrections else "无"), s["body"]))
    if corrections:
        story.append(_grid([["投标人", "修正前报价", "修正后报价", "修正理由", "澄清序号", "投标人答复"]] + [
            [c["name"], c["read_out_price"], c["corrected_price"], c["reason"], c["clarification"], c["answer"]]
            for c in corrections], [38 * mm, 24 * mm, 24 * mm, 50 * mm, 14 * mm, 30 * mm], wrap=(0, 3, 5)))


def _ranking(story, data, s) -> None:
    ranking = data["ranking"]
    story.append(Paragraph("八、评分汇总与排序", s["h2"]))
    categories = [c["id"] for c in data["criteria"]["categories"]]
    labels = [c["label"] for c in data["criteria"]["categories"]]
    story.append(_grid([["名次", "投标人"] + labels + ["总分", "评标价", "排序依据"]] + [
        [r["rank"], r["name"]] + [ranking["categories"].get(r["bidder"], {}).get(c) or "" for c in categories]
        + [r["total"] or "—", r["evaluated_price"], DECIDED_BY.get(r["decided_by"], "—")] for r in ranking.get("order", [])],
        wrap=(1,)))
    if ranking.get("trimmed"):
        story.append(Paragraph("评委人数达到规定，汇总时去掉一个最高分和一个最低分后取算术平均。", s["body"]))
    for draw in data["tie_draws"]:
        story.append(Paragraph(f"同分随机抽签：{'、'.join(draw['tied'])} → {'、'.join(draw['order'])}；承诺值 {draw['commitment']}；"
                               f"种子 {draw['seed']}（可用 tools/verify_draw.py 复核）", s["body"]))
    story.append(Paragraph("九、推荐的中标候选人", s["h2"]))
    names = {r["bidder"]: r["name"] for r in ranking.get("order", [])}
    story.append(Paragraph("；".join(f"第{i}名：{names[c]}" for i, c in enumerate(ranking.get("candidates", []), 1))
                           or "无（所有投标均被否决或无有效投标）", s["body"]))
    if ranking.get("unresolved"):
        story.append(Paragraph("并列未决：" + "、".join(names[c] for c in ranking["unresolved"]), s["body"]))


def signature_rows(evaluation: Evaluation) -> list[dict]:
    answers = {r.member_id: r for r in db.session.scalars(sa.select(ReportSignature).where(
        ReportSignature.evaluation_id == evaluation.id))}
    rows = []
    for member in evaluation.active_members:
        answer = answers.get(member.id)
        document = json.loads(answer.document) if answer and answer.document else {}
        rows.append({"member": member.id, "name": member_name(member),
                     "decision": SIGNATURE_LABELS[answer.decision] if answer else "未签署",
                     "certificate": answer.certificate_fingerprint if answer else None,
                     "signature": (document.get("signature") or {}).get("value"),
                     "at": answer.at.isoformat() if answer else None, "reason": answer.reason if answer else None,
                     "signed": bool(answer and answer.decision is SignatureDecision.SIGNED)})
    return rows


def report_path(key: str) -> Path:
    return Path(current_app.config["STORAGE_DIR"]) / key


def generate_report(evaluation: Evaluation, agent: User) -> Evaluation:
    """The agent generates the signed PDF once the committee has signed; archived, its hash audited."""
    if not evaluation.is_hosted_by(agent):
        raise Forbidden("只有本项目的招标代理可以生成评标报告 (only the agent generates the report)")
    if evaluation.state is not EvaluationState.SIGNED:
        raise CommitteeRefused("评标委员会全体成员签署后方可生成评标报告 (every member must sign or refuse first)",
                               code="not_signed")
    if evaluation.report_key:
        raise CommitteeRefused("评标报告已生成 (the report was already generated)", code="report_exists")
    pdf = render(json.loads(evaluation.report_data), signature_rows(evaluation), evaluation.report_digest)
    identity = platform()
    signed = sign_pdf(pdf, identity.signing_key, identity.signing_certificate, identity.ca.certificate,
                      reason=f"评标报告 {evaluation.section.code}")
    key = f"reports/evaluation-{evaluation.section.code}.pdf"
    path = report_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(signed)
    os.replace(partial, path)
    evaluation.report_key, evaluation.report_generated_at = key, now()
    evaluation.report_sha256 = hashlib.sha256(signed).hexdigest()
    audit.record("evaluation.report_archived", evaluation, actor=agent, key=key, sha256=evaluation.report_sha256,
                 size=len(signed), report_digest=evaluation.report_digest)
    return evaluation


def publish_report(evaluation: Evaluation, agent: User) -> Evaluation:
    """发布: the tenderee and the supervisors receive the report; the evaluation is over."""
    if not evaluation.is_hosted_by(agent):
        raise Forbidden("只有本项目的招标代理可以发布评标报告 (only the agent publishes the report)")
    if evaluation.report_key is None:
        raise CommitteeRefused("请先生成评标报告 (generate the report first)", code="report_missing")
    EVALUATION_STATES.check(evaluation.state, EvaluationState.PUBLISHED)
    evaluation.state, evaluation.published_at = EvaluationState.PUBLISHED, now()
    media_roster.close(evaluation)
    project = evaluation.section.project
    readers = db.session.scalars(sa.select(User.id).where(User.active, sa.or_(
        sa.and_(User.role == Role.TENDEREE, User.organisation_id == project.tenderee_id),
        User.role == Role.SUPERVISOR))).all()
    notify(readers, f"评标报告已发布：{evaluation.section.name}", "评标委员会已完成评审并签署评标报告。",
           link=f"/evaluations/{evaluation.id}/report")
    audit.record("evaluation.report_published", evaluation, actor=agent, sha256=evaluation.report_sha256)
    return evaluation
