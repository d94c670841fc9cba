"""The evaluation's side of its audio/video room (evaluation.media): the roster, the chair, the stages.

The committee fills the media room's roster as it is seated: a member joins it once signed in with no conflict
declared, at the venue of the seat; the draw's supervisory authority watches (receive-only). The elected chair
becomes the room's moderator. Every stage change goes onto the room's timeline, which supervisors play the
recordings back against. When the committee has signed the report, the room closes.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from core import audit
from core.accounts import Role, User
from core.db import db
from evaluation.draw_models import Draw
from evaluation.evaluation_models import CommitteeMember, Evaluation
from evaluation.media import operations as media_ops
from evaluation.media.models import MediaRoom, MemberRole, RoomState, TimelineKind

log = logging.getLogger(__name__)


def room_of(evaluation: Evaluation) -> MediaRoom | None:
    return db.session.get(MediaRoom, evaluation.media_room_id) if evaluation.media_room_id else None


def create(evaluation: Evaluation, draw: Draw) -> MediaRoom:
    room = media_ops.create_room(title=f"{evaluation.section.name} 评标室", section=evaluation.section)
    evaluation.media_room_id = room.id
    if draw.supervisor_org_id is not None:
        supervisors = db.session.scalars(sa.select(User).where(User.organisation_id == draw.supervisor_org_id,
                                                               User.role == Role.SUPERVISOR, User.active)).all()
        main = draw.main_venue.name if draw.main_venue else None
        for user in supervisors:
            media_ops.add_member(room, user, MemberRole.SUPERVISOR, venue=main)
    return room


def seat(evaluation: Evaluation, member: CommitteeMember) -> None:
    room = room_of(evaluation)
    if room is not None and room.member_for(member.user) is None:
        media_ops.add_member(room, member.user, MemberRole.EXPERT, venue=member.venue_name or None)


def make_chair(evaluation: Evaluation, member: CommitteeMember) -> None:
    room = room_of(evaluation)
    seat_ = room.member_for(member.user) if room is not None else None
    if seat_ is not None and seat_.role is not MemberRole.CHAIR:
        seat_.role = MemberRole.CHAIR
        audit.record("media.member_role_changed", room, user_id=member.user_id, role=MemberRole.CHAIR.value)


def stage(evaluation: Evaluation, label: str) -> None:
    room = room_of(evaluation)
    if room is not None and room.is_open:
        media_ops.append_timeline(room, TimelineKind.STAGE, label=label, state=evaluation.state.value,
                                  stage_index=evaluation.stage_index)


def close(evaluation: Evaluation) -> None:
    room = room_of(evaluation)
    if room is not None and room.state is RoomState.OPEN:
        media_ops.close_room(room)


def stop_live_media(room_id: int | None) -> None:
    """After the commit that closed the room: disconnect whoever is still connected (best effort)."""
    if room_id is None:
        return
    from evaluation.media.service import media_service

    try:
        service = media_service()
        if service.presence.sids_of(room_id) or room_id in service.rooms:
            service.shutdown_room(room_id)
    except Exception:  # the media loop may be down; the room is closed in the database either way
        log.exception("media: closing the live room %s failed", room_id)
