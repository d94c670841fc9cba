"""The evaluation committee (评标委员会): opening the evaluation, sign-in at the venue seats, the recusal
declaration (承诺书) with its replacement draw, and the election of the chair.

The committee is the section's completed draw (the current assignment of every slot, with its venue and seat)
plus the tenderee's representatives the agent names. A member signs in at the seat with the personal signing
certificate (a signed, one-time sign-in document) or with the password plus a TOTP code, then sees the bidders
and signs the declaration. A declared conflict recuses the member; for a drawn expert the replacement is drawn
by the draw's own procedure (实施条例第46条: a replacement is drawn the same way), for a representative the
agent names another. Once every seat holds a member who declared no conflict, the committee elects its chair
(evaluation.chair_election). Each signed-in member is put on the media room's roster.
"""
from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa

from core import audit
from core.accounts import Role, User
from core.clock import now
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationError
from core.pki import CertificateRefused, check_certificate
from crypto import certificates as x509ca
from crypto.canonical import canonical_json
from crypto.signing import SignatureError, verify_document
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as draw_ops
from evaluation import media_roster
from evaluation.draw_models import (
    ASSIGNMENT_STATES,
    AssignmentStatus,
    Draw,
    DrawAssignment,
    DrawState,
)
from evaluation.evaluation_data import method_for, price_field
from evaluation.evaluation_models import (
    EVALUATION_STATES,
    MEMBER_STATES,
    CommitteeMember,
    EvaluatedBid,
    Evaluation,
    EvaluationState,
    MemberKind,
    MemberStatus,
)
from evaluation.experts import Expert
from trading.models import Section, SectionState
from trading.opening import DecryptionState, Opening, OpeningState
from trading.opening_operations import decryptions

SEAT_TYPE = "bidhall.evaluation.seat_sign_in.v1"
DECLARATION_TYPE = "bidhall.evaluation.declaration.v1"
#: The pledge every member signs (评标专家和评标专家库管理暂行办法第12条; 实施条例第46、49条).
PLEDGE = ("本人承诺：与下列投标人不存在法律法规规定的应当回避的情形（本人或近亲属为投标人或其主要负责人；"
          "在项目主管部门或行政监督部门任职；与投标人有经济利益关系可能影响公正评审；曾因在招标、评标以及其他与"
          "招标投标有关活动中从事违法行为而受过行政处罚或刑事处罚）；将客观、公正地履行职责，遵守评标纪律，"
          "对评标情况保密。如存在应当回避的情形，本人主动提出回避。")


class CommitteeRefused(RuleViolation):
    code = "committee_refused"


# -- opening the evaluation ------------------------------------------------------------------------------------

def evaluation_of(section: Section) -> Evaluation | None:
    return db.session.scalar(sa.select(Evaluation).where(Evaluation.section_id == section.id))


def committee_draw(section: Section) -> Draw | None:
    return db.session.scalar(sa.select(Draw).where(Draw.section_id == section.id, Draw.state.in_(
        [DrawState.COMPLETED, DrawState.COMMITTEE_REVEALED])).order_by(Draw.id.desc()).limit(1))


def open_evaluation(section: Section, agent: User, representatives: list[User]) -> Evaluation:
    """评标开始: from the closed opening and the completed draw; the agent names the representatives."""
    if not section.project.can_manage(agent):
        raise Forbidden("只有本项目的招标代理可以组织评标 (only the tender's agent opens the evaluation)")
    if evaluation_of(section) is not None:
        raise CommitteeRefused("本标段的评标已经开始 (the evaluation of this section has started)",
                               code="evaluation_exists")
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if section.state is not SectionState.EVALUATION or opening is None or opening.state is not OpeningState.CLOSED:
        raise CommitteeRefused("开标结束、标段进入评标阶段后方可组织评标 (the opening must be closed first)",
                               code="opening_not_closed")
    method = method_for(section.evaluation_method)
    draw = committee_draw(section)
    if draw is None:
        raise CommitteeRefused("本标段尚无组建完成的专家抽取，请先完成专家抽取和确认 (no completed expert draw)",
                               code="committee_not_drawn")
    _check_representatives(section, draw, representatives)
    if draw.state is DrawState.COMPLETED:
        draw_ops.reveal_to_committee(draw, actor=agent)
    evaluation = Evaluation(section_id=section.id, draw_id=draw.id, opening_id=opening.id, method_id=method.id,
                            opened_by_id=agent.id, opened_at=now())
    db.session.add(evaluation)
    db.session.flush()
    _add_bidders(evaluation, section, opening)
    position = 0
    for assignment, expert in confirmations.committee_of(draw):
        _seat_expert(evaluation, draw, assignment, expert, position)
        position += 1
    main = draw.main_venue
    for user in representatives:
        db.session.add(CommitteeMember(evaluation=evaluation, position=position, kind=MemberKind.REPRESENTATIVE,
                                       user_id=user.id, venue_code=main.code if main else None,
                                       venue_name=main.name if main else ""))
        position += 1
    db.session.flush()
    media_roster.create(evaluation, draw)
    audit.record("evaluation.opened", evaluation, actor=agent, section=section.code, method=method.id, draw=draw.id,
                 members=len(evaluation.members), bidders=len(evaluation.bidders))
    return evaluation


