"""Notices to drawn experts, their confirmation or decline, time-outs, and replacements (补抽).

Each drawn member is offered a seat: an assignment they see in the platform (without the project's name, which
they learn at sign-in, against lobbying) and a message through the outbound hook. A decline, a time-out or a
recusal found later ends the assignment, and the seat is filled by ``crypto.draw.apply_replacements`` over the
same eligible list and seed, so the replacement is as checkable as the draw (实施条例第46条: a replacement is
drawn the same way). Every step is audited with the expert's opaque tag, never the name. These automated steps
open the sealed list with the evaluation service's key (evaluation.draw_sealing.keys_of); ``committee_of``
serves pages only once the evaluation has started (Draw.can_see_names).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from core import audit
from core.accounts import User
from core.clock import format_local, now
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationError
from core.notifications import notify
from crypto.draw import DrawShortfall, apply_replacements
from evaluation import outbound
from evaluation.draw_models import (
    ASSIGNMENT_STATES,
    DRAW_STATES,
    REPLACEMENT_REASONS,
    AssignmentStatus,
    Draw,
    DrawAssignment,
    DrawExclusion,
    DrawReplacement,
    DrawState,
)
from evaluation.draw_pool import (
    DrawSettings,
    draw_context,
    load_candidates,
    recent_draw_dates,
    split_codes,
)
from evaluation.draw_records import (
    eligible_entries,
    replacements_of,
    seed_of,
    selection_of,
)
from evaluation.draw_sealing import ListKeys, keys_of
from evaluation.expert_identity import open_mobile
from evaluation.experts import Expert
from evaluation.recusal import recheck
from evaluation.specialties import specialty_name


def _venue_name(draw: Draw, venue_code: str | None) -> str:
    for dv in draw.venues:
        if dv.venue.code == venue_code:
            return dv.venue.name
    return draw.main_venue.name if draw.main_venue else ""


def offer_seat(draw: Draw, keys: ListKeys, *, slot: int, quota: int, round: int, expert_code: str,
               venue: str | None, seat: int | None, notify_expert: bool = True) -> DrawAssignment:
    respond_by = now() + timedelta(minutes=draw.confirmation_minutes)
    assignment = DrawAssignment(slot=slot, quota=quota, round=round, venue_code=venue, seat=seat,
                                expert_tag=keys.expert_tag(expert_code),
                                expert_sealed=keys.seal_expert(slot, round, expert_code), respond_by=respond_by)
    draw.assignments.append(assignment)
    db.session.flush()
    audit.record("draw.expert_notified", draw, assignment_id=assignment.id, slot=slot, round=round,
                 expert_tag=assignment.expert_tag, respond_by=respond_by.isoformat())
    if notify_expert:
        expert = db.session.scalar(sa.select(Expert).where(Expert.code == expert_code))
        specialty = specialty_name(draw.quotas[quota].specialty)
        where = _venue_name(draw, venue) + (f"第{seat}号席位" if seat else "")
        outbound.queue(outbound.OutboundMessage(
            recipient=expert_code, mobile=open_mobile(expert.mobile_sealed) if expert else None,
            text=f"【bidhall】{expert.name if expert else ''}专家：您已被随机抽取为评标专家（{specialty}）。"
                 f"评标时间：{format_local(draw.evaluation_at, '%Y-%m-%d %H:%M')}；地点：{where}。"
                 f"请于{format_local(respond_by, '%m-%d %H:%M')}前登录平台确认是否参加，逾期视为不参加。"))
    return assignment


def current_assignments(draw: Draw) -> dict[int, DrawAssignment]:
    """Slot → the assignment now holding it (the latest one still notified or confirmed)."""
    held: dict[int, DrawAssignment] = {}
    for assignment in sorted(draw.assignments, key=lambda a: a.id):
        if assignment.is_current:
            held[assignment.slot] = assignment
    return held


def _update_completion(draw: Draw) -> None:
    held = current_assignments(draw)
    complete = len(held) == draw.experts_requested and all(
        a.status is AssignmentStatus.CONFIRMED for a in held.values())
    if complete and draw.state is DrawState.DRAWN:
        DRAW_STATES.check(draw.state, DrawState.COMPLETED)
        draw.state, draw.completed_at = DrawState.COMPLETED, now()
        audit.record("draw.completed", draw, members=len(held))
    elif not complete and draw.state is DrawState.COMPLETED:
        DRAW_STATES.check(draw.state, DrawState.DRAWN)
        draw.state = DrawState.DRAWN
        audit.record("draw.reopened", draw, members_confirmed=sum(
            a.status is AssignmentStatus.CONFIRMED for a in held.values()))


def substitute_conflicts(draw: Draw, expert_code: str) -> tuple:
    """Recusal re-run for one substitute: the eligible list was fixed at the commit, but the bidders may have
    become known since (recheck_bidders), or the expert suspended; such a substitute is recused at once."""
    settings = DrawSettings.current()
    context = draw_context(draw, split_codes(draw.bidder_credit_codes), settings)
    recent = recent_draw_dates(settings.window_days, context.draw_date, exclude_draw_id=draw.id)
    return recheck(load_candidates((), context.evaluation_date, recent, codes=[expert_code]), context,
                   settings.rule_set())


def record_exclusions(draw: Draw, exclusions, stage: str) -> None:
    rows = [{"draw_id": draw.id, "expert_code": x.expert_id, "rule": x.rule, "reason_zh": x.reason_zh[:300],
             "reason_en": x.reason_en[:300], "stage": stage} for x in exclusions]
    if rows:
        db.session.execute(sa.insert(DrawExclusion), rows)


def end_assignment(draw: Draw, assignment: DrawAssignment, status: AssignmentStatus, *,
                   reason: str | None = None, at: datetime | None = None) -> DrawAssignment | None:
    """End a seat (declined, timed out, recused) and draw its replacement; returns the new assignment, or None
    when the pool is exhausted (the draw then needs a new request: the agent and supervisors are told)."""
    ASSIGNMENT_STATES.check(assignment.status, status)
    assignment.status, assignment.responded_at, assignment.decline_reason = status, at or now(), reason
    audit.record(f"draw.expert_{status.value}", draw, assignment_id=assignment.id, slot=assignment.slot,
                 expert_tag=assignment.expert_tag, reason=reason)
    return _replace(draw, keys_of(draw), assignment)


def _replace(draw: Draw, keys: ListKeys, assignment: DrawAssignment) -> DrawAssignment | None:
    reason = REPLACEMENT_REASONS[assignment.status]
    events = [(r.replaces, r.reason) for r in replacements_of(draw, keys)]
    events.append((keys.expert_of(assignment), reason))
    try:
        replacements, _ = apply_replacements(seed_of(draw), draw.request, eligible_entries(draw),
                                             selection_of(draw, keys), events)
    except DrawShortfall as exc:
        audit.record("draw.replacement_impossible", draw, slot=assignment.slot, reason=reason, detail=str(exc))
        _tell_conductors(draw, f"专家抽取无法补抽：{draw.section.name}",
                         f"可抽专家已用尽，第{assignment.slot + 1}席空缺 ({exc})。请取消本次抽取并扩大条件重新申请。")
        _update_completion(draw)
        return None
    event = replacements[-1]
    conflicts = substitute_conflicts(draw, event.substitute)
    substitute = offer_seat(draw, keys, slot=assignment.slot, quota=assignment.quota, round=len(events),
                            expert_code=event.substitute, venue=assignment.venue_code, seat=assignment.seat,
                            notify_expert=not conflicts)
    draw.replacements.append(DrawReplacement(round=len(events), reason=reason, replaced_id=assignment.id,
                                             substitute_id=substitute.id, from_reserve=event.from_reserve))
    db.session.flush()
    audit.record("draw.replacement_drawn", draw, round=len(events), reason=reason, from_reserve=event.from_reserve,
                 replaced_tag=assignment.expert_tag, substitute_tag=substitute.expert_tag)
    if conflicts:
        # The substitute takes the seat only to be recused at once, so the record's chain of events stays whole.
        record_exclusions(draw, conflicts, "replacement")
        return end_assignment(draw, substitute, AssignmentStatus.RECUSED,
                              reason="；".join(x.reason_zh for x in conflicts)[:500])
    _update_completion(draw)
    return substitute


def _tell_conductors(draw: Draw, title: str, body: str) -> None:
    from core.accounts import Role

    agents = db.session.scalars(sa.select(User.id).where(User.organisation_id == draw.section.project.agency_id,
                                                         User.role == Role.AGENT)).all()
    supervisors = db.session.scalars(sa.select(User.id).where(User.role == Role.SUPERVISOR)).all()
    notify([*agents, *supervisors], title, body, link=f"/draws/{draw.id}")


def expert_of_user(user: User) -> Expert | None:
    """The profile linked to an expert's account; None until an administrator links one."""
    return db.session.scalar(sa.select(Expert).where(Expert.user_id == user.id))


