"""Pages of the evaluation room's media: the live room, and the supervisors' playback with its timeline.

Registering this blueprint also starts the media service (settings, the bridge to the media loop), binds
the Socket.IO handlers of ``events`` and adds ``flask media verify-recordings``.
"""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Blueprint, abort, render_template, send_file
from flask_login import current_user

from core import audit
from core.db import db
from core.permissions import signed_in, supervisors_only
from evaluation.media import (
    events,  # noqa: F401  (binds the Socket.IO handlers)
    service,
)
from evaluation.media.models import MediaRoom, Recording, RecordingState, TimelineEvent
from evaluation.media.verify import verify_recordings

bp = Blueprint("media", __name__, cli_group="media")

ROUTES = [
    ("/media/rooms/<int:room_id>", "room", ["GET"]),
    ("/media/rooms/<int:room_id>/recordings", "recordings", ["GET"]),
    ("/media/recordings/<int:recording_id>/file", "recording_file", ["GET"]),
]


@bp.record_once
def _start(state) -> None:
    service.init_app(state.app)


def get_room(room_id: int, *, review: bool = False) -> MediaRoom:
    room = db.session.get(MediaRoom, room_id)
    if room is None or room.member_for(current_user) is None:
        abort(404)
    if review and not room.can_review_recordings(current_user):
        abort(403)
    return room


@signed_in
def room(room_id: int):
    item = get_room(room_id)
    member = item.member_for(current_user)
    if not item.can_enter(current_user):
        abort(403)
    settings = service.media_service().settings
    return render_template("evaluation/media_room.html", room=item, member=member,
                           ice_servers=list(settings.ice_servers), namespace=service.NAMESPACE)


@supervisors_only
def recordings(room_id: int):
    item = get_room(room_id, review=True)
    files = db.session.scalars(sa.select(Recording).where(Recording.room_id == item.id,
                                                          Recording.state == RecordingState.SEALED)
                               .order_by(Recording.started_at)).all()
    timeline = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.room_id == item.id)
                                  .order_by(TimelineEvent.at, TimelineEvent.id)).all()
    audit.record("media.recordings_reviewed", item, recordings=len(files))
    db.session.commit()
    origin = min([f.started_at for f in files] + [e.at for e in timeline], default=None)
    return render_template("evaluation/media_playback.html", room=item, files=files, timeline=timeline,
                           origin=origin)


@supervisors_only
def recording_file(recording_id: int):
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.state is not RecordingState.SEALED:
        abort(404)
    get_room(recording.room_id, review=True)
    return send_file(recording.path(service.media_service().storage_dir), mimetype="video/webm", conditional=True,
                     download_name=f"room{recording.room_id}-user{recording.user_id}-{recording.stream_kind}.webm")


@bp.cli.command("verify-recordings")
@click.option("--room", "room_id", type=int, default=None, help="Only this room's recordings.")
def verify_recordings_command(room_id: int | None) -> None:
    """Re-hash every sealed recording and compare it with the SHA-256 in the audit chain; exit 1 on a mismatch."""
    report = verify_recordings(room_id)
    for problem in report.problems:
        click.echo(problem, err=True)
    if not report.ok:
        click.echo(f"recordings BROKEN: {len(report.problems)} problem(s) in {report.checked} recording(s)", err=True)
        sys.exit(1)
    click.echo(f"recordings OK: {report.checked} recording(s) match the audit chain")


@bp.cli.command("worker")
@click.option("--rooms", type=int, default=1, show_default=True,
              help="How many rooms this process serves at once (1: a process per room).")
def worker_command(rooms: int) -> None:
    """Serve rooms' audio and video in this process, for web processes run with BIDHALL_MEDIA_WORKERS=redis."""
    from flask import current_app

    from evaluation.media.workers import MediaWorker

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("a media worker is reached through Redis: set REDIS_URL")
    MediaWorker(current_app._get_current_object(), url, max_rooms=rooms).run()


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