def _check_representatives(section: Section, draw: Draw, users: list[User]) -> None:
    if len({u.id for u in users}) != len(users) or len(users) != draw.tenderee_representatives:
        raise ValidationError(f"请指定{draw.tenderee_representatives}名招标人代表 (name "
                              f"{draw.tenderee_representatives} tenderee representatives)", field="representatives")
    for user in users:
        _check_representative(section, user)


def _check_representative(section: Section, user: User) -> None:
    if not (user.is_(Role.TENDEREE) and user.belongs_to(section.project.tenderee_id) and user.active):
        raise ValidationError(f"{user.display_name} 不是本项目招标人的在职人员 (not the tenderee's staff)",
                              field="representatives")


def _add_bidders(evaluation: Evaluation, section: Section, opening: Opening) -> None:
    """The opened bids, in the order of the opening record; bids not opened are not evaluated."""
    key = price_field(section)
    opened = [d for d in decryptions(opening) if d.state is DecryptionState.DECRYPTED]
    for position, decryption in enumerate(opened):
        form = json.loads(decryption.price_form)
        db.session.add(EvaluatedBid(evaluation=evaluation, bid_id=decryption.bid_id, position=position,
                                    organisation_id=decryption.bid.organisation_id, price=Decimal(str(form[key])),
                                    price_form=decryption.price_form))


def _venue_name(draw: Draw, code: str | None) -> str:
    for venue in draw.venues:
        if venue.venue.code == code:
            return venue.venue.name
    return draw.main_venue.name if draw.main_venue else ""


def _seat_expert(evaluation: Evaluation, draw: Draw, assignment: DrawAssignment, expert, position: int
                 ) -> CommitteeMember:
    if expert is None or expert.user_id is None:
        raise CommitteeRefused(f"第{assignment.slot + 1}席专家尚未关联平台账户，无法签到 (the expert of seat "
                               f"{assignment.slot + 1} has no platform account)", code="expert_without_account")
    venue = assignment.venue_code or (draw.main_venue.code if draw.main_venue else None)  # local mode: one venue
    member = CommitteeMember(evaluation=evaluation, position=position, kind=MemberKind.EXPERT, user_id=expert.user_id,
                             expert_id=expert.id, assignment_id=assignment.id, venue_code=venue,
                             venue_name=_venue_name(draw, venue), seat=assignment.seat)
    db.session.add(member)
    return member


