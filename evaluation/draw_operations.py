"""Every state change of an expert draw: request, commit, entropy, reveal, re-check, opening, publication.

The ceremony is docs/draw.md §1: the commit publishes the commitment and both digests in the audit log before
anyone contributes; supervisors (and optionally the tenderee) contribute entropy; the reveal derives the seed
and draws (crypto.draw). Recusal (evaluation.recusal) builds the eligible list at the commit. The bidders are
known only after the deadline: a draw committed earlier names none, and ``recheck_bidders`` re-runs the rules
over the drawn experts once they are known, replacing the conflicted ones with reason ``recused``. The caller
passes the bidders' credit codes; today the agent enters them, and the sealed-bids work will pass the
section's bidders from its own records (``section_bidder_codes`` is the hook it fills).

Sealing (evaluation.draw_sealing): the commit wraps the secret to the evaluation service's key alone; the
reveal makes a list key, seals the selection and the seats under it and wraps it to the evaluation key and to
the encryption certificate of each supervisor of the draw, and is refused when no supervisor holds one.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, OrgKind, Role, User
from core.clock import now
from core.db import db
from core.errors import RuleViolation, ValidationError
from core.pki import Certificate, Purpose, current_certificate
from core.validators import validate_credit_code, validate_region
from crypto.draw import (
    ContributionRefused,
    DrawCeremony,
    DrawError,
    DrawShortfall,
    new_secret,
    select_committee,
)
from evaluation import draw_confirmations as confirmations
from evaluation.draw_models import (
    AWARDED_SECTION_STATES,
    DRAW_STATES,
    AssignmentStatus,
    Draw,
    DrawContribution,
    DrawQuota,
    DrawState,
    DrawVenue,
    Venue,
    VenueRole,
)
from evaluation.draw_pool import (
    DrawSettings,
    draw_context,
    load_candidates,
    recent_draw_dates,
    split_codes,
)
from evaluation.draw_records import (
    build_record,
    ceremony_of,
    eligible_entries,
    record_digest,
)
from evaluation.draw_sealing import keys_of, new_salt, open_secret, seal_list, seal_secret
from evaluation.recusal import (
    ENGINEERING,
    GOVERNMENT_PROCUREMENT,
    GOVERNMENT_PROCUREMENT_LARGE,
    NEGOTIATION,
    WATER_WORKS,
    CommitteeCompositionError,
    CommitteeRule,
    ExpertIndex,
    apply_recusal,
    check_committee_composition,
    committee_rule_for,
    recheck,
)
from evaluation.specialties import specialty_name, validate_specialty
from trading.models import ProcurementMethod, ProjectType, Section, SectionState

COMMITTEE_RULES = {rule.name: rule for rule in (ENGINEERING, WATER_WORKS, GOVERNMENT_PROCUREMENT,
                                                 GOVERNMENT_PROCUREMENT_LARGE, NEGOTIATION)}
#: Hooks that know a section's bidders (the sealed-bids work appends one); None means "not known here".
BIDDER_SOURCES: list[Callable[[Section], Sequence[str] | None]] = []


def section_bidder_codes(section: Section) -> list[str] | None:
    for source in BIDDER_SOURCES:
        codes = source(section)
        if codes is not None:
            return sorted(set(codes))
    return None


def committee_rule_of(section: Section, *, water_works: bool = False, complex_project: bool = False,
                      settings: DrawSettings | None = None) -> CommitteeRule:
    """rules.md §2: works 5+ (water works 7+), procurement 5+ (7+ from 10M CNY or complex), 磋商/询价 3+."""
    project = section.project
    settings = settings or DrawSettings.current()
    if project.method in (ProcurementMethod.CONSULTATION, ProcurementMethod.INQUIRY):
        return committee_rule_for(project.method.value)
    if project.type is ProjectType.WORKS:
        return committee_rule_for("water_works" if water_works else "engineering")
    return committee_rule_for("government_procurement", budget=project.budget, complex_project=complex_project,
                              large_budget=settings.large_procurement_budget)


@dataclass(frozen=True)
class QuotaInput:
    specialty: str
    count: int
    reserves: int = 0


@dataclass(frozen=True)
class VenueInput:
    venue: Venue
    seats: int


def _check_venues(venues: Sequence[VenueInput], members: int) -> None:
    if not venues:
        raise ValidationError("请选择主场评标场地 (choose the main venue)", field="main_venue_id")
    ids = [v.venue.id for v in venues]
    if len(set(ids)) != len(ids):
        raise ValidationError("副场不能与主场或其他副场重复 (venues must be distinct)", field="secondary_venues")
    for position, item in enumerate(venues):
        field = "main_venue_id" if position == 0 else "secondary_venues"
        if not item.venue.active:
            raise ValidationError(f"评标场地“{item.venue.name}”已停用 (venue inactive)", field=field)
        if not 1 <= item.seats <= item.venue.seats:
            raise ValidationError(f"“{item.venue.name}”可用席位为1–{item.venue.seats} (seats at this venue: 1–"
                                  f"{item.venue.seats})", field=field)
    if sum(v.seats for v in venues) < members:
        raise ValidationError(f"评标场地席位合计{sum(v.seats for v in venues)}个，少于{members}名专家 "
                              "(the venues offer fewer seats than experts)", field="secondary_venues")


def request_draw(section: Section, *, agent: User, quotas: Sequence[QuotaInput], tenderee_representatives: int,
                 evaluation_at: datetime, venues: Sequence[VenueInput], regions_allowed: Sequence[str] = (),
                 regions_excluded: Sequence[str] = (), water_works: bool = False, complex_project: bool = False,
                 confirmation_minutes: int | None = None, supervisor_org: Organisation | None = None) -> Draw:
    """申请抽取: check the request and the committee's composition; nothing is drawn yet."""
    if section.state not in (SectionState.BIDDING, SectionState.OPENING, SectionState.EVALUATION):
        raise RuleViolation(f"标段当前为“{section.state_label}”，不能申请抽取专家 (no draw in this section state)",
                            code="section_state")
    live = db.session.scalar(sa.select(Draw.id).where(Draw.section_id == section.id,
                                                      Draw.state != DrawState.CANCELLED).limit(1))
    if live:
        raise RuleViolation("该标段已有进行中的专家抽取，请先取消 (this section already has a draw; cancel it first)",
                            code="draw_exists")
    if not quotas:
        raise ValidationError("请至少填写一个专业及人数 (name at least one specialty and count)", field="quotas")
    codes = [validate_specialty(q.specialty, field=f"quotas[{i}].specialty") for i, q in enumerate(quotas)]
    if len(set(codes)) != len(codes):
        raise ValidationError("同一专业只能填写一行 (one row per specialty)", field="quotas")
    for i, q in enumerate(quotas):
        if not 1 <= q.count <= 50 or not 0 <= q.reserves <= 20:
            raise ValidationError("每个专业的人数应为1–50、候补0–20 (count 1–50, reserves 0–20 per specialty)",
                                  field=f"quotas[{i}].count")
    if not 0 <= tenderee_representatives <= 10:
        raise ValidationError("招标人代表人数应为0–10 (tenderee representatives: 0–10)", field="tenderee_representatives")
    settings = DrawSettings.current()
    rule = committee_rule_of(section, water_works=water_works, complex_project=complex_project, settings=settings)
    experts = sum(q.count for q in quotas)
    try:
        check_committee_composition(experts, tenderee_representatives, rule)
    except CommitteeCompositionError as exc:
        raise RuleViolation(exc.message, code=exc.code, field="quotas") from None
    if evaluation_at <= now() or evaluation_at < section.deadline:
        raise ValidationError("评标时间应晚于当前时间和投标截止时间 (the evaluation starts after now and the deadline)",
                              field="evaluation_at")
    _check_venues(venues, experts)
    allowed = [validate_region(c, field="regions_allowed") for c in regions_allowed]
    excluded = [validate_region(c, field="regions_excluded") for c in regions_excluded]
    minutes = settings.confirmation_minutes if confirmation_minutes is None else int(confirmation_minutes)
    if not 5 <= minutes <= 24 * 60:
        raise ValidationError("确认时限应为5–1440分钟 (confirmation time-out: 5–1440 minutes)", field="confirmation_minutes")
    if supervisor_org is not None and supervisor_org.kind is not OrgKind.SUPERVISORY_AUTHORITY:
        raise ValidationError("请选择行政监督部门 (choose a supervisory authority)", field="supervisor_org_id")
    draw = Draw(section=section, requested_by=agent, committee_rule=rule.name,
                tenderee_representatives=tenderee_representatives, regions_allowed=" ".join(allowed),
                regions_excluded=" ".join(excluded), evaluation_at=evaluation_at, confirmation_minutes=minutes,
                supervisor_org=supervisor_org, salt=new_salt(),
                quotas=[DrawQuota(position=i, specialty=c, count=q.count, reserves=q.reserves)
                        for i, (c, q) in enumerate(zip(codes, quotas, strict=False))],
                venues=[DrawVenue(venue=v.venue, seats=v.seats, position=i,
                                  role=VenueRole.MAIN if i == 0 else VenueRole.SECONDARY) for i, v in enumerate(venues)])
    db.session.add(draw)
    db.session.flush()
    audit.record("draw.requested", draw, section=section.code, committee_rule=rule.name,
                 committee_size=draw.committee_size, tenderee_representatives=tenderee_representatives,
                 quotas=[{"specialty": q.specialty, "count": q.count, "reserves": q.reserves} for q in draw.quotas],
                 venues=[{"venue": v.venue.code, "role": v.role.value, "seats": v.seats} for v in draw.venues],
                 evaluation_at=evaluation_at.isoformat(), regions_allowed=allowed, regions_excluded=excluded)
    return draw


