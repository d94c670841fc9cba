"""Two experts see and hear each other through the real Socket.IO signalling; a supervisor watches both."""
from __future__ import annotations

import asyncio
from pathlib import Path

import av

from evaluation.media.client import MovingBarTrack, Participant, ToneTrack
from tests.media.conftest import run, sealed_recordings, sign_in, until


def test_two_experts_and_a_receive_only_supervisor(room_world, live_server, release):
    room_id, seats = room_world
    release()
    cookies = {name: sign_in(live_server, seats[name]) for name in ("chair", "expert", "supervisor")}

    async def scenario():
        chair = Participant(live_server, cookies["chair"], room_id)
        expert = Participant(live_server, cookies["expert"], room_id)
        supervisor = Participant(live_server, cookies["supervisor"], room_id)
        try:
            await chair.join()
            await chair.publish(ToneTrack(), MovingBarTrack(320, 240))
            await expert.join()
            await expert.publish(ToneTrack(), MovingBarTrack(640, 360))
            await supervisor.join()
            chair_id, expert_id = seats["chair"].user_id, seats["expert"].user_id
            await until(lambda: all(p.received[o]["video"] >= 10 and p.received[o]["audio"] >= 20
                                    for p, o in ((chair, expert_id), (expert, chair_id),
                                                 (supervisor, chair_id), (supervisor, expert_id))), timeout=20)
            return chair, expert, supervisor
        finally:
            for p in (chair, expert, supervisor):
                await p.leave()

    _chair, expert, supervisor = run(scenario())
    # every viewer gets the server's one encode, at the one fixed size, whatever the publisher sent
    assert supervisor.video_sizes[seats["chair"].user_id] == {(640, 360)}
    assert expert.video_sizes[seats["chair"].user_id] == {(640, 360)}


def test_a_force_mute_is_enforced_by_the_server(room_world, live_server, release):
    room_id, seats = room_world
    release()
    cookies = {name: sign_in(live_server, seats[name]) for name in ("chair", "expert", "supervisor")}
    expert_id = seats["expert"].user_id

    async def scenario():
        chair = Participant(live_server, cookies["chair"], room_id, subscribe=False)
        expert = Participant(live_server, cookies["expert"], room_id)
        supervisor = Participant(live_server, cookies["supervisor"], room_id)
        try:
            await chair.join()
            await expert.join()
            await expert.publish(ToneTrack(), MovingBarTrack())
            await supervisor.join()
            heard = supervisor.received[expert_id]
            await until(lambda: heard["audio"] >= 10 and heard["video"] >= 5)
            await chair.request("mute", {"user_id": expert_id, "kind": "audio"})
            await asyncio.sleep(0.3)  # packets already on the wire still arrive
            audio, video = heard["audio"], heard["video"]
            await asyncio.sleep(1.0)
            muted = heard["audio"] - audio, heard["video"] - video
            await expert.request("unmute", {"kind": "audio"})
            await until(lambda: heard["audio"] >= audio + 10)
            return muted
        finally:
            for p in (chair, expert, supervisor):
                await p.leave()

    audio_while_muted, video_while_muted = run(scenario())
    assert audio_while_muted == 0
    assert video_while_muted >= 5  # only the microphone was muted


def test_a_dropped_participant_reconnects_and_the_room_goes_on(app, room_world, live_server, release):
    room_id, seats = room_world
    release()
    cookies = {name: sign_in(live_server, seats[name]) for name in ("chair", "expert", "supervisor")}
    chair_id, expert_id = seats["chair"].user_id, seats["expert"].user_id

    async def scenario():
        chair = Participant(live_server, cookies["chair"], room_id)
        expert = Participant(live_server, cookies["expert"], room_id)
        supervisor = Participant(live_server, cookies["supervisor"], room_id)
        again = Participant(live_server, cookies["expert"], room_id)
        try:
            await chair.join()
            await chair.publish(ToneTrack(), MovingBarTrack())
            await expert.join()
            first = await expert.publish(ToneTrack(), MovingBarTrack())
            await supervisor.join()
            await until(lambda: supervisor.received[expert_id]["video"] >= 5
                        and supervisor.received[chair_id]["video"] >= 5)
            await expert.sio.eio.disconnect(abort=True)  # the network drops: its peer connections stay up
            await until(lambda: ("stream_removed", {"stream_id": first, "user_id": expert_id, "kind": "camera",
                                                    "tracks": ["audio", "video"]}) in supervisor.events)
            chair_frames = supervisor.received[chair_id]["video"]
            await until(lambda: supervisor.received[chair_id]["video"] >= chair_frames + 5)  # the room goes on
            await again.join()  # a new connection, new peer connections: the streams come back
            await again.publish(ToneTrack(), MovingBarTrack())
            before = supervisor.received[expert_id]["video"]
            await until(lambda: supervisor.received[expert_id]["video"] >= before + 5
                        and again.received[chair_id]["video"] >= 5)
        finally:
            for p in (chair, expert, supervisor, again):
                await p.leave()

    run(scenario())
    recordings = sealed_recordings(room_id, 3)
    assert sorted(r.user_id for r in recordings) == sorted([chair_id, expert_id, expert_id])
    for recording in recordings:
        with av.open(str(Path(app.config["STORAGE_DIR"]) / recording.key)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == recording.video_frames > 0
    chair_file = next(r for r in recordings if r.user_id == chair_id)
    assert chair_file.duration_ms > max(r.duration_ms for r in recordings if r.user_id == expert_id)


def test_a_force_mute_survives_a_restart_of_the_media_server(app, room_world, live_server, release):
    """The roster keeps the mute: after the room's live media is torn down and rebuilt, the expert's new stream
    still reaches nobody with its microphone, and the roster still says so."""
    room_id, seats = room_world
    release()
    cookies = {name: sign_in(live_server, seats[name]) for name in ("chair", "expert", "supervisor")}
    expert_id = seats["expert"].user_id
    service = app.extensions["bidhall_media"]

    async def scenario():
        chair = Participant(live_server, cookies["chair"], room_id, subscribe=False)
        expert = Participant(live_server, cookies["expert"], room_id)
        await chair.join()
        await expert.join()
        await chair.request("mute", {"user_id": expert_id, "kind": "audio"})
        await asyncio.to_thread(service.shutdown)  # the media server goes down: every live room is dropped
        assert not service.rooms
        expert_again = Participant(live_server, cookies["expert"], room_id)
        supervisor = Participant(live_server, cookies["supervisor"], room_id)
        try:
            roster = await expert_again.join()
            await expert_again.publish(ToneTrack(), MovingBarTrack())
            await supervisor.join()
            heard = supervisor.received[expert_id]
            await until(lambda: heard["video"] >= 15)
            return roster, dict(heard)
        finally:
            for p in (chair, expert, expert_again, supervisor):
                await p.leave()

    roster, heard = run(scenario())
    assert next(m for m in roster["members"] if m["user_id"] == expert_id)["muted"] == ["audio"]
    assert heard["audio"] == 0 and heard["video"] >= 15
