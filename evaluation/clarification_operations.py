"""Clarifications (澄清) during the evaluation, and the room's recorded chat.

The committee (through its chair) asks one bidder a question with a deadline; the bidder answers in its portal,
signed with the organisation's signing certificate — in the browser, or with any tool that can sign the answer
document as crypto.signing.sign_document does. The server clock decides the deadline: a late answer is refused
and the attempt recorded. Question, answer and signature join the record and the report's clarification minutes.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from core import audit
from core.accounts import Role, User
from core.clock import format_local, now
from core.db import db
from core.errors import Forbidden, ValidationError
from core.notifications import notify
from core.pki import CertificateRefused, check_certificate
from crypto import certificates as x509ca
from crypto.canonical import canonical_json
from crypto.signing import SignatureError, certificate_fingerprint, verify_document
from evaluation.committee import CommitteeRefused, active_member, require_chair
from evaluation.evaluation_models import (
    ChatMessage,
    Evaluation,
    EvaluationClarification,
    EvaluationState,
)

ANSWER_TYPE = "bidhall.evaluation.clarification_answer.v1"
ASKING_STATES = (EvaluationState.REVIEW, EvaluationState.SCORING)


def minutes_allowed() -> tuple[int, int]:
    """How long a bidder may be given to answer; configurable (``EVALUATION_CLARIFICATION_MINUTES``)."""
    low, high = current_app.config.get("EVALUATION_CLARIFICATION_MINUTES", (5, 24 * 60))
    return int(low), int(high)


def ask(evaluation: Evaluation, user: User, bidder_id: int, question: str, minutes: object
        ) -> EvaluationClarification:
    if evaluation.state not in ASKING_STATES:
        raise CommitteeRefused("评审过程中方可发出澄清 (clarifications are asked during the review and scoring)",
                               code="wrong_stage")
    require_chair(evaluation, user)
    bidder = next((b for b in evaluation.bidders if b.id == bidder_id), None)
    if bidder is None:
        raise ValidationError("请选择本标段的投标人 (choose a bidder of this section)", field="bidder_id")
    question = (question or "").strip()
    if not question:
        raise ValidationError("请填写澄清问题 (the question is required)", field="question")
    low, high = minutes_allowed()
    try:
        span = int(str(minutes))
    except ValueError:
        span = -1
    if not low <= span <= high:
        raise ValidationError(f"答复时限应为{low}–{high}分钟 (the answer time is {low}–{high} minutes)", field="minutes")
    number = 1 + (db.session.scalar(sa.select(sa.func.count(EvaluationClarification.id)).where(
        EvaluationClarification.evaluation_id == evaluation.id)) or 0)
    item = EvaluationClarification(evaluation_id=evaluation.id, bidder_id=bidder.id, number=number,
                                   question=question[:4000], asked_by_id=user.id, asked_at=now(),
                                   deadline=now() + timedelta(minutes=span))
    db.session.add(item)
    db.session.flush()
    audit.record("evaluation.clarification_asked", evaluation, actor=user, clarification_id=item.id,
                 bidder=bidder.organisation.credit_code, question=item.question, deadline=item.deadline.isoformat())
    recipients = db.session.scalars(sa.select(User.id).where(User.organisation_id == bidder.organisation_id,
                                                             User.role == Role.BIDDER, User.active)).all()
    notify(recipients, f"评标委员会澄清要求：{evaluation.section.name}",
           f"请于 {format_local(item.deadline)} 前在平台答复并签名。", link="/evaluations")
    return item


def answer_payload(item: EvaluationClarification, answer: str, accept: bool | None = None) -> dict:
    """The document the bidder signs. A clarification stating an arithmetic correction (evaluation.
    price_corrections) also carries the bidder's choice: ``accept`` true or false."""
    payload = {"type": ANSWER_TYPE, "clarification": item.id, "evaluation": item.evaluation_id,
               "bidder": item.bidder.organisation.credit_code,
               "question_sha256": hashlib.sha256(item.question.encode()).hexdigest(), "answer": answer}
    if accept is not None:
        payload["accept"] = accept
    return payload


