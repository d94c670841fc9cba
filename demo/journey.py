"""Journey steps 3–5 (journey.md) played on a tender of its own: ``flask --app wsgi demo journey``.

After the seed (steps 1–2) this command publishes a third demo project, 宁德市蕉城区某道路改造工程（演示：已开标）,
with one works section like the seed's 一标段, and walks it to a finished online opening, so the expert draw
(step 6) and the evaluation (step 7) can be walked in the browser at once:

- bidder1 … bidder7 download the tender documents; bidder1 … bidder6 obtain electronic bid guarantees from the
  two demo issuers (bidder2 and bidder5 as cipher guarantees); bidder7 posts no bid security;
- each bidder seals a bid as ``bidtool seal`` does (a real bid package with a filled price form, sealed into an
  envelope with its key files in instance/demo-keys/<user>/) and uploads it in chunks through the resumable
  upload, getting a signed receipt;
- at the deadline the hall opens: the seven sign in by certificate challenge, the agent starts, six decrypt
  with their own keys; bidder5 declares a failure, the host rules it a PLATFORM fault and two officers
  (supervisor, admin) release their escrow shares to open it; K is drawn in the hall; the read-out; one
  objection answered from the signed price form; confirmations; the signed record PDF; the section is then
  under evaluation, ready for the expert draw;
- at the server's own pace the supervision engine judges the compressed schedule a breach of the issue and
  bid-preparation clocks; the supervisor closes those two warnings, giving the accelerated clock as the reason.

Every step is the platform's own operation, called as the view or the API calls it, acting as the user the
story names (the audit log names that user); nothing is written behind an operation's back. The statutory
clocks are met on the deadline accelerator: the schedule is laid out and published with
``app.config["ACCELERATOR"]`` raised (by default ×172800: the 21-day bidding period lasts 10.5 s), then put
back to the server's own value before anything else happens; the opening runs on the real clock.

The seven bidders' machines are played on one computer, so each bid package is given the creation fingerprint
of its bidder's own (simulated) machine, as bidtool would record it there; bidder3 and bidder4 share one, the
clue the collusion analysis finds in journey step 8.

Running it again adds another journey tender with the next free project code; the seed's data is untouched.
What each holder's own machine does (keys, bid documents, sealing, upload, the issuer's system) is in
demo/holders.py.
"""
from __future__ import annotations

import base64
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core.accounts import User
from core.clock import format_local, now, statutory
from core.db import db
from core.pki import platform
from crypto import envelope
from crypto.canonical import parse_canonical_json
from crypto.signing import sign_bytes, verify_document
from demo.documents import tender_documents_pdf
from demo.holders import (Holder, JourneyError, acting_as, issue_guarantee, load_holder, seal, stored_header,
                          upload)
from trading import bid_operations, opening_operations, opening_readout
from trading import operations as trading
from trading.models import Project, Section
from trading.opening import BidDecryption, Opening

#: The default deadline accelerator of the command's first steps: 21 statutory days last 10.5 s.
ACCELERATOR = 172800
#: Journey projects are numbered after the seed's two (…001 works, …002 goods).
CODE_PREFIX = "E3509020001202611"
NAME = "宁德市蕉城区某道路改造工程（演示：已开标）"
#: The schedule in statutory days from publication (招标投标法第24条: at least 20 days to the deadline for works;
#: 实施条例第16条: documents on issue at least 5 days).
ISSUE_DAYS, CLARIFICATION_DAYS, DEADLINE_DAYS = 10, 5, 21
#: Supervision points that judge the schedule itself, which at the server's pace the compressed one breaches.
ACCELERATED_POINTS = ("bid_preparation", "document_issue")


@dataclass(frozen=True)
class BidPlan:
    username: str
    total_price: str
    duration_days: int
    quality: str
    project_manager: str
    issuer: str | None = None     # the guarantee's issuer (demo user), or None: no bid security
    cipher: bool = False


