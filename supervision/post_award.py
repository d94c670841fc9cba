"""From the evaluation report to the closed section: publicity, award, notices, written report, contract.

The section moves PUBLICITY → AWARDED → CONTRACTED → CLOSED (trading.models.SECTION_STATES). Each step checks
its rule, mutates, audits; the caller commits once. The evaluation hands its ranked candidates over with
:func:`receive_evaluation_report` when its report is published. Bid security follows the steps through the
guarantees package when it is installed: non-candidates are released at the award, everyone at the contract.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app

from core import audit, clock
from core.accounts import Organisation, Role, User
from core.counters import next_value
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationError
from core.notifications import notify
from core.storage import store_upload
from supervision.award_documents import write_documents
from supervision.award_models import (
    Award,
    Candidate,
    Complaint,
    ComplaintState,
    Contract,
    EvaluationResult,
    ObjectionSubject,
    SectionObjection,
)
from supervision.clocks import StatutoryClocks, clock_due
from trading.bids import Bid, BidState
from trading.models import (
    PROJECT_STATES,
    SECTION_STATES,
    Project,
    ProjectState,
    Section,
    SectionState,
)
from trading.operations import parse_money


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate as the evaluation report ranks it (实施条例第53条: at most 3, in order)."""

    organisation_id: int
    rank: int
    price: Decimal
    score: float | None = None
    bid_id: int | None = None


def _now() -> datetime:
    return clock.now()


def clocks() -> StatutoryClocks:
    return StatutoryClocks().with_days(**current_app.config.get("SUPERVISION_CLOCK_DAYS", {}))


def is_party(project: Project, user: User) -> bool:
    """The tenderee's staff, or the agent running the tender on its behalf."""
    return user.is_authenticated and (project.is_tendered_by(user) or project.can_manage(user))


def _require_party(project: Project, user: User) -> None:
    if not is_party(project, user):
        raise Forbidden("只有本项目的招标人或招标代理可以办理 (only this project's tenderee or agent)")


def bidder_ids(section: Section) -> list[int]:
    return list(db.session.scalars(sa.select(Bid.organisation_id).where(
        Bid.section_id == section.id, Bid.state == BidState.SUBMITTED).distinct()))


def _members(organisation_ids) -> list[int]:
    ids = list(organisation_ids)
    return list(db.session.scalars(sa.select(User.id).where(User.organisation_id.in_(ids)))) if ids else []


def current_result(section_id: int) -> EvaluationResult | None:
    return db.session.scalar(sa.select(EvaluationResult).where(EvaluationResult.section_id == section_id,
                                                               EvaluationResult.superseded_at.is_(None))
                             .order_by(EvaluationResult.id.desc()).limit(1))


def award_of(section_id: int) -> Award | None:
    return db.session.scalar(sa.select(Award).where(Award.section_id == section_id))


# -- the report and the candidate publicity -------------------------------------------------------------------

def receive_evaluation_report(section: Section, candidates: Sequence[RankedCandidate], *,
                              report_digest: str | None = None, actor: User | None = None) -> EvaluationResult:
    """Called by the evaluation when its report is published: the ranked candidates reach the tenderee."""
    if section.state is not SectionState.EVALUATION:
        raise RuleViolation(f"标段不在评标阶段（{section.state_label}）(the section is not being evaluated)",
                            code="not_evaluating")
    if current_result(section.id) is not None:
        raise RuleViolation("已收到本标段的评标报告 (the report was already received)", code="report_received")
    limit = int(current_app.config.get("MAX_CANDIDATES", 3))
    if not 1 <= len(candidates) <= limit:
        raise ValidationError(f"中标候选人应为1至{limit}个（实施条例第53条）(1 to {limit} candidates)", field="candidates")
    if sorted(c.rank for c in candidates) != list(range(1, len(candidates) + 1)):
        raise ValidationError("候选人排序应为1、2、3… (ranks 1, 2, 3…)", field="candidates")
    bidders = set(bidder_ids(section))
    if len({c.organisation_id for c in candidates}) != len(candidates):
        raise ValidationError("候选人不得重复 (a bidder appears twice)", field="candidates")
    for c in candidates:
        if c.organisation_id not in bidders:
            raise ValidationError(f"第{c.rank}名不是本标段的投标人 (rank {c.rank} did not bid)", field="candidates")
        if Decimal(c.price) <= 0:
            raise ValidationError(f"第{c.rank}名的报价应大于0 (a price must be positive)", field="candidates")
    result = EvaluationResult(section_id=section.id, report_digest=report_digest, received_at=_now(),
                              recorded_by_id=actor.id if actor else None)
    result.candidates = [Candidate(rank=c.rank, organisation_id=c.organisation_id, bid_id=c.bid_id,
                                   price=Decimal(c.price), score=c.score) for c in candidates]
    db.session.add(result)
    db.session.flush()
    audit.record("evaluation.report_received", result, actor=actor, section_id=section.id,
                 report_digest=report_digest,
                 candidates=[{"rank": c.rank, "organisation_id": c.organisation_id, "price": str(c.price)}
                             for c in candidates])
    return result


