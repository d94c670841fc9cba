"""Objections (异议) to the tenderee and complaints (投诉) to the supervisory authority.

- An objection to the tender documents comes 10 days or more before the bid deadline (实施条例第22条); one to
  the evaluation result comes during the candidate publicity (第54条). The tenderee (or its agent) answers
  within 3 days; until then the award waits.
- A complaint goes to the supervisor within 10 days of knowing the facts (第60条); on the documents or the
  result it needs an objection first. The supervisor decides whether to accept it within 3 working days and
  decides it within 30 working days of acceptance (第61条), and may suspend the tender meanwhile (第62条).
  Upheld with a re-evaluation, the section goes back to the evaluation and its result is superseded.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from core import audit, clock
from core.accounts import Role, User
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationError
from core.notifications import notify
from supervision.award_models import (
    COMPLAINT_STATES,
    Complaint,
    ComplaintState,
    ObjectionSubject,
    SectionObjection,
)
from supervision.clocks import clock_due
from supervision.post_award import (
    _members,
    _now,
    _require_party,
    bidder_ids,
    clocks,
    current_result,
    supervisors_for,
)
from trading.models import SECTION_STATES, Download, Section, SectionState


def _subject(value) -> ObjectionSubject:
    try:
        return value if isinstance(value, ObjectionSubject) else ObjectionSubject(value)
    except ValueError:
        raise ValidationError("异议对象应为 documents 或 result (subject: documents or result)", field="subject") from None


def _text(value: str, field: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(f"请填写{what} ({field} required)", field=field)
    return text[:4000]


def _answer_due(raised: datetime) -> datetime:
    """3 days to answer (to 24:00 of the last day); with the accelerator on, compressed like every clock."""
    days = clocks().objection_answer.days
    if int(current_app.config.get("ACCELERATOR", 1)) > 1:
        return raised + clock.statutory(days)
    due = clock_due(clocks().objection_answer, raised)
    return clock.parse_local(f"{due + timedelta(days=1):%Y-%m-%d} 00:00")


def raise_objection(section: Section, user: User, subject, text: str) -> SectionObjection:
    subject = _subject(subject)
    text = _text(text, "text", "异议内容")
    moment = _now()
    if subject is ObjectionSubject.DOCUMENTS:
        lead = clocks().objection_to_documents_lead.days
        if section.state is not SectionState.BIDDING or moment > section.deadline - clock.statutory(lead):
            raise RuleViolation(f"对招标文件的异议应在投标截止时间{lead}日前提出（实施条例第22条），异议期已过 "
                                f"(objections to the documents close {lead} days before the deadline)",
                                code="objection_window_closed")
        interested = db.session.scalar(sa.select(Download.id).where(
            Download.section_id == section.id, Download.organisation_id == user.organisation_id).limit(1))
    else:
        result = current_result(section.id)
        if (section.state is not SectionState.PUBLICITY or result is None or result.publicity_started_at is None
                or not result.publicity_started_at <= moment < result.publicity_ends_at):
            raise RuleViolation("对评标结果的异议应在中标候选人公示期间提出（实施条例第54条），异议期已过 "
                                "(objections to the result are raised during the publicity: the window has closed)",
                                code="objection_window_closed")
        interested = user.organisation_id in bidder_ids(section)
    if not interested:
        raise Forbidden("只有本标段的潜在投标人或投标人可以提出异议 (only this section's (potential) bidders object)")
    objection = SectionObjection(section_id=section.id, subject=subject, organisation_id=user.organisation_id,
                                 raised_by_id=user.id, text=text, raised_at=moment,
                                 answer_due=_answer_due(moment))
    db.session.add(objection)
    db.session.flush()
    audit.record("objection.raised", objection, actor=user, section_id=section.id, subject=subject.value,
                 text=objection.text, answer_due=objection.answer_due.isoformat())
    project = section.project
    parties = db.session.scalars(sa.select(User.id).where(
        User.organisation_id.in_([project.tenderee_id, project.agency_id]))).all()
    notify(parties, f"异议待答复：{project.name} {section.name}",
           f"{objection.subject_label}异议，请于 {clock.format_local(objection.answer_due)} 前答复",
           link=f"/sections/{section.id}/result")
    return objection


def answer_objection(objection: SectionObjection, user: User, answer: str) -> SectionObjection:
    section = db.session.get(Section, objection.section_id)
    if objection.answered_at is not None:
        raise RuleViolation("该异议已答复 (already answered)", code="already_answered")
    _require_party(section.project, user)
    objection.answer, objection.answered_by_id, objection.answered_at = _text(answer, "answer", "答复"), user.id, _now()
    audit.record("objection.answered", objection, actor=user, answer=objection.answer,
                 late=objection.answered_at > objection.answer_due)
    notify(_members([objection.organisation_id]), f"异议已答复：{section.project.name} {section.name}",
           objection.answer[:200], link=f"/sections/{section.id}/result")
    return objection


def file_complaint(section: Section, user: User, text: str, *, subject=None, known_on: date | None = None) -> Complaint:
    subject = _subject(subject) if subject not in (None, "") else None
    text = _text(text, "text", "投诉内容")
    today = clock.local(_now()).date()
    known_on = known_on or today
    if known_on > today:
        raise ValidationError("知道投诉事项的日期不能晚于今天 (the day you learnt of it lies in the future)",
                              field="known_on")
    filing = clocks().complaint_filing
    if today > clock_due(filing, known_on):
        raise RuleViolation(f"投诉应自知道或者应当知道之日起{filing.days}日内提出（实施条例第60条），已逾期 "
                            f"(complaints are filed within {filing.days} days of knowing)", code="complaint_late",
                            field="known_on")
    if user.organisation_id not in bidder_ids(section) and not db.session.scalar(sa.select(Download.id).where(
            Download.section_id == section.id, Download.organisation_id == user.organisation_id).limit(1)):
        raise Forbidden("只有本标段的投标人或潜在投标人可以投诉 (only this section's (potential) bidders complain)")
    if subject is not None and not db.session.scalar(sa.select(SectionObjection.id).where(
            SectionObjection.section_id == section.id, SectionObjection.subject == subject,
            SectionObjection.organisation_id == user.organisation_id).limit(1)):
        raise RuleViolation("就招标文件或评标结果投诉，应当先向招标人提出异议（实施条例第60条）(object to the tenderee "
                            "first)", code="objection_first", field="subject")
    complaint = Complaint(section_id=section.id, subject=subject, organisation_id=user.organisation_id,
                          filed_by_id=user.id, text=text, known_on=known_on, filed_at=_now())
    db.session.add(complaint)
    db.session.flush()
    audit.record("complaint.filed", complaint, actor=user, section_id=section.id,
                 subject=subject.value if subject else None, known_on=known_on.isoformat(), text=complaint.text)
    notify(supervisors_for(section.project), f"新投诉：{section.project.name} {section.name}", complaint.text[:200],
           link=f"/supervision/sections/{section.id}")
    return complaint


def _require_supervisor(user: User) -> None:
    if not user.is_(Role.SUPERVISOR):
        raise Forbidden("投诉由行政监督部门处理 (complaints are handled by supervisors)")


def accept_complaint(complaint: Complaint, supervisor: User, *, accept: bool, note: str,
                     suspend: bool = False) -> Complaint:
    """受理 or not, with a note; an accepted complaint may suspend the tender (实施条例第62条)."""
    _require_supervisor(supervisor)
    note = _text(note, "note", "受理意见")
    target = ComplaintState.ACCEPTED if accept else ComplaintState.REJECTED
    COMPLAINT_STATES.check(complaint.state, target)
    complaint.state, complaint.handled_by_id, complaint.acceptance_note = target, supervisor.id, note
    if accept:
        complaint.accepted_at, complaint.suspends = _now(), bool(suspend)
    else:
        complaint.decided_at = _now()
    audit.record("complaint.accepted" if accept else "complaint.rejected", complaint, actor=supervisor,
                 note=complaint.acceptance_note, suspends=complaint.suspends)
    notify(_members([complaint.organisation_id]), f"投诉{'已受理' if accept else '不予受理'}", complaint.acceptance_note[:200])
    return complaint


def decide_complaint(complaint: Complaint, supervisor: User, *, upheld: bool, decision: str,
                     re_evaluate: bool = False) -> Complaint:
    """The written decision; upheld with a re-evaluation, the section returns to the evaluation."""
    _require_supervisor(supervisor)
    decision = _text(decision, "decision", "处理决定")
    target = ComplaintState.UPHELD if upheld else ComplaintState.DISMISSED
    COMPLAINT_STATES.check(complaint.state, target)
    section = db.session.get(Section, complaint.section_id)
    if re_evaluate and not upheld:
        raise ValidationError("驳回投诉时不能责令重新评审 (a dismissed complaint orders no re-evaluation)",
                              field="re_evaluate")
    if re_evaluate and section.state is not SectionState.PUBLICITY:
        raise RuleViolation("只有公示中的标段可以责令重新评审 (only a section in publicity can be re-evaluated)",
                            code="not_in_publicity")
    complaint.state, complaint.decided_at, complaint.handled_by_id = target, _now(), supervisor.id
    complaint.decision, complaint.re_evaluation = decision, bool(re_evaluate)
    if re_evaluate:
        result = current_result(section.id)
        result.superseded_at = _now()
        SECTION_STATES.check(section.state, SectionState.EVALUATION)
        section.state = SectionState.EVALUATION
    audit.record("complaint.decided", complaint, actor=supervisor, upheld=upheld, decision=complaint.decision,
                 re_evaluation=complaint.re_evaluation)
    notify(_members(set(bidder_ids(section)) | {complaint.organisation_id}),
           f"投诉处理决定：{section.project.name} {section.name}", complaint.decision[:200],
           link=f"/sections/{section.id}/result")
    return complaint