#: The seven bidders of the opening and what each signs in its price form (every price under the 18.6M ceiling).
BIDS = [
    BidPlan("bidder1", "17286400.00", 420, "优良", "林建华", "issuer_bank"),
    BidPlan("bidder2", "17512800.00", 400, "合格", "陈志强", "issuer_bank", cipher=True),
    BidPlan("bidder3", "17048600.00", 410, "合格", "黄文斌", "issuer_bank"),
    BidPlan("bidder4", "17735200.00", 390, "优良", "郑海涛", "issuer_insurer"),
    BidPlan("bidder5", "17369900.00", 420, "合格", "吴国平", "issuer_insurer", cipher=True),
    BidPlan("bidder6", "17621300.00", 405, "合格", "刘明辉", "issuer_insurer"),
    BidPlan("bidder7", "17958000.00", 380, "合格", "张永福"),
]
#: The bidder whose decryption fails in the hall, and the officers who open its bid by escrow (2 of 3).
FAILING = "bidder5"
ESCROW_OFFICERS = ("supervisor", "admin")
#: Who objects at the read-out, and about whose price.
OBJECTOR, OBJECTED = "bidder2", "bidder3"
HOLDERS = ["agent", "supervisor", "admin", "issuer_bank", "issuer_insurer"] + [b.username for b in BIDS]


@dataclass
class JourneyResult:
    project_code: str
    section_id: int
    section_code: str
    deadline: object
    bids: dict[str, int] = field(default_factory=dict)          # username → bid id
    receipts: dict[str, int] = field(default_factory=dict)      # username → receipt sequence
    guarantees: dict[str, str] = field(default_factory=dict)    # username → guarantee number
    k: str | None = None
    record_digest: str | None = None
    seconds: float = 0.0


# -- helpers --------------------------------------------------------------------------------------------------

@contextmanager
def accelerated(factor: int) -> Iterator[None]:
    """Raise the deadline accelerator for the steps inside, and put the server's own value back afterwards."""
    previous = current_app.config.get("ACCELERATOR", 1)
    current_app.config["ACCELERATOR"] = max(int(previous), int(factor))
    try:
        yield
    finally:
        current_app.config["ACCELERATOR"] = previous


def _next_code() -> tuple[str, int]:
    """The first free journey code after the seed's, and how many journey tenders exist already."""
    taken = set(db.session.scalars(sa.select(Project.code).where(Project.code.like(CODE_PREFIX + "%"))))
    runs = db.session.scalar(sa.select(sa.func.count(Project.id)).where(Project.name.like(NAME + "%"))) or 0
    for serial in range(3, 1000):
        code = f"{CODE_PREFIX}{serial:03d}"
        if code not in taken:
            return code, runs
    raise JourneyError("演示项目编号已用尽 (no free demo project code left)")


def _commit() -> None:
    """Each step commits once, as its view does (and no transaction is left holding SQLite's write lock)."""
    db.session.commit()


def _wait_until(moment, echo: Callable[[str], None]) -> None:
    """Sleep until the server clock has passed ``moment``, with a progress bar."""
    from tqdm import tqdm

    total = (moment - now()).total_seconds()
    if total > 0:
        with tqdm(total=round(total, 1), desc="等待投标截止 (waiting for the deadline)",
                  bar_format="{desc}: {bar} {n:.1f}/{total:.1f} s") as bar:
            while (left := (moment - now()).total_seconds()) > 0:
                time.sleep(min(0.25, left))
                bar.n = round(min(total, total - max(0.0, (moment - now()).total_seconds())), 1)
                bar.refresh()
    while now() <= moment:   # the server clock decides: strictly past the deadline
        time.sleep(0.005)
    echo(f"⑤ 投标截止时间 {format_local(moment)} 已到，开标大厅开放 (the deadline has passed: the hall opens)")


# -- the journey ------------------------------------------------------------------------------------------------