def owns(assignment: DrawAssignment, expert: Expert) -> bool:
    return assignment.expert_tag == keys_of(assignment.draw).expert_tag(expert.code)


def respond(assignment: DrawAssignment, expert: Expert, *, accept: bool, reason: str | None = None) -> str:
    """The expert's answer. Returns "confirmed", "declined", or "timed_out" when the answer came too late
    (the time-out and its replacement are then recorded, and the caller commits them and tells the expert)."""
    draw = assignment.draw
    if not owns(assignment, expert):
        raise Forbidden("这不是您的评标邀请 (this invitation is not yours)")
    if draw.state not in (DrawState.DRAWN, DrawState.COMPLETED):
        raise RuleViolation(f"本次抽取当前为“{draw.state_label}”，不能再答复 (the draw no longer takes answers)",
                            code="draw_closed")
    if assignment.status is AssignmentStatus.NOTIFIED and now() > assignment.respond_by:
        end_assignment(draw, assignment, AssignmentStatus.TIMED_OUT, at=assignment.respond_by)
        return "timed_out"
    if accept:
        ASSIGNMENT_STATES.check(assignment.status, AssignmentStatus.CONFIRMED)
        assignment.status, assignment.responded_at = AssignmentStatus.CONFIRMED, now()
        audit.record("draw.expert_confirmed", draw, assignment_id=assignment.id, slot=assignment.slot,
                     expert_tag=assignment.expert_tag)
        _update_completion(draw)
        return "confirmed"
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请说明不能参加的原因 (give the reason for declining)", field="reason")
    end_assignment(draw, assignment, AssignmentStatus.DECLINED, reason=reason[:500])
    return "declined"