def designate_representative(evaluation: Evaluation, agent: User, user: User) -> CommitteeMember:
    """Name a representative in place of one who recused (no draw: the tenderee chooses its own staff)."""
    if not evaluation.is_hosted_by(agent):
        raise Forbidden("只有本项目的招标代理可以指定招标人代表 (only the agent names representatives)")
    require_state(evaluation, EvaluationState.SEATING)
    draw = db.session.get(Draw, evaluation.draw_id)
    current = [m for m in evaluation.members if m.kind is MemberKind.REPRESENTATIVE
               and m.status is not MemberStatus.RECUSED]
    if len(current) >= draw.tenderee_representatives:
        raise CommitteeRefused("招标人代表已足额 (the representatives' seats are filled)", code="seats_filled")
    if evaluation.member_for(user) is not None:
        raise ValidationError(f"{user.display_name} 已是或曾是本委员会成员 (already on this committee)", field="user_id")
    _check_representative(evaluation.section, user)
    recused = next((m for m in evaluation.members if m.kind is MemberKind.REPRESENTATIVE
                    and m.status is MemberStatus.RECUSED and m.replaced_by_id is None), None)
    position = recused.position if recused else max((m.position for m in evaluation.members), default=-1) + 1
    member = CommitteeMember(evaluation=evaluation, position=position, kind=MemberKind.REPRESENTATIVE,
                             user_id=user.id, venue_code=recused.venue_code if recused else None,
                             venue_name=recused.venue_name if recused else "")
    db.session.add(member)
    db.session.flush()
    if recused:
        recused.replaced_by_id = member.id
    audit.record("evaluation.representative_designated", evaluation, actor=agent, member_id=member.id,
                 replaces=recused.id if recused else None)
    return member


# -- sign-in at the seat ---------------------------------------------------------------------------------------

def require_state(evaluation: Evaluation, *states: EvaluationState) -> None:
    if evaluation.state not in states:
        raise CommitteeRefused(f"评标当前处于“{evaluation.state_label}”阶段，不能进行此操作 (not possible while the "
                               f"evaluation is {evaluation.state.value})", code="wrong_stage")


def seat_of(evaluation: Evaluation, user: User) -> CommitteeMember:
    member = evaluation.member_for(user)
    if member is None:
        raise Forbidden("您不是本评标委员会的成员 (you are not on this committee)")
    return member


def seat_challenge(evaluation: Evaluation, user: User) -> str:
    """A one-time nonce to sign into the seat document (5 minutes, spent on use)."""
    from core.pki_api import LoginChallenge

    seat_of(evaluation, user)
    challenge = x509ca.make_challenge(f"evaluation:{evaluation.id}", now=now())
    db.session.add(LoginChallenge(nonce=challenge.nonce, issued_at=now()))
    return challenge.nonce


def seat_payload(evaluation: Evaluation, member: CommitteeMember, nonce: str) -> dict:
    return {"type": SEAT_TYPE, "evaluation": evaluation.id, "member": member.id, "venue": member.venue_code or "",
            "seat": member.seat or 0, "nonce": nonce}


def sign_in_with_certificate(evaluation: Evaluation, user: User, document: dict, certificate_pem: str,
                             ip: str | None) -> CommitteeMember:
    """签到 with the personal signing certificate (CA锁): the seat document, signed, with a fresh nonce."""
    from core.pki_api import CHALLENGE_LIFETIME, LoginChallenge

    member = _signing_in(evaluation, user)
    certificate, fingerprint = personal_certificate(user, certificate_pem, document)
    payload = document.get("payload") or {}
    nonce = str(payload.get("nonce", ""))
    if payload != seat_payload(evaluation, member, nonce):
        raise ValidationError("签到文档与本席位不符 (the sign-in document is not for this seat)", field="document")
    spent = db.session.scalars(sa.select(LoginChallenge).where(LoginChallenge.nonce == nonce).with_for_update()).first()
    if spent is None or spent.used_at is not None or spent.issued_at < now() - CHALLENGE_LIFETIME:
        raise CommitteeRefused("签到随机数已使用或已失效，请重新签到 (the nonce was used or expired: sign in again)",
                               code="challenge_replayed")
    spent.used_at = now()
    return _seat(evaluation, member, "certificate", ip, fingerprint)


def sign_in_with_totp(evaluation: Evaluation, user: User, password: str, code: str, ip: str | None
                      ) -> CommitteeMember:
    """签到 with the password plus a one-time code from the member's authenticator."""
    member = _signing_in(evaluation, user)
    if not user.has_totp:
        raise CommitteeRefused("您尚未启用动态口令，请用数字证书签到或先启用动态口令 (enrol a TOTP authenticator or "
                               "sign in with your certificate)", code="totp_not_enrolled")
    if not user.check_password(password or ""):
        raise ValidationError("密码错误 (wrong password)", field="password")
    if not user.check_totp(code or ""):
        raise ValidationError("动态口令错误或已使用 (wrong or reused one-time code)", field="totp")
    return _seat(evaluation, member, "totp", ip, None)