def play(*, accelerator: int = ACCELERATOR, bid_bytes: int = 48 * 1024,
         echo: Callable[[str], None] = print) -> JourneyResult:
    """Publish a journey tender, bid on it and hold its opening; returns what was done. Commits as it goes."""
    from demo.seed import DEMO_PASSWORD, METHOD_WORKS, PRICE_FORM_WORKS, WORKS_CODE

    started = time.monotonic()
    works = db.session.scalar(sa.select(Project).where(Project.code == WORKS_CODE))
    if works is None:
        raise JourneyError("尚无演示数据，请先运行 flask --app wsgi demo seed (no demo data: run the seed first)")
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_(HOLDERS)))}
    missing = [name for name in HOLDERS if name not in users]
    if missing:
        raise JourneyError(f"演示用户缺失：{', '.join(missing)} (demo users missing: run the seed first)")
    holders = {name: load_holder(users[name], DEMO_PASSWORD) for name in HOLDERS}
    agent, tenderee = users["agent"], works.tenderee
    code, runs = _next_code()
    name = NAME if runs == 0 else f"{NAME}（第{runs + 1}次）"
    pdf = tender_documents_pdf(f"{name} 一标段：路基路面工程 招标文件", [
        f"项目编号：{code}；标段编号：{code}001。",
        "最高投标限价：18,600,000.00元；投标保证金：300,000.00元（可以电子保函或现金缴纳）。",
        "第一章 招标公告。第二章 投标人须知。第三章 评标办法（综合评估法，基准价含下浮系数K，开标时现场随机抽取）。"
        "第四章 合同条款及格式。第五章 工程量清单。第六章 图纸。第七章 技术标准和要求。",
        "投标文件须使用本平台投标文件制作工具加密后在投标截止时间前递交，逾期送达的投标文件将被拒收。"
        "开标采用不见面开标方式，投标人须在解密时限内使用本单位加密证书远程解密。",
    ])

    # ① Publication, on the accelerated clock: the schedule is laid out and checked against the statutory clocks.
    with accelerated(accelerator):
        factor = current_app.config["ACCELERATOR"]
        start = now()
        deadline = start + statutory(DEADLINE_DAYS)
        schedule = trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + statutory(ISSUE_DAYS),
                                          clarification_deadline=start + statutory(CLARIFICATION_DAYS),
                                          deadline=deadline, decryption_minutes=30)
        with acting_as(agent):
            project = trading.create_project(
                agent=agent, tenderee=tenderee, code=code, name=name, type="works", method="open",
                budget="19500000.00", ceiling_price="18600000.00", region_code="350902", government_invested=True,
                notice_text="本招标项目已由宁德市蕉城区发展和改革局批准建设，资金来自财政资金。项目已具备招标条件，"
                            "现对该项目的路基路面工程施工进行公开招标。投标人须具备市政公用工程施工总承包二级及以上资质。"
                            "（本项目为平台演示数据，由 flask --app wsgi demo journey 在加速时钟下生成。）")
            section = trading.add_section(project, number=1, name="一标段：路基路面工程", ceiling_price="18600000.00",
                                          bid_security_amount="300000.00", bid_validity_days=90,
                                          evaluation_method=METHOD_WORKS, schedule=schedule)
            trading.set_price_form(section, PRICE_FORM_WORKS)
            document = trading.upload_document(section, uploader=agent, title="招标文件", stream=io.BytesIO(pdf),
                                               filename=f"{section.code}-招标文件.pdf", content_type="application/pdf")
            bid_operations.set_officers(section, [users[u].id for u in ("agent", "supervisor", "admin")], 2)
            trading.publish(project)
            _commit()
    result = JourneyResult(project.code, section.id, section.code, section.deadline)
    span = (section.deadline - now()).total_seconds()
    echo(f"① 已发布 {project.code} {name}，标段 {section.code}；加速 ×{factor}：{DEADLINE_DAYS}日投标期约 "
         f"{(section.deadline - start).total_seconds():.1f} 秒，截止 {format_local(section.deadline)} "
         f"(published; accelerator ×{factor}: the {DEADLINE_DAYS}-day bidding period lasts "
         f"{(section.deadline - start).total_seconds():.1f} s, {span:.1f} s from now)")

    # ② Download; ③ bid security.
    for plan in BIDS:
        bidder = users[plan.username]
        with acting_as(bidder):
            trading.record_download(document, bidder, None)
            _commit()
    echo(f"② {len(BIDS)} 家投标人已下载招标文件 (documents downloaded by {len(BIDS)} bidders)")
    for plan in BIDS:
        if plan.issuer:
            number = issue_guarantee(section, users[plan.username], holders[plan.issuer], plan.cipher)
            result.guarantees[plan.username] = number
    echo(f"③ {len(result.guarantees)} 家投标人取得电子投标保函（含 {sum(p.cipher for p in BIDS)} 份密文保函），验真通过；"
         f"{', '.join(p.username for p in BIDS if not p.issuer)} 未提交投标保证金 "
         f"({len(result.guarantees)} electronic bid guarantees issued and verified)")

    # ④ Sealing and upload, each bidder with its own key files, before the deadline.
    sealed: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="bidhall-journey-") as scratch:
        for plan in BIDS:
            if now() >= section.deadline:
                raise JourneyError(f"投标截止前未能递交全部投标文件：请用较小的 --accelerator 重试（本次 ×{factor}）"
                                   f"(the deadline came before every bid was in: retry with a smaller --accelerator)")
            folder = Path(scratch) / plan.username
            folder.mkdir()
            sealed[plan.username] = seal(section, holders[plan.username], plan, folder, bid_bytes)
            bid = upload(section, users[plan.username], sealed[plan.username])
            receipt = bid.receipts[-1]
            verify_document(parse_canonical_json(receipt.document.encode()), platform().signing_certificate)
            result.bids[plan.username], result.receipts[plan.username] = bid.id, receipt.sequence
        echo(f"④ {len(result.bids)} 份投标文件已加密并分块上传，回执编号 "
             f"{', '.join(str(r) for r in result.receipts.values())}，回执签名已验证 "
             f"({len(result.bids)} bids sealed with bidtool's functions and uploaded; signed receipts checked)")

    # ⑤ The deadline and the opening, on the server's own clock from here on.
    _wait_until(section.deadline, echo)
    opening = opening_operations.hall_for(section)   # the hall opens by itself at the deadline
    _commit()
    _opening_ceremony(opening, section, users, holders, result, echo)
    _acknowledge_accelerated_schedule(section, users["supervisor"], factor, echo)
    result.seconds = time.monotonic() - started
    return result


