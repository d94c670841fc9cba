"""Every state change of tender projects, sections, documents and clarifications.

An operation takes model objects, checks the transition, mutates, writes the audit event; the view commits once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app

from core import audit
from core.accounts import Organisation, OrgKind, Role, User
from core.clock import format_local, now, statutory
from core.db import db
from core.errors import RuleViolation, ValidationError
from core.notifications import notify
from core.storage import store_upload
from core.validators import validate_project_code, validate_region
from trading.models import (PROJECT_STATES, SECTION_STATES, AmendmentDecision, Clarification, DocumentKind, Download,
                            Invitation, PriceFieldType, PriceFormField, ProcurementMethod, Project, ProjectState,
                            ProjectType, Section, SectionState, TenderDocument)
from trading.publication import publication_breaches, schedule_breaches


def parse_money(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError("金额格式不正确 (not a valid amount)", field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("金额应大于0 (amount must be positive)", field=field)
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError("金额最多两位小数 (at most two decimals)", field=field)
    return amount


def _enum(enum_cls, value, field: str):
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise ValidationError(f"取值无效，应为 {allowed} (invalid value)", field=field) from None


def _require_draft(project: Project) -> None:
    if project.state is not ProjectState.DRAFT:
        raise RuleViolation("项目已发布，不能直接修改；请通过澄清/修改发布新版本 (published projects change only by "
                            "clarification)")


# -- projects and sections ------------------------------------------------------------------------

def create_project(*, agent: User, tenderee: Organisation, code: str, name: str, type: str, method: str,
                   budget, ceiling_price, region_code: str, notice_text: str = "",
                   government_invested: bool = False) -> Project:
    code = validate_project_code(code)
    if db.session.scalar(sa.select(Project.id).where(Project.code == code)):
        raise ValidationError(f"项目编号 {code} 已存在 (duplicate project code)", field="code")
    if not (name or "").strip():
        raise ValidationError("请填写项目名称 (project name required)", field="name")
    if tenderee is None or tenderee.kind is not OrgKind.TENDEREE:
        raise ValidationError("请选择招标人 (choose a tenderee organisation)", field="tenderee_id")
    budget, ceiling = parse_money(budget, "budget"), parse_money(ceiling_price, "ceiling_price")
    if ceiling > budget:
        raise ValidationError("最高投标限价不得超过预算 (ceiling price cannot exceed the budget)", field="ceiling_price")
    project = Project(
        code=code, name=name.strip(), type=_enum(ProjectType, type, "type"),
        method=_enum(ProcurementMethod, method, "method"), budget=budget, ceiling_price=ceiling,
        region_code=validate_region(region_code), notice_text=notice_text or "", government_invested=government_invested,
        tenderee=tenderee, agency_id=agent.organisation_id, created_by_id=agent.id,
    )
    db.session.add(project)
    db.session.flush()
    audit.record("project.created", project, code=code, name=project.name, tenderee_id=tenderee.id)
    return project


@dataclass
class ScheduleInput:
    notice_at: datetime
    issue_start: datetime
    issue_end: datetime
    clarification_deadline: datetime
    deadline: datetime
    decryption_minutes: int = 30


def add_section(project: Project, *, number: int, name: str, ceiling_price, bid_security_amount,
                bid_validity_days: int, evaluation_method: str, schedule: ScheduleInput) -> Section:
    _require_draft(project)
    if not (name or "").strip():
        raise ValidationError("请填写标段名称 (section name required)", field="name")
    if not 1 <= int(number) <= 999:
        raise ValidationError("标段号应为1–999 (section number 1–999)", field="number")
    code = f"{project.code}{int(number):03d}"
    if any(s.code == code for s in project.sections):
        raise ValidationError(f"标段 {code} 已存在 (duplicate section)", field="number")
    ceiling = parse_money(ceiling_price, "ceiling_price")
    if ceiling > project.ceiling_price:
        raise ValidationError("标段最高限价不得超过项目最高限价 (section ceiling above the project's)", field="ceiling_price")
    security = Decimal(str(bid_security_amount or "0").replace(",", "") or "0")
    if security < 0 or security > (ceiling * Decimal("0.02")).quantize(Decimal("0.01")):
        raise ValidationError("投标保证金不得超过最高限价的2%（招标投标法实施条例第26条）(bid security ≤ 2% of the ceiling)",
                              field="bid_security_amount")
    if not 30 <= int(bid_validity_days) <= 365:
        raise ValidationError("投标有效期应为30–365日 (bid validity 30–365 days)", field="bid_validity_days")
    from evaluation.catalogue import validate_method_key

    section = Section(
        code=code, name=name.strip(), ceiling_price=ceiling, bid_security_amount=security,
        bid_validity_days=int(bid_validity_days), evaluation_method=validate_method_key(evaluation_method),
        notice_at=schedule.notice_at, issue_start=schedule.issue_start, issue_end=schedule.issue_end,
        clarification_deadline=schedule.clarification_deadline, deadline=schedule.deadline,
        decryption_minutes=int(schedule.decryption_minutes),
    )
    breaches = schedule_breaches(section)
    if breaches:
        raise ValidationError(breaches[0].message, field=breaches[0].field)
    if section.deadline <= now():
        raise ValidationError("投标截止时间不能早于当前时间 (the bid deadline is in the past)", field="deadline")
    section.project = project
    db.session.add(section)
    db.session.flush()
    audit.record("section.created", section, code=code, ceiling_price=str(ceiling), deadline=section.deadline.isoformat())
    return section


FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def set_price_form(section: Section, fields: list[dict]) -> None:
    """Define the price form (开标一览表): every field needs a key, a label and a type."""
    _require_draft(section.project)
    if not fields:
        raise ValidationError("开标一览表至少需要一个字段 (the price form needs at least one field)", field="fields")
    seen: set[str] = set()
    rows = []
    for position, raw in enumerate(fields):
        where = f"fields[{position}]"
        key = str(raw.get("key", "")).strip()
        if not FIELD_KEY.match(key):
            raise ValidationError(f"第{position + 1}个字段的键名应为小写字母开头的字母数字下划线 (field key)", field=f"{where}.key")
        if key in seen:
            raise ValidationError(f"字段 {key} 重复 (duplicate field key)", field=f"{where}.key")
        seen.add(key)
        if not str(raw.get("label", "")).strip():
            raise ValidationError(f"字段 {key} 缺少名称 (field label missing)", field=f"{where}.label")
        if not raw.get("type"):
            raise ValidationError(f"字段 {key} 缺少类型 (field type missing)", field=f"{where}.type")
        ftype = _enum(PriceFieldType, raw["type"], f"{where}.type")
        options = raw.get("options")
        if isinstance(options, list):
            options = "\n".join(str(o).strip() for o in options if str(o).strip())
        if ftype is PriceFieldType.CHOICE and not options:
            raise ValidationError(f"选项字段 {key} 需要选项 (a choice field needs options)", field=f"{where}.options")
        rows.append(PriceFormField(key=key, label=str(raw["label"]).strip(), type=ftype,
                                   required=bool(raw.get("required", True)), options=options or None, position=position))
    if not any(r.type is PriceFieldType.MONEY for r in rows):
        raise ValidationError("开标一览表需要至少一个金额字段，如投标总价 (a money field such as the total price)", field="fields")
    section.price_form.clear()
    db.session.flush()
    section.price_form.extend(rows)
    audit.record("section.price_form_set", section, fields=[r.as_dict() for r in rows])


def upload_document(section: Section, *, uploader: User, title: str, stream: BinaryIO, filename: str,
                    content_type: str | None, kind: DocumentKind = DocumentKind.ORIGINAL,
                    clarification: Clarification | None = None) -> TenderDocument:
    if kind is DocumentKind.ORIGINAL:
        _require_draft(section.project)
    stored = store_upload(stream, filename, content_type, area="tender-documents",
                          max_bytes=current_app.config["CLOCKS"].max_document_bytes)
    db.session.add(stored)
    version = 1 + max((d.version for d in section.documents), default=0)
    document = TenderDocument(title=(title or filename or "招标文件").strip()[:200], kind=kind, version=version,
                              file=stored, uploaded_by_id=uploader.id, clarification=clarification)
    db.session.add(document)
    document.section = section
    db.session.flush()
    audit.record("tender_document.uploaded", document, section_id=section.id, version=version,
                 sha256=stored.sha256, size=stored.size, filename=stored.filename)
    return document


def invite(project: Project, organisation: Organisation) -> Invitation:
    _require_draft(project)
    if project.method is not ProcurementMethod.INVITED:
        raise ValidationError("只有邀请招标项目可以邀请投标人 (only invitation tenders invite bidders)", field="organisation_id")
    if organisation.kind is not OrgKind.BIDDER:
        raise ValidationError("只能邀请投标人 (only bidders can be invited)", field="organisation_id")
    if any(inv.organisation_id == organisation.id for inv in project.invitations):
        raise ValidationError("该单位已被邀请 (already invited)", field="organisation_id")
    invitation = Invitation(project=project, organisation=organisation)
    db.session.add(invitation)
    db.session.flush()
    audit.record("project.invited", project, organisation_id=organisation.id)
    return invitation


def publish(project: Project) -> None:
    """Publish the notice (招标公告) and open every section for bidding, if every statutory clock holds."""
    PROJECT_STATES.check(project.state, ProjectState.PUBLISHED)
    breaches = publication_breaches(project, current_app.config["CLOCKS"])
    if breaches:
        raise RuleViolation("；".join(b.message for b in breaches), code=breaches[0].rule, field=breaches[0].field)
    project.state, project.published_at = ProjectState.PUBLISHED, now()
    for section in project.sections:
        SECTION_STATES.check(section.state, SectionState.BIDDING)
        section.state = SectionState.BIDDING
    audit.record("project.published", project, sections=[s.code for s in project.sections])
    if project.method is ProcurementMethod.INVITED:
        members = db.session.scalars(sa.select(User.id).where(
            User.organisation_id.in_([inv.organisation_id for inv in project.invitations]))).all()
        notify(members, f"投标邀请：{project.name}", f"项目编号 {project.code}", link=f"/projects/{project.id}")


# -- downloads --------------------------------------------------------------------------------------

def record_download(document: TenderDocument, user: User, ip: str | None) -> Download:
    """Record a download; bidders may download only while documents are on issue (or again, before the deadline)."""
    section, moment = document.section, now()
    if user.is_(Role.BIDDER):
        if section.state is not SectionState.BIDDING:
            raise RuleViolation("该标段不在招标文件发售期 (documents are not on issue for this section)")
        already = db.session.scalar(sa.select(Download.id).where(
            Download.section_id == section.id, Download.organisation_id == user.organisation_id).limit(1))
        if moment < section.issue_start or (moment > section.issue_end and not already) or moment >= section.deadline:
            raise RuleViolation(f"招标文件发售期为 {format_local(section.issue_start)} 至 {format_local(section.issue_end)} "
                                f"(documents are on issue only in this window)")
    download = Download(document=document, section_id=section.id, user_id=user.id,
                        organisation_id=user.organisation_id, ip=ip)
    db.session.add(download)
    db.session.flush()
    audit.record("tender_document.downloaded", document, section_id=section.id, organisation_id=user.organisation_id)
    return download


def downloaders(section: Section) -> list[Download]:
    """The first download of each organisation; callers must check ``project.can_see_downloaders`` first."""
    rows = db.session.scalars(sa.select(Download).where(Download.section_id == section.id).order_by(Download.at)).all()
    first: dict[int | None, Download] = {}
    for row in rows:
        first.setdefault(row.organisation_id or -row.user_id, row)
    return list(first.values())


# -- clarifications and amendments ------------------------------------------------------------------

def issue_clarification(section: Section, *, agent: User, title: str, body: str, stream: BinaryIO | None,
                        filename: str | None, content_type: str | None, new_deadline: datetime | None = None,
                        no_effect_reason: str | None = None) -> Clarification:
    """澄清/修改 (招标投标法第23条): less than 15 days before the deadline, move the deadline or record why not."""
    if section.state is not SectionState.BIDDING:
        raise RuleViolation("只有招标中的标段可以发布澄清 (only sections open for bidding take clarifications)")
    if not (title or "").strip() or not (body or "").strip():
        raise ValidationError("请填写澄清标题和内容 (title and text required)", field="title" if not (title or "").strip() else "body")
    moment, notice = now(), statutory(current_app.config["CLOCKS"].amendment_notice_days)
    days = current_app.config["CLOCKS"].amendment_notice_days
    previous = section.deadline
    decision = AmendmentDecision.NOT_LATE
    if new_deadline is not None:
        if new_deadline <= previous:
            raise ValidationError("新的投标截止时间应晚于原截止时间 (the new deadline must be later)", field="new_deadline")
        if new_deadline - moment < notice:
            raise ValidationError(f"顺延后的截止时间距今应不少于{days}日 (the moved deadline must leave {days} days)",
                                  field="new_deadline")
        decision = AmendmentDecision.DEADLINE_MOVED
    elif previous - moment < notice:
        if not (no_effect_reason or "").strip():
            raise RuleViolation(
                f"距投标截止不足{days}日（招标投标法第23条）：请顺延投标截止时间，或说明本次澄清不影响投标文件编制的理由 "
                f"(less than {days} days before the deadline: move it, or record why bid preparation is unaffected)",
                code="clock.amendment_notice", field="new_deadline")
        decision = AmendmentDecision.NO_EFFECT
    number = 1 + (db.session.scalar(sa.select(sa.func.max(Clarification.number))
                                    .where(Clarification.section_id == section.id)) or 0)
    clarification = Clarification(section=section, number=number, title=title.strip(), body=body.strip(),
                                  decision=decision, reason=(no_effect_reason or "").strip() or None,
                                  previous_deadline=previous, new_deadline=new_deadline or previous,
                                  issued_by_id=agent.id)
    db.session.add(clarification)
    db.session.flush()
    if new_deadline is not None:
        shift = new_deadline - previous
        section.deadline = new_deadline
        if section.issue_end > new_deadline:
            section.issue_end = new_deadline
        section.clarification_deadline = section.clarification_deadline + shift
    if stream is not None and filename:
        upload_document(section, uploader=agent, title=f"澄清文件{number}：{title.strip()}", stream=stream,
                        filename=filename, content_type=content_type, kind=DocumentKind.CLARIFICATION,
                        clarification=clarification)
    audit.record("clarification.issued", clarification, section_id=section.id, number=number, decision=decision.value,
                 previous_deadline=previous.isoformat(), new_deadline=section.deadline.isoformat(),
                 reason=clarification.reason)
    recipients = db.session.scalars(sa.select(Download.user_id).where(Download.section_id == section.id).distinct()).all()
    notify(recipients, f"澄清/修改通知：{section.project.name} {section.name}",
           f"第{number}号澄清：{title.strip()}。投标截止时间：{format_local(section.deadline)}",
           link=f"/sections/{section.id}#clarifications")
    return clarification