def personal_certificate(user: User, certificate_pem: str, document: dict) -> tuple[object, str]:
    """The user's own (not the organisation's) valid signing certificate, and the document verified by it."""
    try:
        certificate = x509ca.load_certificate(str(certificate_pem or "").encode())
    except (ValueError, x509ca.CertificateError):
        raise ValidationError("证书格式不正确 (malformed certificate)", field="certificate") from None
    holder = check_certificate(certificate, x509ca.Purpose.SIGNING)
    if holder.identifier != f"user:{user.id}":
        raise CertificateRefused("须使用本人的个人签名证书 (use your own personal signing certificate)")
    try:
        verify_document(document if isinstance(document, dict) else {}, certificate)
    except SignatureError as exc:
        raise ValidationError(f"签名无效 (the signature does not verify): {exc}", field="document") from None
    from crypto.signing import certificate_fingerprint

    return certificate, certificate_fingerprint(certificate)


def _signing_in(evaluation: Evaluation, user: User) -> CommitteeMember:
    require_state(evaluation, EvaluationState.SEATING)
    member = seat_of(evaluation, user)
    if member.status is not MemberStatus.INVITED:
        raise CommitteeRefused(f"您已{member.status_label} (already {member.status.value})", code="already_signed_in")
    return member


def _seat(evaluation: Evaluation, member: CommitteeMember, method: str, ip: str | None,
          fingerprint: str | None) -> CommitteeMember:
    MEMBER_STATES.check(member.status, MemberStatus.SEATED)
    if member.assignment_id is not None:
        _confirm_substitute(db.session.get(DrawAssignment, member.assignment_id), member)
    member.status, member.signed_in_at, member.sign_in_method = MemberStatus.SEATED, now(), method
    member.sign_in_ip, member.certificate_fingerprint = ip, fingerprint
    audit.record("evaluation.member_signed_in", evaluation, actor=member.user, member_id=member.id, method=method,
                 venue=member.venue_code, seat=member.seat, certificate=fingerprint)
    return member


def _confirm_substitute(assignment: DrawAssignment, member: CommitteeMember) -> None:
    """A replacement drawn during the sign-in answers its notice by taking the seat: being there is accepting."""
    if assignment.status is AssignmentStatus.CONFIRMED:
        return
    ASSIGNMENT_STATES.check(assignment.status, AssignmentStatus.CONFIRMED)
    assignment.status, assignment.responded_at = AssignmentStatus.CONFIRMED, now()
    audit.record("draw.expert_confirmed", assignment.draw, assignment_id=assignment.id, slot=assignment.slot,
                 expert_tag=assignment.expert_tag, via="seat_sign_in")


# -- the declaration (承诺书) --------------------------------------------------------------------------------------

def declaration_payload(evaluation: Evaluation, member: CommitteeMember, conflict_with: list[str], reason: str
                        ) -> dict:
    return {"type": DECLARATION_TYPE, "evaluation": evaluation.id, "member": member.id, "pledge": PLEDGE,
            "bidders": [{"name": b.name, "credit_code": b.organisation.credit_code} for b in evaluation.bidders],
            "conflict": bool(conflict_with), "conflict_with": sorted(conflict_with), "reason": reason}


