"""Every state change of the media rooms: roster, presence, moderation, recordings, the timeline.

Each operation checks, mutates, appends to the audit chain (and to the room's timeline, which is what the
supervisors play the recordings back against) and leaves the commit to its caller.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from core import audit
from core.accounts import Role, User
from core.db import db, utcnow
from core.errors import Forbidden, NotFound, RuleViolation, ValidationError
from evaluation.media.models import (
    ROOM_STATES,
    MediaRoom,
    MemberRole,
    Recording,
    RecordingState,
    RoomMember,
    RoomState,
    TimelineEvent,
    TimelineKind,
)
from evaluation.media.recording import probe_interrupted

TRACK_KINDS = ("audio", "video")
#: The account roles that may hold each roster role: a supervisor's seat needs a supervisor's account (with
#: its second factor); the tenderee's representative may sit on the committee (招标人代表); bidders never enter.
ROLE_ACCOUNTS = {MemberRole.EXPERT: {Role.EXPERT, Role.TENDEREE}, MemberRole.CHAIR: {Role.EXPERT, Role.TENDEREE},
                 MemberRole.SUPERVISOR: {Role.SUPERVISOR}, MemberRole.VENUE_STAFF: {Role.AGENT, Role.ADMIN},
                 MemberRole.HOST: {Role.AGENT, Role.TENDEREE, Role.ADMIN}}


def create_room(*, title: str, section=None, actor: User | None = None) -> MediaRoom:
    title = (title or "").strip()
    if not title:
        raise ValidationError("请填写房间名称 (room title required)", field="title")
    room = MediaRoom(title=title[:200], section_id=getattr(section, "id", None))
    db.session.add(room)
    db.session.flush()
    audit.record("media.room_created", room, actor=actor, title=room.title, section_id=room.section_id)
    return room


def add_member(room: MediaRoom, user: User, role: MemberRole | str, *, venue: str | None = None,
               actor: User | None = None) -> RoomMember:
    try:
        role = MemberRole(role)
    except ValueError:
        raise ValidationError(f"角色无效：{role} (unknown roster role)", field="role") from None
    if user.role not in ROLE_ACCOUNTS[role]:
        raise ValidationError(f"{user.display_name} 的账户角色不能担任该席位 (a {user.role.value} account cannot "
                              f"sit as {role.value})", field="role")
    if room.member_for(user) is not None:
        raise ValidationError(f"{user.display_name} 已在名单中 (already on the roster)", field="user_id")
    member = RoomMember(room=room, user=user, role=role, venue=(venue or "").strip()[:200] or None)
    db.session.add(member)
    db.session.flush()
    audit.record("media.member_added", room, actor=actor, user_id=user.id, role=role.value, venue=member.venue)
    return member


def append_timeline(room: MediaRoom | int, kind: TimelineKind | str, *, user: User | int | None = None,
                    actor: User | int | None = None, label: str = "", at: datetime | None = None,
                    **data) -> TimelineEvent:
    """Other code appends its own events here too: the evaluation adds its stage changes as ``"stage"``."""
    event = TimelineEvent(room_id=_id(room), kind=TimelineKind(kind), user_id=_id(user), actor_id=_id(actor),
                          label=label[:300], data=json.dumps(data, ensure_ascii=False, default=str),
                          at=at or utcnow())
    db.session.add(event)
    return event


def record_join(room: MediaRoom, member: RoomMember) -> None:
    if member.first_joined_at is None:
        member.first_joined_at = utcnow()
    append_timeline(room, TimelineKind.JOIN, user=member.user_id)
    audit.record("media.joined", room, actor=member.user, user_id=member.user_id, role=member.role.value)


def record_leave(room: MediaRoom, member: RoomMember, reason: str) -> None:
    append_timeline(room, TimelineKind.LEAVE, user=member.user_id, reason=reason)
    audit.record("media.left", room, actor=member.user, user_id=member.user_id, reason=reason)


def refuse(room_id: int | None, user: User | None, code: str, message: str) -> None:
    """Refusals that matter to an audit (a join from off the roster, a publish from a supervisor)."""
    audit.record("media.refused", object_type="media_rooms", object_id=room_id, actor=user, code=code,
                 reason=message)


def mute(room: MediaRoom, actor: RoomMember, target: RoomMember, kind: str) -> None:
    """Anyone may mute themselves; only the chair and the host may mute someone else (force-mute)."""
    _check_kind(kind)
    if actor.id != target.id and not actor.can_moderate:
        raise Forbidden("只有主任委员和主持人可以静音他人 (only the chair and the host can mute others)",
                        code="not_moderator")
    forced = actor.id != target.id
    target.set_muted(kind, True)
    append_timeline(room, TimelineKind.MUTE, user=target.user_id, actor=actor.user_id, track=kind, forced=forced)
    audit.record("media.force_muted" if forced else "media.muted", room, actor=actor.user, user_id=target.user_id,
                 kind=kind)


def unmute(room: MediaRoom, actor: RoomMember, target: RoomMember, kind: str) -> None:
    """Force-unmute is not allowed: only the participant turns their own microphone or camera back on."""
    _check_kind(kind)
    if actor.id != target.id:
        raise RuleViolation("不允许强制取消他人静音，只能由本人取消 (force-unmute is not allowed: only the "
                            "participant can unmute themselves)", code="force_unmute_refused")
    target.set_muted(kind, False)
    append_timeline(room, TimelineKind.UNMUTE, user=target.user_id, actor=actor.user_id, track=kind)
    audit.record("media.unmuted", room, actor=actor.user, user_id=target.user_id, kind=kind)


def remove_member(room: MediaRoom, actor: RoomMember, target: RoomMember, reason: str = "") -> None:
    if not actor.can_moderate:
        raise Forbidden("只有主任委员和主持人可以移出参会人 (only the chair and the host can remove)",
                        code="not_moderator")
    if target.id == actor.id:
        raise ValidationError("不能移出自己 (you cannot remove yourself)", field="user_id")
    if target.role is MemberRole.SUPERVISOR:
        raise RuleViolation("监督人员不能被移出 (supervisors cannot be removed from the room)", code="supervisor_stays")
    if target.removed_at is not None:
        raise ValidationError("该参会人已被移出 (already removed)", field="user_id")
    target.removed_at, target.removed_by_id = utcnow(), actor.user_id
    reason = (reason or "").strip()[:200]
    append_timeline(room, TimelineKind.REMOVE, user=target.user_id, actor=actor.user_id, reason=reason)
    audit.record("media.member_removed", room, actor=actor.user, user_id=target.user_id, reason=reason)


def set_locked(room: MediaRoom, actor: RoomMember, locked: bool) -> None:
    if not actor.can_moderate:
        raise Forbidden("只有主任委员和主持人可以锁定房间 (only the chair and the host can lock the room)",
                        code="not_moderator")
    if room.locked == locked:
        return
    room.locked = locked
    append_timeline(room, TimelineKind.LOCK if locked else TimelineKind.UNLOCK, actor=actor.user_id)
    audit.record("media.room_locked" if locked else "media.room_unlocked", room, actor=actor.user)


def close_room(room: MediaRoom, actor: User | None = None) -> None:
    """The evaluation ends: nobody joins any more (stop the live media with ``service.shutdown_room``)."""
    ROOM_STATES.check(room.state, RoomState.CLOSED)
    room.state, room.closed_at = RoomState.CLOSED, utcnow()
    append_timeline(room, TimelineKind.CLOSE, actor=actor)
    audit.record("media.room_closed", room, actor=actor)


def start_recording(room_id: int, info: dict, key: str) -> Recording:
    recording = Recording(room_id=room_id, user_id=info["user_id"], stream_id=info["stream_id"],
                          stream_kind=info["kind"], key=key)
    db.session.add(recording)
    append_timeline(room_id, TimelineKind.PUBLISH, user=info["user_id"], stream_id=info["stream_id"],
                    stream_kind=info["kind"])
    db.session.flush()
    audit.record("media.recording_started", recording, room_id=room_id, user_id=info["user_id"],
                 stream_kind=info["kind"], key=key)
    return recording


def seal_recording(stream_id: str, *, sha256: str, size: int, duration_ms: int, video_frames: int,
                   audio_packets: int, interrupted: bool = False) -> Recording:
    """The file is closed: its SHA-256 goes into the audit chain, which verification checks it against."""
    recording = db.session.scalar(sa.select(Recording).where(Recording.stream_id == stream_id))
    if recording is None:
        raise NotFound(f"没有录像 {stream_id} (no such recording)", code="recording_gone")
    if recording.state is RecordingState.SEALED:
        raise RuleViolation("录像已封存 (the recording is already sealed)", code="recording_sealed")
    recording.state, recording.ended_at = RecordingState.SEALED, utcnow()
    recording.sha256, recording.size, recording.duration_ms = sha256, size, duration_ms
    recording.video_frames, recording.audio_packets = video_frames, audio_packets
    append_timeline(recording.room_id, TimelineKind.UNPUBLISH, user=recording.user_id, stream_id=stream_id,
                    stream_kind=recording.stream_kind)
    audit.record("media.recording_sealed", recording, room_id=recording.room_id, user_id=recording.user_id,
                 key=recording.key, sha256=sha256, size=size, duration_ms=duration_ms, interrupted=interrupted)
    return recording


def seal_interrupted(room_id: int, storage_dir: str | Path, *, live: set[str] = frozenset()) -> int:
    """Seal the files a dead media process left open: called when a room's live media starts in a process, so
    no stream of the room is live anywhere but ``live`` (streams of this process still closing), and every
    other file still marked recording was cut off. What the file
    holds is hashed into the audit chain as it is, marked interrupted; a missing file is left for
    verification to name. Returns how many were sealed."""
    orphans = db.session.scalars(sa.select(Recording).where(Recording.room_id == room_id,
                                                            Recording.state == RecordingState.RECORDING)).all()
    sealed = 0
    for recording in (r for r in orphans if r.stream_id not in live):
        path = recording.path(storage_dir)
        if not path.exists():
            continue
        found = probe_interrupted(path)
        seal_recording(recording.stream_id, sha256=found.sha256, size=found.size, duration_ms=found.duration_ms,
                       video_frames=found.video_frames, audio_packets=found.audio_packets, interrupted=True)
        sealed += 1
    return sealed


def get_room(room_id: int) -> MediaRoom:
    room = db.session.get(MediaRoom, room_id)
    if room is None:
        raise NotFound("没有这个评标室 (no such room)", code="room_not_found")
    return room


def _check_kind(kind: str) -> None:
    if kind not in TRACK_KINDS:
        raise ValidationError("类型应为 audio 或 video (kind: audio or video)", field="kind")


def _id(value) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return value.id