def publicity_end(start: datetime, days: int) -> datetime:
    """The end of a publicity of ``days`` days: 24:00 Beijing time of the ``days``-th day after the start day
    (民法典第201条, the start day not counted); with the accelerator on, ``days`` compressed from the start."""
    if int(current_app.config.get("ACCELERATOR", 1)) > 1:
        return start + clock.statutory(days)
    day = clock.local(start).date() + timedelta(days=days + 1)
    return datetime(day.year, day.month, day.day, tzinfo=clock.SHANGHAI).astimezone(UTC)


def start_publicity(section: Section, user: User, days: int | None = None) -> EvaluationResult:
    """中标候选人公示 (实施条例第54条): within 3 days of the report, lasting at least 3 days."""
    _require_party(section.project, user)
    result = current_result(section.id)
    if result is None or section.state is not SectionState.EVALUATION:
        raise RuleViolation("尚未收到评标报告，不能公示 (no evaluation report yet)", code="no_report")
    minimum = clocks().candidate_publicity_period.days
    days = minimum if days in (None, "") else int(days)
    if days < minimum:
        raise ValidationError(f"公示期不得少于{minimum}日（实施条例第54条）(publicity lasts at least {minimum} days)",
                              field="days")
    SECTION_STATES.check(section.state, SectionState.PUBLICITY)
    section.state = SectionState.PUBLICITY
    result.publicity_started_at = _now()
    result.publicity_ends_at = publicity_end(result.publicity_started_at, days)
    result.publicity_by_id = user.id
    audit.record("evaluation.publicity_started", result, actor=user, section_id=section.id, days=days,
                 ends_at=result.publicity_ends_at.isoformat())
    notify(_members(bidder_ids(section)), f"中标候选人公示：{section.project.name} {section.name}",
           f"公示截止 {clock.format_local(result.publicity_ends_at)}，如有异议请在公示期内提出",
           link=f"/sections/{section.id}/result")
    return result


def unanswered_result_objections(section_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(SectionObjection.id)).where(
        SectionObjection.section_id == section_id, SectionObjection.subject == ObjectionSubject.RESULT,
        SectionObjection.answered_at.is_(None))) or 0


def suspending_complaints(section_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(Complaint.id)).where(
        Complaint.section_id == section_id, Complaint.suspends.is_(True),
        Complaint.state == ComplaintState.ACCEPTED)) or 0


# -- the award -----------------------------------------------------------------------------------------------------

