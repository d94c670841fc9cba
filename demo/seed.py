"""The demo tender of journey.md: 宁德 works with two sections, and a government-procurement tender.

Schedules are laid out from now with the statutory clocks, compressed by the deadline accelerator when it is
on, so the whole story can be walked in minutes. Seeding twice changes nothing.
"""
from __future__ import annotations

import io
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from core import account_operations as accounts
from core.accounts import Organisation, OrgKind, Role, User
from core.clock import now, statutory
from core.config import server_url
from core.db import db
from core.validators import make_credit_code
from demo.documents import tender_documents_pdf
from trading import operations as trading
from demo.experts import seed_demo_pool
from demo.guarantees import seed_security
from demo.keys import enrol_holder
from trading.bid_operations import set_officers
from trading.models import Project

DEMO_PASSWORD = "bidhall-demo-2026"
WORKS_CODE = "E3509020001202611001"
GOODS_CODE = "E3509020001202611002"
METHOD_WORKS = "works_comprehensive_benchmark"
METHOD_GOODS = "gp_comprehensive_lowest_price_base"
DEMO_SERVER = server_url()

ORGANISATIONS = [
    # (key, kind, name, first 17 characters of the credit code, region)
    ("centre", OrgKind.TRADING_CENTRE, "宁德市公共资源交易中心", "12350900MB0000001", "350900"),
    ("supervisor", OrgKind.SUPERVISORY_AUTHORITY, "宁德市住房和城乡建设局", "11350900MB0000002", "350900"),
    ("tenderee_works", OrgKind.TENDEREE, "宁德市蕉城区住房和城乡建设局", "11350902MB0000003", "350902"),
    ("tenderee_goods", OrgKind.TENDEREE, "宁德市蕉城区教育局", "11350902MB0000004", "350902"),
    ("agency", OrgKind.AGENCY, "福建闽东招标代理有限公司", "91350900MA2Y00005", "350900"),
    ("bank", OrgKind.ISSUER, "中国建设银行股份有限公司宁德分行", "91350900MA2Y00006", "350900"),
    ("insurer", OrgKind.ISSUER, "中国人民财产保险股份有限公司宁德市分公司", "91350900MA2Y00007", "350900"),
    ("bidder1", OrgKind.BIDDER, "福建宁德路桥建设有限公司", "91350902MA2Y00101", "350902"),
    ("bidder2", OrgKind.BIDDER, "福建闽东建工集团有限公司", "91350900MA2Y00102", "350900"),
    ("bidder3", OrgKind.BIDDER, "福州市政工程有限公司", "91350100MA2Y00103", "350100"),
    ("bidder4", OrgKind.BIDDER, "福建海峡路桥工程有限公司", "91350100MA2Y00104", "350100"),
    ("bidder5", OrgKind.BIDDER, "南平市公路工程有限公司", "91350700MA2Y00105", "350700"),
    ("bidder6", OrgKind.BIDDER, "福鼎市交通建设有限公司", "91350982MA2Y00106", "350982"),
    ("bidder7", OrgKind.BIDDER, "三明市通达建设工程有限公司", "91350400MA2Y00107", "350400"),
    ("bidder8", OrgKind.BIDDER, "泉州市交通设施工程有限公司", "91350500MA2Y00108", "350500"),
]

USERS = [
    # (username, display name, role, organisation key, enrol TOTP)
    ("admin", "系统管理员", Role.ADMIN, "centre", True),
    ("supervisor", "林监督", Role.SUPERVISOR, "supervisor", True),
    ("agent", "陈代理", Role.AGENT, "agency", False),
    ("tenderee", "黄业主", Role.TENDEREE, "tenderee_works", False),
    ("tenderee_goods", "郑采购", Role.TENDEREE, "tenderee_goods", False),
    ("issuer_bank", "王保函", Role.ISSUER, "bank", False),
    ("issuer_insurer", "刘保险", Role.ISSUER, "insurer", False),
    ("expert1", "张专家", Role.EXPERT, None, False),
    ("expert2", "李专家", Role.EXPERT, None, False),
    ("expert3", "吴专家", Role.EXPERT, None, False),
] + [(f"bidder{i}", name, Role.BIDDER, f"bidder{i}", False)
     for i, name in enumerate(["周经理", "吴经理", "郑经理", "王经理", "冯经理", "陈经理", "褚经理", "卫经理"], start=1)]

PRICE_FORM_WORKS = [
    {"key": "total_price", "label": "投标总价(元)", "type": "money"},
    {"key": "duration_days", "label": "工期(日历天)", "type": "integer"},
    {"key": "quality", "label": "质量标准", "type": "choice", "options": ["合格", "优良"]},
    {"key": "project_manager", "label": "项目经理", "type": "text"},
]
PRICE_FORM_GOODS = [
    {"key": "total_price", "label": "投标总价(元)", "type": "money"},
    {"key": "delivery_days", "label": "交货期(日)", "type": "integer"},
    {"key": "warranty_years", "label": "质保期(年)", "type": "integer"},
    {"key": "small_enterprise", "label": "是否小微企业", "type": "choice", "options": ["是", "否"]},
]