def _opening_ceremony(opening: Opening, section: Section, users: dict[str, User], holders: dict[str, Holder],
                      result: JourneyResult, echo: Callable[[str], None]) -> None:
    agent = users["agent"]
    decryption = {plan.username: db.session.scalar(sa.select(BidDecryption).where(
        BidDecryption.bid_id == result.bids[plan.username])) for plan in BIDS}
    for plan in BIDS:
        holder = holders[plan.username]
        with acting_as(holder.user):
            challenge = opening_operations.new_sign_in_challenge(opening)
            _commit()
            signature = sign_bytes(holder.signing_key, base64.b64decode(challenge))
            opening_operations.sign_in(opening, holder.user, challenge=challenge,
                                       signature=base64.b64encode(signature).decode(),
                                       certificate_pem=(holder.home / "signing-cert.pem").read_text(), ip=None)
            _commit()
    with acting_as(agent):
        opening_operations.start(opening, agent)
        _commit()
    echo(f"⑤ {len(BIDS)} 家投标人以数字证书签到，主持人宣布开标，解密时限至 {format_local(opening.decryption_ends_at)} "
         f"(seven bidders signed in by certificate; the host started)")

    for plan in BIDS:
        holder, row = holders[plan.username], decryption[plan.username]
        with acting_as(holder.user):
            if plan.username == FAILING:
                opening_operations.report_failure(row, holder.user, "演示场景：投标人端提交解密时平台解密服务无响应，"
                                                                     "多次重试仍未完成 (demo scenario: the platform's "
                                                                     "decryption service did not answer)")
            else:   # ``bidtool decrypt``: unwrap the content key here; only that key goes to the platform
                key = envelope.unwrap_content_key(stored_header(row.bid), holder.encryption_key)
                opening_operations.decrypt(row, holder.user, base64.b64encode(key).decode(), None)
            _commit()
    echo(f"⑤ {len(BIDS) - 1} 家投标人用本单位加密私钥解密成功；{users[FAILING].organisation.name} 申报解密失败 "
         f"({len(BIDS) - 1} bids decrypted by their bidders; one declared a failure)")
    failed = decryption[FAILING]
    with acting_as(agent):
        opening_operations.rule(failed, agent, "platform", "演示场景：经核查为平台解密服务故障，属非投标人原因"
                                                            "（电子招标投标办法第31条），由开标人员释放托管密钥开启")
        _commit()
    header = stored_header(failed.bid)
    for username in ESCROW_OFFICERS:
        holder = holders[username]
        officer = next(o for o in bid_operations.officers_of(section) if o.user_id == holder.user.id)
        share = envelope.unwrap_share(header, officer.officer_id, holder.encryption_key)   # ``bidtool release-share``
        with acting_as(holder.user):
            opening_operations.release_share(failed, holder.user, share.x, share.y.hex())
            _commit()
    db.session.refresh(failed)
    if not failed.decrypted_by_escrow:
        raise JourneyError(f"托管密钥未能开启投标文件 (the escrow shares did not open the bid): {failed.last_error}")
    echo(f"⑤ 主持人认定为非投标人原因；{'、'.join(ESCROW_OFFICERS)} 释放托管密钥份额（门限 {section.escrow_threshold}），"
         f"该投标文件已开启 (ruled a PLATFORM fault; two officers' escrow shares opened the bid)")

    with acting_as(agent):
        opening_readout.finish_decryption(opening, agent)
        _commit()
    result.k = str(opening.k_coefficient) if opening.k_coefficient is not None else None
    echo(f"⑤ 现场随机抽取下浮系数 K = {result.k}（承诺—揭示，可复核）；唱标完成，{len(BIDS)} 行 "
         f"(K drawn verifiably in the hall; the read-out shows {len(BIDS)} rows)")
    read_out = json.loads(opening.read_out)
    for row in read_out["rows"]:
        form = row.get("price_form") or {}
        echo(f"    {_pad(row['bidder'], 28)}{Decimal(form.get('total_price', '0')):>16,.2f} 元  "
             f"{form.get('duration_days', '')} 天  {form.get('quality', '')}  {form.get('project_manager', '')}"
             f"{'  （托管密钥开启 opened by escrow）' if row['escrow'] else ''}")

    objected = decryption[OBJECTED]
    objector = users[OBJECTOR]
    price = json.loads(objected.price_form)["total_price"]
    organisation = objected.bid.organisation.name
    with acting_as(objector):
        objection = opening_readout.raise_objection(opening, objector, f"对{organisation}的投标总价有异议：唱标金额与我方"
                                                                       f"记录不一致，请主持人核实其开标一览表。")
        _commit()
    with acting_as(agent):
        opening_readout.answer_objection(objection, agent, f"经核对{organisation}签名的开标一览表（投标文件已解密验签），"
                                                           f"投标总价为{Decimal(price):,.2f}元，唱标无误。")
        _commit()
    for plan in BIDS:
        with acting_as(users[plan.username]):
            opening_readout.confirm_record(opening, users[plan.username])
            _commit()
    with acting_as(agent):
        opening_readout.close(opening, agent)
        _commit()
    result.record_digest = opening.record_digest
    echo(f"⑤ 异议已当场答复；{len(BIDS)} 家投标人确认开标记录；开标记录 PDF 已签名发布，摘要 {opening.record_digest[:16]}… "
         f"(the objection was answered from the signed price form; the signed record PDF is published)")