def decide_award(section: Section, user: User, organisation_id: int, reason: str | None = None) -> Award:
    """定标 by the tenderee, among the candidates, after the publicity and with every objection answered."""
    if section.state is not SectionState.PUBLICITY:
        raise RuleViolation(f"标段不在公示阶段（{section.state_label}），不能定标 (the section is not in publicity)",
                            code="not_in_publicity")
    if not section.project.is_tendered_by(user):
        raise Forbidden("定标由招标人作出 (the tenderee decides the award)")
    result = current_result(section.id)
    if _now() < result.publicity_ends_at:
        raise RuleViolation(f"公示期至 {clock.format_local(result.publicity_ends_at)} 未满，不能定标 "
                            f"(the publicity has not ended)", code="publicity_running")
    if unanswered_result_objections(section.id):
        raise RuleViolation("尚有异议未答复，招标投标活动暂停（实施条例第54条）(objections await an answer)",
                            code="objections_open")
    if suspending_complaints(section.id):
        raise RuleViolation("行政监督部门已责令暂停，投诉处理期间不能定标（实施条例第62条）(suspended by a complaint)",
                            code="suspended")
    chosen = next((c for c in result.candidates if c.organisation_id == organisation_id), None)
    if chosen is None:
        raise RuleViolation("中标人应当在中标候选人中确定（招标投标法实施条例第55条）(the winner must be one of the "
                            "candidates)", code="not_a_candidate", field="organisation_id")
    reason = (reason or "").strip() or None
    if chosen.rank != 1 and reason is None:
        raise ValidationError("确定排名第一以外的候选人须记录理由，如第一名放弃中标（实施条例第55条）"
                              "(choosing other than the first-ranked candidate needs a recorded reason)", field="reason")
    from supervision.credit import is_on_dishonest_list

    if is_on_dishonest_list(chosen.organisation_id):
        raise RuleViolation(f"{chosen.organisation.name} 在失信主体名单中，不得确定为中标人 (on the dishonest-entity "
                            f"list)", code="dishonest", field="organisation_id")
    award = Award(section_id=section.id, result_id=result.id, candidate_id=chosen.id,
                  organisation_id=chosen.organisation_id, rank=chosen.rank, amount=chosen.price, reason=reason,
                  decided_at=_now(), decided_by_id=user.id)
    db.session.add(award)
    SECTION_STATES.check(section.state, SectionState.AWARDED)
    section.state = SectionState.AWARDED
    db.session.flush()
    audit.record("award.decided", award, actor=user, section_id=section.id, organisation_id=chosen.organisation_id,
                 rank=chosen.rank, amount=str(chosen.price), reason=reason)
    _release(section, "non_candidates", {c.organisation_id for c in result.candidates})
    return award


def _release(section: Section, step: str, payload) -> None:
    """Hand over to the guarantees package, when installed: release securities for this step."""
    from supervision.facts import guarantees_installed

    if not guarantees_installed():
        return
    from guarantees import release

    if step == "non_candidates":
        release.release_non_candidates(section, payload)
    else:
        release.release_after_contract(section, payload)


def issue_notice(award: Award, user: User) -> Award:
    """Issue the award notice to the winner and the result notice to every bidder (招标投标法第45条)."""
    section = db.session.get(Section, award.section_id)
    _require_party(section.project, user)
    if award.notice_issued_at is not None:
        raise RuleViolation("中标通知书已发出 (the award notice was already issued)", code="notice_issued")
    issued = _now()
    award.notice_no = f"ZB{clock.local(issued):%Y}{next_value('award_notice'):06d}"
    contract_due = clock_due(clocks().contract_signing, issued).isoformat()
    write_documents(award, section, db.session.get(EvaluationResult, award.result_id), issued, contract_due)
    award.notice_issued_at = issued
    audit.record("award.notice_issued", award, actor=user, notice_no=award.notice_no, notice_digest=award.notice_digest,
                 result_digest=award.result_digest)
    notify(_members([award.organisation_id]), f"中标通知书：{section.project.name} {section.name}",
           f"请于 {contract_due} 前订立书面合同", link=f"/sections/{section.id}/result")
    notify(_members(set(bidder_ids(section)) - {award.organisation_id}),
           f"中标结果通知：{section.project.name} {section.name}", f"中标人：{award.organisation.name}",
           link=f"/sections/{section.id}/result")
    return award


def supervisors_for(project: Project) -> list[int]:
    """Supervisors of the authority for the project's region (county, then city, then province), else all."""
    from core.accounts import OrgKind

    rows = db.session.execute(sa.select(User.id, Organisation.region_code).join(Organisation)
                              .where(User.role == Role.SUPERVISOR, Organisation.kind == OrgKind.SUPERVISORY_AUTHORITY)).all()
    code = project.region_code
    for prefix in (code, code[:4] + "00", code[:2] + "0000"):
        found = [uid for uid, region in rows if region == prefix]
        if found:
            return found
    return [uid for uid, _ in rows]