def _bidders(codes: Sequence[str] | None) -> list[str] | None:
    if codes is None:
        return None
    return sorted({validate_credit_code(c, field="bidders") for c in codes})


def _request_json(draw: Draw, bidders: list[str] | None, settings: DrawSettings) -> dict:
    project = draw.section.project
    request = {"kind": "experts", "draw": draw.id, "section": draw.section.code,
               "quotas": [{"specialty": q.specialty, "count": q.count, "reserves": q.reserves} for q in draw.quotas],
               "one_per_employer": settings.one_per_employer, "committee_rule": draw.committee_rule,
               "tenderee_representatives": draw.tenderee_representatives,
               "evaluation_at": draw.evaluation_at.isoformat(), "tenderee": project.tenderee.credit_code,
               "agency": project.agency.credit_code, "bidders": bidders,
               "regions_allowed": list(split_codes(draw.regions_allowed)),
               "regions_excluded": list(split_codes(draw.regions_excluded))}
    if draw.remote:
        request["venues"] = [{"id": v.venue.code, "seats": v.seats, "regions": v.venue.near_regions}
                             for v in draw.venues]
    return request


def shortfall_error(exc: DrawShortfall) -> RuleViolation:
    where = f"在{exc.venue}场地" if exc.venue else ""
    return RuleViolation(f"专业 {exc.specialty}（{specialty_name(exc.specialty)}）{where}可抽专家不足：需要{exc.needed}人，"
                         f"仅有{exc.available}人，缺{exc.shortfall}人 ({exc})", code="draw_shortfall", field="quotas")


