"""The drawn list is sealed to the evaluation and supervision keys until the evaluation starts (issue 6).

A dump of the tables plus SECRET_KEY opens nothing; a supervisor's own key opens the list and it matches what
the server shows once the evaluation starts; the reveal is refused when no supervisor can receive the list; a
wrap or a sealed seat moved elsewhere does not open; the parties see counts only; before the start the
server renders no name for anyone; bidtool opens the list with the supervisor's key file.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.accounts import OrgKind, Role
from core.audit import AuditEvent
from core.db import db
from core.errors import RuleViolation
from core.pki import Certificate, Purpose, current_certificate, revoke
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as ops
from evaluation.draw_models import DrawListKey, DrawState, ListKeyRecipient
from evaluation.draw_records import build_record
from evaluation.draw_sealing import SealedListError, keys_of, open_secret, open_sealed_list, sealed_list_package
from tests.evaluation import draw_helpers as h
from tests.pki_helpers import enrol_directly


@pytest.fixture()
def world(app, factory):
    agent = factory.user(Role.AGENT)
    project = factory.project(agent)
    authority = factory.org(OrgKind.SUPERVISORY_AUTHORITY, region="350900")
    return SimpleNamespace(agent=agent, project=project, section=project.sections[0], authority=authority,
                           venue=h.venue("NDGGZY-01", "350900", 9),
                           experts=h.pool({("A0401", "350902"): 9, ("B0101", "350902"): 3}, factory),
                           supervisor=h.supervisor(factory, organisation=authority),
                           tenderee=factory.user(Role.TENDEREE, organisation=project.tenderee))


def drawn(w, section=None):
    draw = h.request(section or w.section, w.agent, [w.venue], supervisor_org=w.authority)
    ops.commit_draw(draw, actor=w.agent, bidders=None)
    ops.contribute(draw, w.supervisor, "监督人员随机串 1618")
    ops.reveal(draw, actor=w.agent)
    db.session.commit()
    return draw


def to_evaluation_start(w, draw) -> None:
    for code, assignment in h.members(draw).items():
        confirmations.respond(assignment, h.experts_by_code([code])[code], accept=True)
    h.past_deadline(w.section)
    ops.recheck_bidders(draw, actor=w.agent, bidders=[])
    h.sign_in_time(draw)
    ops.reveal_to_committee(draw, actor=w.agent)
    db.session.commit()


def test_a_dump_of_the_tables_with_the_secret_key_opens_nothing(world, app, tmp_path, monkeypatch):
    draw = drawn(world)
    codes = set(h.members(draw))
    assert len(codes) == 6
    queries = ["SELECT * FROM draw_assignments", "SELECT * FROM draw_list_keys", "SELECT * FROM draw_replacements",
               "SELECT * FROM notifications", "SELECT * FROM audit_events WHERE action LIKE 'draw.%'",
               "SELECT id, request_json, commitment, salt, secret_sealed, result_sealed, record_json FROM draws"]
    dump = "".join(str(tuple(row)) for query in queries for row in db.session.execute(sa.text(query)))
    assert not [code for code in codes if code in dump]  # (the eligible list, kept apart, names the whole pool)
    rows = {k.recipient for k in draw.list_keys}
    assert rows == {ListKeyRecipient.EVALUATION, ListKeyRecipient.SUPERVISION}

    # The platform run with the same database and the same SECRET_KEY but another instance/ folder (a copy
    # without instance/pki): the evaluation key it makes is another, so neither the secret nor the list opens.
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "copy"))
    db.session.expire_all()
    with pytest.raises(SealedListError, match="evaluation service cannot open the list key"):
        keys_of(draw)
    with pytest.raises(SealedListError, match="draw secret"):
        open_secret(draw)
    assert (tmp_path / "copy" / "pki" / "evaluation-service" / "key.pem").exists()
    monkeypatch.undo()
    # The platform itself, holding its evaluation key, still opens it for the automated steps.
    assert {keys_of(draw).expert_of(a) for a in confirmations.current_assignments(draw).values()} == codes


def test_the_supervisors_key_opens_the_list_and_it_matches_the_server_after_the_start(world, app, factory):
    draw = drawn(world)
    opened = h.opened_list(draw, world.supervisor)
    assert opened.result == build_record(draw)["result"]
    assert [s.assignment for s in opened.seats] == [a.id for a in draw.assignments]
    before = {code: (seat.slot, seat.venue, seat.seat) for code, seat in opened.members().items()}
    to_evaluation_start(world, draw)
    assert draw.state is DrawState.COMMITTEE_REVEALED
    server = {e.code: (a.slot, a.venue_code, a.seat) for a, e in confirmations.committee_of(draw)}
    assert server == before
    seen = app.test_client().get(f"/api/v1/draws/{draw.id}", headers=factory.token(app.test_client(),
                                                                                    world.supervisor)).get_json()
    assert {m["expert"] for m in seen["committee"]} == set(before)


def test_the_reveal_is_refused_while_no_supervisor_of_the_draw_holds_an_encryption_certificate(world, factory):
    bare = factory.user(Role.SUPERVISOR, organisation=world.authority)
    bare.display_name = "郑无证"
    other_authority = h.supervisor(factory)  # certified, but supervises another authority: not a recipient
    draw = h.request(world.section, world.agent, [world.venue], supervisor_org=world.authority)
    ops.commit_draw(draw, actor=world.agent, bidders=None)
    ops.contribute(draw, bare, "随机串")
    certificate = current_certificate(world.supervisor, Purpose.ENCRYPTION)
    revoke(certificate, "电脑遗失", actor=world.supervisor)
    with pytest.raises(RuleViolation) as refused:
        ops.reveal(draw, actor=world.agent)
    assert refused.value.code == "supervision_key_missing"
    assert "郑无证" in refused.value.message and world.supervisor.display_name in refused.value.message
    assert "no valid encryption certificate" in refused.value.message
    assert draw.state is DrawState.COMMITTED and not draw.list_keys
    assert not draw.can_contribute(other_authority)

    enrol_directly(bare)  # one of them enrols: the list is sealed to that one, and the audit log says to whom
    ops.reveal(draw, actor=world.agent)
    db.session.commit()
    supervision = [k for k in draw.list_keys if k.recipient is ListKeyRecipient.SUPERVISION]
    assert [k.user_id for k in supervision] == [bare.id]
    revealed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "draw.revealed")).details
    assert [s["user"] for s in revealed["sealed_to"]] == [bare.id] and revealed["not_sealed_to"] == [world.supervisor.id]
    assert set(h.opened_list(draw, bare).members()) == {keys_of(draw).expert_of(a) for a in
                                                        confirmations.current_assignments(draw).values()}


def test_a_wrap_or_a_sealed_seat_moved_elsewhere_does_not_open(world, factory):
    first = drawn(world)
    second = drawn(world, factory.project(world.agent).sections[0])
    key = h.key_of(world.supervisor)
    package = json.loads(json.dumps(sealed_list_package(first, world.supervisor)))
    with pytest.raises(SealedListError, match="not the sealed list of draw"):
        open_sealed_list(package, key, draw_id=second.id)

    # The first draw's wrap of the list key put in place of the second's: its context names the first draw.
    def row(draw, recipient):
        return next(k for k in draw.list_keys if k.recipient is recipient)

    for recipient in ListKeyRecipient:
        source, target = row(first, recipient), row(second, recipient)
        target.wrapped, target.ephemeral_key = source.wrapped, source.ephemeral_key
    db.session.commit()
    with pytest.raises(SealedListError, match="名单密钥无法解开") as refused:
        h.opened_list(second, world.supervisor)
    assert "altered or belongs to another" in refused.value.message
    with pytest.raises(SealedListError, match="名单密钥无法解开"):
        keys_of(second)

    # Two seats of one draw swap their sealed experts: each is bound to its slot and round.
    package = json.loads(json.dumps(sealed_list_package(first, world.supervisor)))
    one, two = package["assignments"][:2]
    one["expert_sealed"], two["expert_sealed"] = two["expert_sealed"], one["expert_sealed"]
    with pytest.raises(SealedListError, match="sealed draw data \\(assignment/0/0\\) cannot be opened"):
        open_sealed_list(package, key, draw_id=first.id)
    package = json.loads(json.dumps(sealed_list_package(first, world.supervisor)))
    package["assignments"][0]["expert_tag"] = package["assignments"][1]["expert_tag"]
    with pytest.raises(SealedListError, match="expert tag of assignment"):
        open_sealed_list(package, key, draw_id=first.id)
    package = json.loads(json.dumps(sealed_list_package(first, world.supervisor)))
    package["result_commitment"] = "0" * 64
    with pytest.raises(SealedListError, match="result commitment"):
        open_sealed_list(package, key, draw_id=first.id)


def test_parties_see_counts_and_no_page_names_anyone_before_the_evaluation_starts(world, app, factory):
    draw = drawn(world)
    held = h.members(draw)
    names = [e.name for e in h.experts_by_code(held).values()]
    secrets = list(held) + names

    def page(user):
        client = app.test_client()
        factory.login(client, user)
        return client.get(f"/draws/{draw.id}").get_data(as_text=True)

    def api(user):
        return app.test_client().get(f"/api/v1/draws/{draw.id}", headers=factory.token(app.test_client(), user)
                                     ).get_json()

    for user in (world.agent, world.tenderee, world.supervisor):
        body = page(user)
        assert not [s for s in secrets if s in body], user.role
        assert "committee" not in api(user) and api(user)["counts"]["pending"] == 6
    assert 'id="sealed-list"' in page(world.supervisor) and 'id="sealed-list"' not in page(world.agent)

    to_evaluation_start(world, draw)
    held = h.members(draw)
    names = [e.name for e in h.experts_by_code(held).values()]
    supervisor_page = page(world.supervisor)
    assert all(name in supervisor_page for name in names) and 'id="sealed-list"' not in supervisor_page
    for user in (world.agent, world.tenderee):
        body = page(user)
        assert not [s for s in list(held) + names if s in body] and "committee" not in api(user)


def test_the_sealed_list_endpoints_answer_the_draws_supervisors_only(world, app, factory):
    draw = drawn(world)
    token = factory.token(app.test_client(), world.supervisor)
    client = app.test_client()
    package = client.get(f"/api/v1/draws/{draw.id}/sealed-list", headers=token).get_json()
    assert package["salt"] == draw.salt and len(package["wraps"]) == 1
    assert package["wraps"][0]["certificate"]["fingerprint"] == current_certificate(
        world.supervisor, Purpose.ENCRYPTION).fingerprint
    codes = sorted(h.members(draw))
    profiles = client.post(f"/api/v1/draws/{draw.id}/sealed-list/experts", json={"codes": codes}, headers=token)
    assert profiles.status_code == 200
    assert [p["code"] for p in profiles.get_json()["experts"]] == codes
    assert all(set(p) == {"code", "name", "title", "region_code", "specialties", "employer"}
               for p in profiles.get_json()["experts"])  # never a phone number
    outside = client.post(f"/api/v1/draws/{draw.id}/sealed-list/experts", json={"codes": ["X99999"]}, headers=token)
    assert outside.status_code == 422 and outside.get_json()["error"]["field"] == "codes"

    late = h.supervisor(factory, organisation=world.authority)  # certified after the reveal: nothing sealed to it
    refused = client.get(f"/api/v1/draws/{draw.id}/sealed-list", headers=factory.token(client, late))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "not_sealed_to_you"
    elsewhere = h.supervisor(factory)  # a supervisor of another authority
    assert client.get(f"/api/v1/draws/{draw.id}/sealed-list",
                      headers=factory.token(client, elsewhere)).status_code == 403
    for user in (world.agent, world.tenderee):
        assert client.get(f"/api/v1/draws/{draw.id}/sealed-list",
                          headers=factory.token(client, user)).status_code == 403
    with pytest.raises(SealedListError, match="not sealed to this private key"):
        open_sealed_list(package, h.key_of(late), draw_id=draw.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DrawListKey)) == 2
    assert db.session.get(Certificate, package["wraps"][0]["certificate"]["id"]).user_id == world.supervisor.id


def test_bidtool_opens_the_list_with_the_supervisors_key_file(world, app, factory, live_server, release, tmp_path,
                                                              monkeypatch, capsys):
    from bidtool import cli
    from crypto.keystore import save_private_key_file

    draw = drawn(world)
    held = h.members(draw)
    names = {code: e.name for code, e in h.experts_by_code(held).items()}
    token = factory.token(app.test_client(), world.supervisor)
    home = tmp_path / "supervisor"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"server": live_server, "token": token["Authorization"][7:]}))
    save_private_key_file(h.key_of(world.supervisor), home / "encryption-key.pem", "key-password-1")
    draw_id, other_key = draw.id, enrol_directly(world.agent).encryption_key  # a key the list is not sealed to
    release()
    monkeypatch.setenv("BIDTOOL_KEY_PASSWORD", "key-password-1")
    assert cli.main(["--home", str(home), "draw-list", str(draw_id), "--history"]) == 0
    out = capsys.readouterr().out
    assert all(code in out and name in out for code, name in names.items())
    (home / "encryption-key.pem").unlink()
    save_private_key_file(other_key, home / "encryption-key.pem", "key-password-1")
    assert cli.main(["--home", str(home), "draw-list", str(draw_id)]) == 1
    assert "not sealed to this private key" in capsys.readouterr().err