def file_written_report(award: Award, user: User) -> Award:
    """招标投标情况书面报告 to the supervisory authority, within 15 days of the award (招标投标法第47条)."""
    section = db.session.get(Section, award.section_id)
    _require_party(section.project, user)
    if award.report_filed_at is not None:
        raise RuleViolation("书面报告已提交 (the written report was already filed)", code="report_filed")
    award.report_filed_at, award.report_filed_by_id = _now(), user.id
    audit.record("award.report_filed", award, actor=user, section_id=section.id)
    notify(supervisors_for(section.project), f"招标投标情况书面报告：{section.project.name} {section.name}",
           f"中标人：{award.organisation.name}，中标金额 {award.amount} 元", link=f"/supervision/sections/{section.id}")
    return award


# -- the contract and the close ------------------------------------------------------------------------------------

def record_contract(award: Award, user: User, *, signed_at: datetime, amount, difference_reason: str | None = None,
                    stream: BinaryIO | None = None, filename: str | None = None,
                    content_type: str | None = None) -> Contract:
    """The written contract, after the award notice; an amount differing from the award needs its reason."""
    section = db.session.get(Section, award.section_id)
    _require_party(section.project, user)
    if award.notice_issued_at is None:
        raise RuleViolation("发出中标通知书后方可订立合同（招标投标法第46条）(no contract before the award notice)",
                            code="no_notice")
    if section.state is not SectionState.AWARDED:
        raise RuleViolation(f"标段状态为“{section.state_label}”，不能登记合同 (the section is not awarded)",
                            code="not_awarded")
    if signed_at < award.notice_issued_at:
        raise ValidationError("合同签订时间不得早于中标通知书发出时间 (signed before the award notice)", field="signed_at")
    if signed_at > _now():
        raise ValidationError("合同签订时间不能晚于当前时间 (the signing time lies in the future)", field="signed_at")
    value = parse_money(amount, "amount")
    reason = (difference_reason or "").strip() or None
    if value != award.amount and reason is None:
        raise ValidationError(f"合同金额 {value} 元与中标金额 {award.amount} 元不一致，须记录理由（招标投标法第46条）"
                              f"(a contract amount differing from the award needs a recorded reason)", field="amount")
    stored = None
    if stream is not None and filename:
        stored = store_upload(stream, filename, content_type, area="contracts",
                              max_bytes=current_app.config["CLOCKS"].max_document_bytes)
        db.session.add(stored)
    contract = Contract(section_id=section.id, award_id=award.id, signed_at=signed_at, amount=value,
                        difference_reason=reason, file=stored, recorded_at=_now(), recorded_by_id=user.id)
    db.session.add(contract)
    SECTION_STATES.check(section.state, SectionState.CONTRACTED)
    section.state = SectionState.CONTRACTED
    db.session.flush()
    audit.record("contract.recorded", contract, actor=user, section_id=section.id, signed_at=signed_at.isoformat(),
                 amount=str(value), award_amount=str(award.amount), difference_reason=reason,
                 sha256=stored.sha256 if stored else None)
    _release(section, "contract", signed_at)
    return contract


def close_section(section: Section, user: User):
    """Close a contracted (or failed) section; when every section is closed, the project closes and its
    electronic archive package is assembled and stored."""
    _require_party(section.project, user)
    if section.state not in (SectionState.CONTRACTED, SectionState.FAILED):
        raise RuleViolation(f"标段状态为“{section.state_label}”，签约或流标后方可归档 (close after the contract or a "
                            f"failed tender)", code="not_closable")
    before = section.state
    SECTION_STATES.check(section.state, SectionState.CLOSED)
    section.state = SectionState.CLOSED
    audit.record("section.closed", section, actor=user, before=before.value)
    project = section.project
    if all(s.state in (SectionState.CLOSED, SectionState.CANCELLED) for s in project.sections):
        PROJECT_STATES.check(project.state, ProjectState.CLOSED)
        project.state = ProjectState.CLOSED
        audit.record("project.closed", project, actor=user)
        db.session.flush()
        from supervision.archive import store_package

        return store_package(project)
    return None