def commit_draw(draw: Draw, *, actor: User, bidders: Sequence[str] | None) -> Draw:
    """Freeze the eligible list and publish the commitment; after the deadline the bidders must be given."""
    DRAW_STATES.check(draw.state, DrawState.COMMITTED)
    after_deadline = now() >= draw.section.deadline
    bidders = _bidders(bidders) if bidders is not None else section_bidder_codes(draw.section)
    if after_deadline and bidders is None:
        raise ValidationError("投标截止后抽取，须提供本标段投标人名单以便回避 (after the deadline, name the bidders so "
                              "their staff are recused)", field="bidders")
    if not after_deadline and bidders:
        raise ValidationError("投标截止前投标人名单尚未确定 (the bidders are not known before the deadline)",
                              field="bidders")
    settings = DrawSettings.current()
    context = draw_context(draw, bidders or (), settings)
    recent = recent_draw_dates(settings.window_days, context.draw_date)
    candidates = load_candidates(context.specialties, context.evaluation_date, recent)
    recusal = apply_recusal(ExpertIndex(candidates), context, settings.rule_set())
    request = _request_json(draw, bidders if after_deadline else None, settings)
    secret = new_secret()
    try:
        ceremony = DrawCeremony.open(secret, request, recusal.eligible)
    except DrawShortfall as exc:
        raise shortfall_error(exc) from None
    except DrawError as exc:
        raise ValidationError(f"抽取申请无效 (invalid draw request): {exc}", field="quotas") from None
    draw.request_json = json.dumps(request, ensure_ascii=False, sort_keys=True)
    draw.request_digest = ceremony.commitment.request_digest
    draw.eligible_digest = ceremony.commitment.eligible_digest
    draw.commitment = ceremony.commitment.commitment
    draw.eligible_json = json.dumps([e.as_json() for e in recusal.eligible], ensure_ascii=False)
    draw.eligible_count, draw.candidate_count = len(recusal.eligible), recusal.candidates
    draw.secret_sealed = seal_secret(draw, secret)  # to the evaluation key alone: no supervisor may know it
    draw.bidders_known, draw.bidder_credit_codes = after_deadline, " ".join(bidders or ())
    draw.state, draw.committed_at = DrawState.COMMITTED, now()
    confirmations.record_exclusions(draw, recusal.exclusions, "commit")
    audit.record("draw.committed", draw, actor=actor, commitment=draw.commitment, request_digest=draw.request_digest,
                 eligible_digest=draw.eligible_digest, eligible_count=draw.eligible_count,
                 candidate_count=draw.candidate_count, exclusion_count=len(recusal.exclusions),
                 bidders_known=after_deadline)
    return draw