def _acknowledge_accelerated_schedule(section: Section, supervisor: User, factor: int,
                                      echo: Callable[[str], None]) -> None:
    """At the server's own pace the supervision engine judges this tender's compressed schedule (10 s of bidding
    for 21 days) a breach of the issue and bid-preparation clocks, and says so in red. The supervisor closes those
    warnings with the reason, which is the truth: the periods were met on the demo's accelerated clock."""
    from supervision import warnings
    from supervision.models import SupervisionWarning, WarningState

    rows = db.session.scalars(sa.select(SupervisionWarning).where(
        SupervisionWarning.section_id == section.id, SupervisionWarning.state == WarningState.OPEN,
        SupervisionWarning.point.in_(ACCELERATED_POINTS))).all()
    with acting_as(supervisor):
        for warning in rows:
            warnings.close(warning, supervisor, f"演示项目：招标文件发售期和投标期按演示加速时钟（×{factor}）计算，已满足"
                                                f"法定天数，非实际违规 (a demo tender scheduled on the accelerated clock "
                                                f"×{factor}: the statutory periods were met on that clock)")
        _commit()
    if rows:
        echo(f"⑧ 监督人员关闭了 {len(rows)} 项因加速时钟产生的期限预警，并注明理由 (the supervisor closed {len(rows)} "
             f"clock warnings raised by the accelerated schedule, with the reason)")


def _pad(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns (a Chinese character takes two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - used)


def next_steps(result: JourneyResult) -> list[str]:
    return [
        f"开标大厅 (the opening hall): /sections/{result.section_id}/opening",
        f"下一步：以 agent 登录申请专家抽取 (next: sign in as agent and request the expert draw): "
        f"/sections/{result.section_id}/draws/new",
    ]


def elapsed(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