def declare(evaluation: Evaluation, user: User, *, conflict_with: list[str], reason: str,
            document: dict | None = None) -> CommitteeMember:
    """Sign the declaration. A member signed in by certificate signs it with that certificate; a member signed
    in with password and TOTP confirms it in that session. A declared conflict recuses and replaces the member."""
    require_state(evaluation, EvaluationState.SEATING)
    member = seat_of(evaluation, user)
    if member.status is not MemberStatus.SEATED:
        raise CommitteeRefused("请先在席位签到；承诺书只能签署一次 (sign in at your seat first; the declaration is "
                               "signed once)", code="not_seated")
    if document is not None:
        payload = document.get("payload") if isinstance(document, dict) else None
        if not isinstance(payload, dict):
            raise ValidationError("承诺书签名文档格式不正确 (malformed declaration document)", field="document")
        conflict_with, reason = list(payload.get("conflict_with") or []), str(payload.get("reason") or "")
    codes = {b.organisation.credit_code for b in evaluation.bidders}
    unknown = [c for c in conflict_with if c not in codes]
    if unknown:
        raise ValidationError(f"不是本标段的投标人：{', '.join(unknown)} (not a bidder of this section)",
                              field="conflict_with")
    reason = (reason or "").strip()
    if conflict_with and not reason:
        raise ValidationError("申报回避须说明关系 (describe the relation that requires recusal)", field="reason")
    expected = declaration_payload(evaluation, member, conflict_with, reason)
    signature = None
    if member.sign_in_method == "certificate":
        if document is None:
            raise ValidationError("您以数字证书签到，承诺书须用该证书签名 (sign the declaration with your certificate)",
                                  field="document")
        certificate, fingerprint = personal_certificate(user, str(document.get("certificate", "")), document)
        if fingerprint != member.certificate_fingerprint or document.get("payload") != expected:
            raise ValidationError("承诺书签名与签到证书或承诺内容不符 (the declaration is not the one shown, or not "
                                  "signed with your sign-in certificate)", field="document")
        signature = canonical_json({k: document[k] for k in ("payload", "signature")}).decode()
    member.declaration, member.declaration_signature = canonical_json(expected).decode(), signature
    member.declared_at = now()
    if conflict_with:
        return _recuse(evaluation, member, conflict_with, reason)
    MEMBER_STATES.check(member.status, MemberStatus.DECLARED)
    member.status = MemberStatus.DECLARED
    audit.record("evaluation.declaration_signed", evaluation, actor=user, member_id=member.id, conflict=False,
                 signed=signature is not None)
    media_roster.seat(evaluation, member)
    if _seating_complete(evaluation):
        EVALUATION_STATES.check(evaluation.state, EvaluationState.ELECTING)
        evaluation.state = EvaluationState.ELECTING
        audit.record("evaluation.committee_seated", evaluation, members=len(evaluation.active_members))
        media_roster.stage(evaluation, "推选主任委员")
    return member


def _recuse(evaluation: Evaluation, member: CommitteeMember, conflict_with: list[str], reason: str
            ) -> CommitteeMember:
    MEMBER_STATES.check(member.status, MemberStatus.RECUSED)
    member.status, member.recusal_reason = MemberStatus.RECUSED, reason[:1000]
    audit.record("evaluation.declaration_signed", evaluation, actor=member.user, member_id=member.id, conflict=True,
                 conflict_with=conflict_with, reason=member.recusal_reason)
    if member.kind is MemberKind.EXPERT:
        draw = db.session.get(Draw, evaluation.draw_id)
        assignment = db.session.get(DrawAssignment, member.assignment_id)
        substitute = confirmations.end_assignment(draw, assignment, AssignmentStatus.RECUSED,
                                                  reason=f"评标现场申报回避：{reason}"[:500])
        if substitute is not None:
            expert = db.session.scalar(sa.select(Expert).where(
                Expert.code == confirmations.assignment_expert_code(substitute)))
            replacement = _seat_expert(evaluation, draw, substitute, expert, member.position)
            db.session.flush()
            member.replaced_by_id = replacement.id
            audit.record("evaluation.member_replaced", evaluation, member_id=member.id, substitute_id=replacement.id,
                         round=substitute.round)
    return member


def _seating_complete(evaluation: Evaluation) -> bool:
    draw = db.session.get(Draw, evaluation.draw_id)
    active = evaluation.active_members
    experts = sum(m.kind is MemberKind.EXPERT for m in active)
    return experts == draw.experts_requested and len(active) - experts == draw.tenderee_representatives


def active_member(evaluation: Evaluation, user: User) -> CommitteeMember:
    """The user's seat if it may act: signed in, declared no conflict. A recused member is refused by name."""
    member = seat_of(evaluation, user)
    if member.status is MemberStatus.RECUSED:
        raise Forbidden("您已申报回避，不能参与本项目评审 (you recused yourself: you take no part in this evaluation)",
                        code="member_recused")
    if not member.is_active:
        raise CommitteeRefused("请先签到并签署承诺书 (sign in and sign the declaration first)", code="not_declared")
    return member


def require_chair(evaluation: Evaluation, user: User) -> CommitteeMember:
    member = active_member(evaluation, user)
    if not member.is_chair:
        raise Forbidden("只有主任委员可以执行此操作 (only the chair may do this)", code="not_chair")
    return member