def contribute(draw: Draw, user: User, entropy: str) -> DrawContribution:
    """A supervisor's (or the tenderee's) entropy, bound into the seed; refused once the draw is revealed."""
    if not draw.can_contribute(user):
        raise RuleViolation("只有监督人员和本项目招标人可以贡献随机数 (only supervisors and the tenderee contribute)",
                            code="forbidden", status=403)
    if draw.state in (DrawState.REQUESTED, DrawState.CANCELLED):
        raise RuleViolation(f"本次抽取当前为“{draw.state_label}”，尚不能贡献随机数 (the draw is not committed)",
                            code="draw_not_committed")
    ceremony = ceremony_of(draw)
    entropy = (entropy or "").strip()
    try:
        contribution = ceremony.contribute(f"{user.role.value}:{user.display_name}", entropy, now())
    except ContributionRefused:
        raise RuleViolation("抽取结果已揭示，不再接受随机数贡献 (entropy refused: the draw was already revealed, so "
                            "it can no longer be bound into the seed)", code="entropy_after_reveal",
                            field="entropy") from None
    except DrawError as exc:
        raise ValidationError(f"请输入1–1024个字符的随机串 (entropy: 1–1024 characters): {exc}", field="entropy") from None
    if any(c.user_id == user.id for c in draw.contributions):
        raise ValidationError("您已贡献过随机数 (you already contributed)", field="entropy")
    row = DrawContribution(user_id=user.id, contributor=contribution.contributor, at=contribution.at,
                           entropy=contribution.entropy, role=user.role.value)
    draw.contributions.append(row)
    db.session.flush()
    audit.record("draw.entropy_contributed", draw, contributor=row.contributor, at=row.at, entropy=row.entropy)
    return row


