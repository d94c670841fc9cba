"""Evaluation rooms' media: the room, its roster, the recordings and the playback timeline.

The roster is who may join the room's audio and video. The committee of the evaluation (issue 7) fills it:
experts and the chair, the venue staff assigned to it, its supervisors and the host (the agency's staff who
runs the session). Nobody else can connect (远程异地评标: only the committee, the venue staff and the
supervisors take part).
"""
from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import User
from core.db import Base, IdMixin, StateMachine, enum_column, utcnow


class RoomState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


ROOM_STATES = StateMachine("评标室音视频", {RoomState.OPEN: {RoomState.CLOSED}},
                           {RoomState.OPEN: "进行中", RoomState.CLOSED: "已关闭"})


class MemberRole(enum.Enum):
    EXPERT = "expert"
    CHAIR = "chair"                # 评标委员会主任委员
    VENUE_STAFF = "venue_staff"    # 场地工作人员
    SUPERVISOR = "supervisor"      # 监督人员: receive-only
    HOST = "host"                  # 主持人 (the agency's staff who runs the session)


MEMBER_ROLE_LABELS = {MemberRole.EXPERT: "评标专家", MemberRole.CHAIR: "主任委员", MemberRole.VENUE_STAFF: "场地工作人员",
                      MemberRole.SUPERVISOR: "监督人员", MemberRole.HOST: "主持人"}

#: Who may mute, remove and lock (the Jitsi-like moderator rights of the issue).
MODERATORS = {MemberRole.CHAIR, MemberRole.HOST}


class MediaRoom(IdMixin, Base):
    __tablename__ = "media_rooms"

    title: Mapped[str] = mapped_column(sa.String(200))
    section_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sections.id"), index=True)
    state: Mapped[RoomState] = enum_column(RoomState, default=RoomState.OPEN)
    locked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    members: Mapped[list[RoomMember]] = relationship(back_populates="room", order_by="RoomMember.id")

    @property
    def is_open(self) -> bool:
        return self.state is RoomState.OPEN

    def member_for(self, user) -> RoomMember | None:
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return next((m for m in self.members if m.user_id == user.id), None)

    def can_enter(self, user) -> bool:
        """On the roster and not removed; a locked room still lets back those who were already in."""
        member = self.member_for(user)
        if member is None or member.removed_at is not None or not self.is_open:
            return False
        return not self.locked or member.first_joined_at is not None

    def can_review_recordings(self, user) -> bool:
        member = self.member_for(user)
        return member is not None and member.role is MemberRole.SUPERVISOR


class RoomMember(IdMixin, Base):
    __tablename__ = "media_room_members"
    __table_args__ = (sa.UniqueConstraint("room_id", "user_id"),)

    room_id: Mapped[int] = mapped_column(sa.ForeignKey("media_rooms.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    role: Mapped[MemberRole] = enum_column(MemberRole)
    #: The evaluation venue the member sits at (主场/副场 name), as the committee's venue assignment reads.
    venue: Mapped[str | None] = mapped_column(sa.String(200))
    first_joined_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: The tracks the server holds back from the viewers ("audio", "video", comma-separated, sorted): kept here,
    #: not only in the live media, so a force-mute survives a restart of the media server or of its worker.
    muted_tracks: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")

    room: Mapped[MediaRoom] = relationship(back_populates="members")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def role_label(self) -> str:
        return MEMBER_ROLE_LABELS[self.role]

    @property
    def can_publish(self) -> bool:
        """Supervisors watch and never publish (issue 8: they join receive-only)."""
        return self.role is not MemberRole.SUPERVISOR

    @property
    def can_moderate(self) -> bool:
        return self.role in MODERATORS

    @property
    def muted(self) -> list[str]:
        return [kind for kind in self.muted_tracks.split(",") if kind]

    def set_muted(self, kind: str, muted: bool) -> None:
        kinds = set(self.muted) | {kind} if muted else set(self.muted) - {kind}
        self.muted_tracks = ",".join(sorted(kinds))

    def as_json(self) -> dict:
        return {"user_id": self.user_id, "name": self.user.display_name, "role": self.role.value,
                "role_label": self.role_label, "venue": self.venue or "", "removed": self.removed_at is not None}


class RecordingState(enum.Enum):
    RECORDING = "recording"
    SEALED = "sealed"      # closed, hashed, its SHA-256 in the audit chain


class Recording(IdMixin, Base):
    """One file per participant per stream: the encoded packets the room received, muxed to WebM as they are."""

    __tablename__ = "media_recordings"

    room_id: Mapped[int] = mapped_column(sa.ForeignKey("media_rooms.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    stream_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    stream_kind: Mapped[str] = mapped_column(sa.String(16))
    #: Path relative to the storage folder.
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    state: Mapped[RecordingState] = enum_column(RecordingState, default=RecordingState.RECORDING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    video_frames: Mapped[int | None]
    audio_packets: Mapped[int | None]

    user: Mapped[User] = relationship()

    def path(self, storage_dir: str | Path) -> Path:
        return Path(storage_dir) / self.key


class TimelineKind(enum.Enum):
    JOIN = "join"
    LEAVE = "leave"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    LOCK = "lock"
    UNLOCK = "unlock"
    STAGE = "stage"        # appended by the evaluation (issue 7) when its stage changes
    CLOSE = "close"


TIMELINE_LABELS = {TimelineKind.JOIN: "进入", TimelineKind.LEAVE: "离开", TimelineKind.PUBLISH: "开始发布",
                   TimelineKind.UNPUBLISH: "停止发布", TimelineKind.MUTE: "静音", TimelineKind.UNMUTE: "取消静音",
                   TimelineKind.REMOVE: "移出", TimelineKind.LOCK: "锁定房间", TimelineKind.UNLOCK: "解锁房间",
                   TimelineKind.STAGE: "评标阶段", TimelineKind.CLOSE: "关闭房间"}


class TimelineEvent(IdMixin, Base):
    """What happened in the room and when, to play the recordings back against."""

    __tablename__ = "media_timeline"

    room_id: Mapped[int] = mapped_column(sa.ForeignKey("media_rooms.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[TimelineKind] = enum_column(TimelineKind)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(sa.String(300), default="")
    data: Mapped[str] = mapped_column(sa.Text, default="{}")

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])

    @property
    def kind_label(self) -> str:
        return TIMELINE_LABELS[self.kind]

    @property
    def details(self) -> dict:
        return json.loads(self.data or "{}")