def _schedule(days_to_deadline: float) -> trading.ScheduleInput:
    start = now() - timedelta(minutes=1)
    deadline = start + statutory(days_to_deadline)
    return trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + statutory(6),
                                 clarification_deadline=deadline - statutory(16) if days_to_deadline > 17
                                 else start + statutory(1), deadline=deadline, decryption_minutes=30)


def seed() -> bool:
    """Create everything unless it exists; returns whether anything was created."""
    if db.session.scalar(sa.select(Project.id).where(Project.code == WORKS_CODE)):
        return False
    orgs: dict[str, Organisation] = {}
    for key, kind, name, code17, region in ORGANISATIONS:
        orgs[key] = accounts.create_organisation(name=name, kind=kind, credit_code=make_credit_code(code17),
                                                 region_code=region, legal_representative=name[:2] + "某")
    users: dict[str, User] = {}
    for username, display, role, org_key, with_totp in USERS:
        user = accounts.create_user(username=username, display_name=display, password=DEMO_PASSWORD, role=role,
                                    organisation=orgs.get(org_key) if org_key else None)
        if with_totp:
            user.enable_totp(pyotp.random_base32())
        users[username] = user
    agent = users["agent"]

    works = trading.create_project(
        agent=agent, tenderee=orgs["tenderee_works"], code=WORKS_CODE, name="宁德市蕉城区某道路改造工程",
        type="works", method="open", budget="25000000.00", ceiling_price="24800000.00", region_code="350902",
        government_invested=True,
        notice_text="本招标项目已由宁德市蕉城区发展和改革局批准建设，资金来自财政资金，招标人为宁德市蕉城区住房和城乡建设局。"
                    "项目已具备招标条件，现对该项目的施工进行公开招标。投标人须具备市政公用工程施工总承包二级及以上资质。")
    s1 = trading.add_section(works, number=1, name="一标段：路基路面工程", ceiling_price="18600000.00",
                             bid_security_amount="300000.00", bid_validity_days=90, evaluation_method=METHOD_WORKS,
                             schedule=_schedule(21))
    s2 = trading.add_section(works, number=2, name="二标段：交通设施工程", ceiling_price="6200000.00",
                             bid_security_amount="0", bid_validity_days=90, evaluation_method=METHOD_WORKS,
                             schedule=_schedule(21))
    goods = trading.create_project(
        agent=agent, tenderee=orgs["tenderee_goods"], code=GOODS_CODE, name="宁德市蕉城区中小学教学设备采购项目",
        type="goods", method="open", budget="5200000.00", ceiling_price="5000000.00", region_code="350902",
        notice_text="宁德市蕉城区教育局中小学教学设备采购项目的潜在供应商应在本平台获取采购文件，并于投标截止时间前提交投标文件。"
                    "本项目专门面向中小企业采购的比例不低于40%。")
    g1 = trading.add_section(goods, number=1, name="包1：多媒体教学设备", ceiling_price="3200000.00",
                             bid_security_amount="32000.00", bid_validity_days=90, evaluation_method=METHOD_GOODS,
                             schedule=_schedule(21))
    g2 = trading.add_section(goods, number=2, name="包2：实验室设备", ceiling_price="1800000.00",
                             bid_security_amount="18000.00", bid_validity_days=90, evaluation_method=METHOD_GOODS,
                             schedule=_schedule(21))
    for section, form in ((s1, PRICE_FORM_WORKS), (s2, PRICE_FORM_WORKS), (g1, PRICE_FORM_GOODS), (g2, PRICE_FORM_GOODS)):
        trading.set_price_form(section, form)
        pdf = tender_documents_pdf(f"{section.project.name} {section.name} 招标文件", [
            f"项目编号：{section.project.code}；标段编号：{section.code}。",
            f"最高投标限价：{section.ceiling_price:,.2f}元；投标保证金：{section.bid_security_amount:,.2f}元。",
            "第一章 招标公告。第二章 投标人须知。第三章 评标办法。第四章 合同条款及格式。第五章 工程量清单。",
            "投标文件须使用本平台投标文件制作工具加密后在投标截止时间前递交，逾期送达的投标文件将被拒收。",
        ])
        trading.upload_document(section, uploader=agent, title="招标文件", stream=io.BytesIO(pdf),
                                filename=f"{section.code}-招标文件.pdf", content_type="application/pdf")
    # Opening officers hold escrow shares of every bid (2 of 3 open one); their keys and the bidders' keys are
    # made as bidtool would make them on each holder's machine (demo/keys.py). The supervisor's personal
    # encryption certificate also receives every drawn expert list, sealed until the evaluation starts.
    officers = [users["agent"], users["supervisor"], users["admin"]]
    for user in officers:
        enrol_holder(user, for_organisation=False, password=DEMO_PASSWORD, server=DEMO_SERVER)
    for section in (s1, s2, g1, g2):
        set_officers(section, [u.id for u in officers], 2)
    for i in range(1, 9):
        enrol_holder(users[f"bidder{i}"], for_organisation=True, password=DEMO_PASSWORD, server=DEMO_SERVER)
    trading.publish(works)
    trading.publish(goods)
    seed_demo_pool()
    seed_security()
    return True


def login_table() -> list[str]:
    rows = []
    for username, display, role, _org, with_totp in USERS:
        extra = f"  (一次性口令: flask --app wsgi demo totp {username})" if with_totp else ""
        rows.append(f"{username:<16} {role.value:<11} {display}{extra}")
    return rows