def supervisors_of(draw: Draw) -> list[User]:
    """The draw's supervisors (Draw.is_overseen_by): active supervisors of its supervisory authority when one is
    named, otherwise every active supervisor."""
    query = sa.select(User).where(User.role == Role.SUPERVISOR, User.active.is_(True))
    if draw.supervisor_org_id is not None:
        query = query.where(User.organisation_id == draw.supervisor_org_id)
    return list(db.session.scalars(query.order_by(User.id)))


def supervision_certificates(draw: Draw) -> tuple[list[tuple[User, Certificate]], list[User]]:
    """The draw's supervisors with a valid encryption certificate (each with it), and those without one;
    refused when none has one."""
    supervisors = supervisors_of(draw)
    if not supervisors:
        where = f"“{draw.supervisor_org.name}”" if draw.supervisor_org else "平台上"
        raise RuleViolation(f"{where}没有在职的监督人员，名单无法密封给监督方 (the list cannot be sealed to supervision: "
                            "the draw has no active supervisor)", code="supervision_key_missing")
    certified = [(user, current_certificate(user, Purpose.ENCRYPTION)) for user in supervisors]
    holders = [(user, certificate) for user, certificate in certified if certificate is not None]
    if not holders:
        names = "、".join(user.display_name for user in supervisors)
        raise RuleViolation(f"监督人员{names}均无有效的加密证书，名单无法密封给监督方，不能开始抽取；请先在“数字证书”页"
                            f"或用 bidtool 申请个人加密证书 (the list cannot be sealed to supervision: supervisors "
                            f"{names} hold no valid encryption certificate; one of them enrols first)",
                            code="supervision_key_missing")
    return holders, [user for user, certificate in certified if certificate is None]


def reveal(draw: Draw, *, actor: User) -> Draw:
    """开始抽取: close contributions, derive the seed, draw, seal the list to the evaluation and supervision keys
    and notify the members."""
    DRAW_STATES.check(draw.state, DrawState.DRAWN)
    if not any(c.role == Role.SUPERVISOR.value for c in draw.contributions):
        raise RuleViolation("抽取前须至少有一名监督人员贡献随机数 (a supervisor must contribute entropy first)",
                            code="entropy_missing")
    holders, uncertified = supervision_certificates(draw)
    ceremony = ceremony_of(draw)
    try:
        seed = ceremony.reveal(open_secret(draw))
        selection = select_committee(seed, draw.request, eligible_entries(draw))
    except DrawShortfall as exc:
        raise shortfall_error(exc) from None
    keys = seal_list(draw, holders)
    result = selection.as_json()
    draw.result_sealed = keys.seal_json("result", result)
    draw.result_commitment = keys.result_commitment(result)
    draw.state, draw.drawn_at = DrawState.DRAWN, now()
    audit.record("draw.revealed", draw, actor=actor, result_commitment=draw.result_commitment,
                 members=len(selection.members), reserves=len(selection.reserves),
                 contributions=len(draw.contributions),
                 sealed_to=[{"user": user.id, "certificate": certificate.serial} for user, certificate in holders],
                 not_sealed_to=[user.id for user in uncertified])
    for slot, pick in enumerate(selection.members):
        confirmations.offer_seat(draw, keys, slot=slot, quota=pick.quota, round=0, expert_code=pick.expert_id,
                                 venue=pick.venue, seat=pick.seat)
    return draw


