"""Factories for tests: organisations, users of every role, projects with published sections, logins."""
from __future__ import annotations

import io
import itertools
from datetime import timedelta

import pyotp

from core import account_operations as accounts
from core.accounts import OrgKind, Role, User
from core.clock import now
from core.db import db
from core.validators import make_credit_code
from trading import operations as trading

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)

ROLE_KIND = {Role.BIDDER: OrgKind.BIDDER, Role.AGENT: OrgKind.AGENCY, Role.TENDEREE: OrgKind.TENDEREE,
             Role.SUPERVISOR: OrgKind.SUPERVISORY_AUTHORITY, Role.ISSUER: OrgKind.ISSUER,
             Role.ADMIN: OrgKind.TRADING_CENTRE}

PRICE_FORM = [
    {"key": "total_price", "label": "投标总价(元)", "type": "money"},
    {"key": "duration_days", "label": "工期(日历天)", "type": "integer"},
    {"key": "quality", "label": "质量标准", "type": "choice", "options": ["合格", "优良"]},
    {"key": "project_manager", "label": "项目经理", "type": "text"},
]


def credit_code(n: int) -> str:
    return make_credit_code(f"91350900MA{n:07d}")


class Factory:
    def __init__(self, app):
        self.app = app

    def org(self, kind: OrgKind = OrgKind.BIDDER, name: str | None = None, region: str = "350902"):
        n = next(_counter)
        org = accounts.create_organisation(name=name or f"测试{kind.value}单位{n}", kind=kind,
                                           credit_code=credit_code(n), region_code=region)
        db.session.commit()
        return org

    def user(self, role: Role = Role.BIDDER, organisation=None, username: str | None = None, totp: bool | None = None):
        n = next(_counter)
        if organisation is None and role in ROLE_KIND and role is not Role.ADMIN:
            organisation = self.org(ROLE_KIND[role])
        user = accounts.create_user(username=username or f"{role.value}{n}", display_name=f"用户{n}",
                                    password=PASSWORD, role=role, organisation=organisation)
        if totp if totp is not None else user.needs_totp:
            user.enable_totp(pyotp.random_base32())
        db.session.commit()
        return user

    def schedule(self, days: float = 25, issue_days: float = 6):
        start = now() - timedelta(minutes=5)
        deadline = start + timedelta(days=days)
        return trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + timedelta(days=issue_days),
                                     clarification_deadline=deadline - timedelta(days=min(16, days / 2)),
                                     deadline=deadline)

    def project(self, agent: User | None = None, *, publish: bool = True, method: str = "open", type: str = "works",
                sections: int = 1, days: float = 25, invitees=(), evaluation_method: str | None = None):
        agent = agent or self.user(Role.AGENT)
        tenderee = self.org(OrgKind.TENDEREE)
        n = next(_counter)
        project = trading.create_project(
            agent=agent, tenderee=tenderee, code=f"E350902{n // 1000 % 10000:04d}202611{n % 1000:03d}",
            name=f"测试道路工程{n}", type=type, method=method, budget="20000000", ceiling_price="19000000",
            region_code="350902")
        for i in range(1, sections + 1):
            section = trading.add_section(project, number=i, name=f"第{i}标段", ceiling_price="9000000",
                                          bid_security_amount="100000", bid_validity_days=90,
                                          evaluation_method=evaluation_method or self.method_key(),
                                          schedule=self.schedule(days))
            trading.set_price_form(section, PRICE_FORM)
            trading.upload_document(section, uploader=agent, title="招标文件", stream=io.BytesIO(b"%PDF-1.4 test"),
                                    filename="招标文件.pdf", content_type="application/pdf")
        for org in invitees:
            trading.invite(project, org)
        if publish:
            trading.publish(project)
        db.session.commit()
        return project

    @staticmethod
    def method_key() -> str:
        from evaluation.catalogue import method_titles

        return next(iter(method_titles()))

    def login(self, client, user: User, password: str = PASSWORD):
        response = client.post("/login", data={"username": user.username, "password": password})
        if user.has_totp:
            code = pyotp.TOTP(user.totp_secret()).now()
            user.totp_last_step = None
            db.session.commit()
            response = client.post("/login/second-factor", data={"code": code})
        return response

    def token(self, client, user: User) -> dict:
        body = {"username": user.username, "password": PASSWORD}
        if user.has_totp:
            user.totp_last_step = None
            db.session.commit()
            body["totp"] = pyotp.TOTP(user.totp_secret()).now()
        response = client.post("/api/v1/tokens", json=body)
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}