def expire_overdue(draw: Draw, at: datetime | None = None) -> int:
    """Time out every unanswered notice past its deadline and draw the replacements; returns how many."""
    moment = at or now()
    if draw.state not in (DrawState.DRAWN, DrawState.COMPLETED):
        return 0
    overdue = [a for a in current_assignments(draw).values()
               if a.status is AssignmentStatus.NOTIFIED and a.respond_by < moment]
    for assignment in overdue:
        end_assignment(draw, assignment, AssignmentStatus.TIMED_OUT, at=assignment.respond_by)
    return len(overdue)


def tell_cancelled(draw: Draw, assignments: list[DrawAssignment]) -> None:
    """Experts holding a seat of a cancelled draw hear it through the same channel as the notice."""
    keys = keys_of(draw)
    for assignment in assignments:
        code = keys.expert_of(assignment)
        expert = db.session.scalar(sa.select(Expert).where(Expert.code == code))
        outbound.queue(outbound.OutboundMessage(
            recipient=code, mobile=open_mobile(expert.mobile_sealed) if expert else None, purpose="draw_cancelled",
            text=f"【bidhall】原定于{format_local(draw.evaluation_at, '%Y-%m-%d %H:%M')}的评标安排已取消，无需前往。"))


def assignments_of(expert: Expert, *, states=None) -> list[DrawAssignment]:
    """The seats this expert was offered, newest first, found by recomputing their tag in each draw."""
    query = sa.select(Draw).where(Draw.drawn_at.is_not(None)).options(selectinload(Draw.list_keys))
    if states is not None:
        query = query.where(Draw.state.in_(list(states)))
    draws = db.session.scalars(query).all()
    tags = {keys_of(draw).expert_tag(expert.code): draw.id for draw in draws}
    found: list[DrawAssignment] = []
    items = list(tags)
    for start in range(0, len(items), 500):
        found += db.session.scalars(sa.select(DrawAssignment).where(
            DrawAssignment.expert_tag.in_(items[start:start + 500]))).all()
    return sorted((a for a in found if tags.get(a.expert_tag) == a.draw_id), key=lambda a: a.id, reverse=True)


def committee_of(draw: Draw) -> list[tuple[DrawAssignment, Expert | None]]:
    """The current members with their profiles, by slot, opened by the evaluation service: for the committee's
    sign-in and, from the evaluation's start, for pages (callers check Draw.can_see_names first)."""
    keys = keys_of(draw)
    rows = []
    for _slot, assignment in sorted(current_assignments(draw).items()):
        code = keys.expert_of(assignment)
        rows.append((assignment, db.session.scalar(sa.select(Expert).where(Expert.code == code))))
    return rows


def assignment_expert_code(assignment: DrawAssignment) -> str:
    return keys_of(assignment.draw).expert_of(assignment)


def draw_counts(draw: Draw) -> dict[str, int]:
    """What agents and tenderees may know about the drawn list: numbers only."""
    held = current_assignments(draw) if draw.is_drawn else {}
    statuses = [a.status for a in draw.assignments]
    return {"requested": draw.experts_requested, "reserves": draw.reserves_requested,
            "confirmed": sum(a.status is AssignmentStatus.CONFIRMED for a in held.values()),
            "pending": sum(a.status is AssignmentStatus.NOTIFIED for a in held.values()),
            "vacant": draw.experts_requested - len(held) if draw.is_drawn else 0,
            "declined": statuses.count(AssignmentStatus.DECLINED), "timed_out": statuses.count(AssignmentStatus.TIMED_OUT),
            "recused": statuses.count(AssignmentStatus.RECUSED), "replacements": len(draw.replacements)}