def recheck_bidders(draw: Draw, *, actor: User, bidders: Sequence[str]) -> int:
    """After the deadline: recuse drawn members who serve a bidder (or are otherwise conflicted now) and replace
    them; reserves and later substitutes are checked as they are promoted. Returns how many were recused."""
    if draw.state not in (DrawState.DRAWN, DrawState.COMPLETED):
        raise RuleViolation("只能复核已抽取、尚未开始评标的名单 (only a drawn list before the evaluation is re-checked)",
                            code="draw_state")
    if draw.bidders_known:
        raise RuleViolation("本次抽取已按投标人名单复核 (already checked against the bidders)", code="already_checked")
    if now() < draw.section.deadline:
        raise RuleViolation("投标截止后方可按投标人复核 (the bidders are known only after the deadline)",
                            code="before_deadline")
    codes = _bidders(bidders) or []
    keys = keys_of(draw)
    held = confirmations.current_assignments(draw)
    members = {keys.expert_of(a): a for a in held.values()}
    settings = DrawSettings.current()
    context = draw_context(draw, codes, settings)
    recent = recent_draw_dates(settings.window_days, context.draw_date, exclude_draw_id=draw.id)
    exclusions = recheck(load_candidates((), context.evaluation_date, recent, codes=list(members)), context,
                         settings.rule_set())
    confirmations.record_exclusions(draw, exclusions, "recheck")
    recused = sorted({x.expert_id for x in exclusions})
    draw.bidders_known, draw.bidder_credit_codes = True, " ".join(codes)
    audit.record("draw.rechecked", draw, actor=actor, bidders=codes, members_recused=len(recused))
    for code in recused:
        reasons = "；".join(x.reason_zh for x in exclusions if x.expert_id == code)
        confirmations.end_assignment(draw, members[code], AssignmentStatus.RECUSED, reason=reasons[:500])
    return len(recused)


def reveal_to_committee(draw: Draw, *, actor: User) -> Draw:
    """评标开始: the committee signs in and sees who sits with whom; agents and tenderees still see counts."""
    DRAW_STATES.check(draw.state, DrawState.COMMITTEE_REVEALED)
    if not draw.bidders_known:
        raise RuleViolation("须先按投标人名单复核回避 (re-check against the bidders first)", code="recheck_missing")
    opens = draw.evaluation_at - timedelta(minutes=DrawSettings.current().sign_in_minutes)
    if now() < opens:
        raise RuleViolation("评标签到开始前不能启封名单 (the list opens at the committee's sign-in)",
                            code="before_sign_in")
    draw.state, draw.committee_revealed_at = DrawState.COMMITTEE_REVEALED, now()
    audit.record("draw.revealed_to_committee", draw, actor=actor)
    return draw


def publish_record(draw: Draw, *, actor: User) -> dict:
    """After the award, publish the record: anyone can then re-run the draw and link the audit log's tags."""
    DRAW_STATES.check(draw.state, DrawState.PUBLISHED)
    if draw.section.state not in AWARDED_SECTION_STATES:
        raise RuleViolation("专家名单在定标后方可公开 (the list stays confidential until the award)",
                            code="before_award")
    record = build_record(draw)
    draw.record_json = json.dumps(record, ensure_ascii=False, sort_keys=True)
    draw.state, draw.published_at = DrawState.PUBLISHED, now()
    audit.record("draw.published", draw, actor=actor, record_sha256=record_digest(record),
                 tag_key=keys_of(draw).tag_key.hex())
    return record


def cancel(draw: Draw, *, actor: User, reason: str) -> Draw:
    DRAW_STATES.check(draw.state, DrawState.CANCELLED)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写取消原因 (give the reason)", field="reason")
    held = confirmations.current_assignments(draw) if draw.is_drawn else {}
    draw.state, draw.cancel_reason = DrawState.CANCELLED, reason[:500]
    audit.record("draw.cancelled", draw, actor=actor, reason=draw.cancel_reason, experts_told=len(held))
    confirmations.tell_cancelled(draw, list(held.values()))
    return draw