def answer(item: EvaluationClarification, user: User, document: dict, certificate_pem: str
           ) -> EvaluationClarification:
    """The bidder's answer, signed with its organisation's signing certificate, before the deadline."""
    if not (user.is_(Role.BIDDER) and user.belongs_to(item.bidder.organisation_id)):
        raise Forbidden("只能答复本单位收到的澄清 (only your organisation's clarifications)")
    if item.answered_at is not None:
        raise CommitteeRefused("该澄清已答复 (already answered)", code="already_answered")
    from evaluation import price_corrections

    if now() > item.deadline or item.evaluation.is_closed:
        audit.record("evaluation.clarification_late", item.evaluation, actor=user, clarification_id=item.id,
                     deadline=item.deadline.isoformat())
        price_corrections.expire_overdue(item.evaluation, user)
        db.session.commit()  # the refused attempt is part of the record
        raise CommitteeRefused(f"答复时限已于 {format_local(item.deadline)} 截止，答复不予接受 (the deadline has passed: "
                               "the answer is refused)", code="clarification_closed", field="answer")
    payload = document.get("payload") if isinstance(document, dict) else None
    text = str((payload or {}).get("answer") or "").strip()
    if not text:
        raise ValidationError("请填写答复内容 (the answer is required)", field="answer")
    correction = price_corrections.correction_for(item)
    accept = None
    if correction is not None:
        accept = (payload or {}).get("accept")
        if not isinstance(accept, bool):
            raise ValidationError("请选择接受或不接受算术修正 (say whether you accept the arithmetic correction)",
                                  field="accept")
    if payload != answer_payload(item, text, accept):
        raise ValidationError("签名的答复不是针对本次澄清的 (the signed answer is not for this clarification)",
                              field="document")
    try:
        certificate = x509ca.load_certificate(str(certificate_pem or "").encode())
    except (ValueError, x509ca.CertificateError):
        raise ValidationError("证书格式不正确 (malformed certificate)", field="certificate") from None
    holder = check_certificate(certificate, x509ca.Purpose.SIGNING)
    if holder.identifier != user.organisation.credit_code:
        raise CertificateRefused("须使用本单位的签名证书 (use your organisation's signing certificate)")
    try:
        verify_document(document, certificate)
    except SignatureError as exc:
        raise ValidationError(f"签名无效 (the signature does not verify): {exc}", field="document") from None
    item.answer, item.answered_by_id, item.answered_at = text[:8000], user.id, now()
    item.certificate_fingerprint = certificate_fingerprint(certificate)
    item.answer_document = canonical_json({k: document[k] for k in ("payload", "signature")}).decode()
    audit.record("evaluation.clarification_answered", item.evaluation, actor=user, clarification_id=item.id,
                 answer=item.answer, certificate=item.certificate_fingerprint,
                 **({} if accept is None else {"accept": accept}))
    if correction is not None:
        price_corrections.answered(correction, user, accept)
    return item


def clarifications_for(organisation_id: int) -> list[EvaluationClarification]:
    from evaluation.evaluation_models import EvaluatedBid

    return db.session.scalars(sa.select(EvaluationClarification).join(EvaluatedBid).where(
        EvaluatedBid.organisation_id == organisation_id).order_by(EvaluationClarification.id.desc())).all()


def post_message(evaluation: Evaluation, user: User, text: str) -> ChatMessage:
    """A chat line in the room: members who may act and supervisors; recorded in the audit chain."""
    if not user.is_(Role.SUPERVISOR):
        active_member(evaluation, user)
    if evaluation.state is EvaluationState.PUBLISHED:
        raise CommitteeRefused("评标已结束 (the evaluation is over)", code="wrong_stage")
    text = (text or "").strip()
    if not 1 <= len(text) <= 2000:
        raise ValidationError("消息为1–2000个字符 (a message has 1–2000 characters)", field="text")
    message = ChatMessage(evaluation_id=evaluation.id, user_id=user.id, text=text, at=now())
    db.session.add(message)
    db.session.flush()
    audit.record("evaluation.chat", evaluation, actor=user, message_id=message.id, text=text)
    return message
