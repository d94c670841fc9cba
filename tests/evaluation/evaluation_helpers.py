"""Builders for the evaluation tests: a section whose opening is closed, a drawn committee, signed-in members.

``opened_section`` writes the state the opening leaves behind (bids opened, their packages decrypted into the
storage folder, the price forms read out, K drawn) directly, so a test can fix K and the prices of a worked
example; tests/evaluation/test_evaluation_from_opening.py runs the real opening ceremony instead. The committee
is drawn by the real draw operations. Members act through the JSON API with their own session and keys.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyotp
from cryptography.hazmat.primitives import serialization
from flask import current_app

from core import pki
from core.accounts import OrgKind, Role
from core.clock import now
from core.db import db
from core.pdf import Paragraph, styles
from core.pdf import build as build_pdf
from crypto import certificates as x509ca
from crypto.canonical import canonical_json
from crypto.signing import sign_document
from evaluation import draw_confirmations as confirmations
from evaluation import draw_operations as draws
from evaluation.experts import Expert
from tests.evaluation import draw_helpers as h
from trading.bids import Bid
from trading.models import PriceFieldType, PriceFormField, SectionState
from trading.opening import BidDecryption, DecryptionState, Fault, Opening, OpeningState

FACTS = {"not_dishonest_entity": True, "pm_registration_grade": "一级", "pm_similar_projects": 2,
         "technical_lead_senior_title": True, "credit_grade": "A"}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478"
                    "9c63f8cfc0f01f0005000201a5e7d8c80000000049454e44ae426082")


@dataclass
class Holder:
    """A user with a personal (or organisation) signing key, and a signed-in test client."""

    user: object
    key: object
    certificate_pem: str
    client: object = None

    def sign(self, payload: dict) -> dict:
        cert = x509ca.load_certificate(self.certificate_pem.encode())
        return sign_document(payload, self.key, cert)


@dataclass
class World:
    agent: object
    agent_client: object
    section: object
    bidders: list = field(default_factory=list)      # Holders of the bidders' organisation keys
    experts: list = field(default_factory=list)      # Holders of every pool expert with an account
    representative: object = None
    supervisor: object = None
    draw: object = None
    evaluation_id: int | None = None
    members: dict = field(default_factory=dict)      # user id → Holder of the committee
    app: object = None
    factory: object = None


def holder(user, *, organisation: bool = False) -> Holder:
    key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(key, user.username).public_bytes(serialization.Encoding.PEM).decode()
    row = pki.issue_signing_certificate(user, csr, for_organisation=organisation)
    db.session.commit()
    return Holder(user, key, row.pem)


def package(ids: dict, price: str, manager: str, extra: dict | None = None) -> tuple[bytes, dict]:
    """A bid package as bidtool writes it, with a text, a PDF and an image to review in the browser."""
    files = {"technical/施工组织设计.txt": f"施工组织设计（{manager}）：总体部署、进度计划与质量保证措施。".encode(),
             "technical/进度计划.pdf": build_pdf([Paragraph(f"进度计划 {manager}", styles()["body"])], title="进度计划",
                                              digest="0" * 64),
             "qualification/营业执照.png": PNG}
    modules: dict[str, list] = {}
    for path, data in files.items():
        module, name = path.split("/", 1)
        modules.setdefault(module, []).append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": "bidhall.bid-package.v1", "ids": ids,
                "price_form": {"total_price": price, "duration_days": 300, "quality": "合格", "project_manager": manager,
                               **(extra or {})},
                "modules": modules, "fingerprint": {"tool_version": "test", "machine_id_sha256": "0" * 64,
                                                    "mac_sha256": "1" * 64, "host_sha256": "2" * 64,
                                                    "created_at": "2026-11-21T00:00:00Z"}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bidhall-bid.json", canonical_json(manifest))
        for path, data in files.items():
            archive.writestr(f"modules/{path}", data)
    return out.getvalue(), manifest


def opened_section(factory, agent, prices, *, method: str = "works_comprehensive_benchmark", k: str | None = "0.97",
                   revoked: int = 0, extra_form: dict | None = None):
    """A section whose opening is closed: one opened bid per price (and ``revoked`` bids not opened).
    ``extra_form``: more integer fields of the price form with every bid's value (e.g. delivery days)."""
    section = factory.project(agent, evaluation_method=method).sections[0]
    for position, key in enumerate(extra_form or {}, start=10):
        db.session.add(PriceFormField(section_id=section.id, key=key, label=key, type=PriceFieldType.INTEGER,
                                      position=position))
    db.session.flush()
    db.session.expire(section, ["price_form"])
    section.deadline = now() - timedelta(hours=1)
    opening = Opening(section_id=section.id, state=OpeningState.CLOSED, opened_at=section.deadline,
                      started_at=section.deadline, read_out_at=section.deadline + timedelta(minutes=30),
                      closed_at=section.deadline + timedelta(minutes=40), record_digest="ab" * 32,
                      k_coefficient=Decimal(k) if k else None)
    db.session.add(opening)
    db.session.flush()
    bidders, rows = [], []
    storage = Path(current_app.config["STORAGE_DIR"])
    for i, price in enumerate(list(prices) + [None] * revoked):
        user = factory.user(Role.BIDDER)
        owner = holder(user, organisation=True)
        bid = Bid(section_id=section.id, organisation_id=user.organisation_id, submitted_by_id=user.id,
                  storage_key=f"bids/test-{section.id}-{i}", size=1, plaintext_size=1, chunk_count=1,
                  ciphertext_digest=f"{i:064x}", header_hash="0" * 64,
                  signer_certificate_id=pki.current_certificate(user.organisation, pki.Purpose.SIGNING).id,
                  submitted_at=section.deadline - timedelta(minutes=60 - i))
        db.session.add(bid)
        db.session.flush()
        row = {"bid": bid.id, "bidder": user.organisation.name, "credit_code": user.organisation.credit_code,
               "submitted_at": bid.submitted_at.isoformat(), "escrow": False}
        if price is None:
            db.session.add(BidDecryption(opening_id=opening.id, bid_id=bid.id, state=DecryptionState.FAILED,
                                         fault=Fault.BIDDER, last_error="CA锁损坏"))
            row["outcome"] = "revoked"
        else:
            price_text = format(Decimal(str(price)).quantize(Decimal("0.01")), "f")
            data, manifest = package({"section": section.code, "bidder": user.organisation.credit_code},
                                     price_text, f"项目经理{i}", extra_form)
            (storage / "opened").mkdir(parents=True, exist_ok=True)
            (storage / "opened" / f"{bid.id}.zip").write_bytes(data)
            form = manifest["price_form"]
            db.session.add(BidDecryption(opening_id=opening.id, bid_id=bid.id, state=DecryptionState.DECRYPTED,
                                         decrypted_at=section.deadline + timedelta(minutes=5),
                                         plaintext_key=f"opened/{bid.id}.zip", price_form=canonical_json(form).decode(),
                                         manifest=canonical_json({k_: manifest[k_] for k_ in ("modules", "fingerprint")}
                                                                 ).decode()))
            row.update(outcome="opened", price_form=form)
            bidders.append(owner)
        rows.append(row)
    fields = [f.as_dict() for f in section.price_form]
    opening.read_out = canonical_json({"fields": fields, "rows": rows, "k_coefficient": k}).decode()
    section.state = SectionState.EVALUATION
    db.session.commit()
    return section, bidders


def drawn_committee(world: World, factory, *, experts: int = 4, reserves: int = 1, pool: int | None = None,
                    reps: int = 1, remote: bool = False):
    """A completed draw for the section (real draw operations): ``experts`` members + ``reps`` representatives."""
    pool = pool or experts + reserves + 1
    authority = factory.org(OrgKind.SUPERVISORY_AUTHORITY, region="350900")
    world.supervisor = h.supervisor(factory, organisation=authority)
    if remote:  # 2+X: the main venue in 宁德 and a secondary one in 福州, experts near each
        made = h.pool({("A0401", "350902"): pool, ("A0401", "350102"): pool}, factory)
        venues = [h.venue(f"ND{world.section.id:05d}", "350900", 3), h.venue(f"FZ{world.section.id:05d}", "350100", 3)]
    else:
        made = h.pool({("A0401", "350902"): pool}, factory)
        venues = [h.venue(f"V{world.section.id:06d}", "350900", 9)]
    draw = h.request(world.section, world.agent, venues, quotas=(("A04", experts, reserves),), reps=reps,
                     supervisor_org=authority)
    draws.commit_draw(draw, actor=world.agent, bidders=[b.user.organisation.credit_code for b in world.bidders])
    draws.contribute(draw, world.supervisor, "监督人员随机串 2718")
    draws.reveal(draw, actor=world.agent)
    db.session.commit()
    for code, assignment in h.members(draw).items():
        expert = db.session.query(Expert).filter_by(code=code).one()
        confirmations.respond(assignment, expert, accept=True)
    db.session.commit()
    h.sign_in_time(draw)
    world.draw = draw
    world.experts = [holder(e.user) for e in made]
    if reps:
        world.representative = holder(factory.user(Role.TENDEREE, organisation=world.section.project.tenderee))
    return draw


def login(app, factory, user):
    client = app.test_client()
    factory.login(client, user)
    return client


def build(app, factory, prices=(920, 950, 980, 1000, 1050), *, method: str = "works_comprehensive_benchmark",
          k: str | None = "0.97", revoked: int = 0, reps: int = 1, experts: int = 4, facts: dict | None = None,
          extra_form: dict | None = None, remote: bool = False) -> World:
    """Opened section + drawn committee + the evaluation opened by the agent, facts recorded."""
    agent = factory.user(Role.AGENT)
    section, bidders = opened_section(factory, agent, prices, method=method, k=k, revoked=revoked,
                                      extra_form=extra_form)
    world = World(agent=agent, agent_client=login(app, factory, agent), section=section, bidders=bidders, app=app,
                  factory=factory)
    drawn_committee(world, factory, reps=reps, experts=experts, remote=remote)
    response = world.agent_client.post(f"/api/v1/sections/{section.id}/evaluation",
                                       json={"representatives": [world.representative.user.id] if reps else []})
    assert response.status_code == 201, response.get_json()
    world.evaluation_id = response.get_json()["id"]
    state = world.agent_client.get(f"/api/v1/evaluations/{world.evaluation_id}").get_json()
    for bidder in state["bidders"]:
        done = world.agent_client.put(f"/api/v1/evaluations/{world.evaluation_id}/bidders/{bidder['id']}/facts",
                                      json={"facts": FACTS if facts is None else facts, "small_enterprise": False})
        assert done.status_code == 200, done.get_json()
    by_user = {x.user.id: x for x in world.experts + ([world.representative] if reps else [])}
    from evaluation.evaluation_models import Evaluation

    evaluation = db.session.get(Evaluation, world.evaluation_id)
    for member in evaluation.members:
        seat = by_user[member.user_id]
        seat.client = login(app, factory, seat.user)
        world.members[member.user_id] = seat
    db.session.commit()
    return world


def api(world: World, seat: Holder, method: str, path: str, **kwargs):
    return seat.client.open(f"/api/v1/evaluations/{world.evaluation_id}{path}", method=method, **kwargs)


def state(world: World, seat: Holder) -> dict:
    return api(world, seat, "GET", "").get_json()


def sign_in_by_certificate(world: World, seat: Holder):
    challenge = api(world, seat, "POST", "/seat/challenge").get_json()
    return api(world, seat, "POST", "/seat", json={"method": "certificate", "document": seat.sign(challenge["payload"]),
                                                     "certificate": seat.certificate_pem})


def enrol_totp(app, factory, seat: Holder) -> None:
    """The member enrols an authenticator; the session then needs both factors, so sign in again."""
    seat.user.enable_totp(pyotp.random_base32())
    db.session.commit()
    seat.client = login(app, factory, seat.user)


def sign_in_by_totp(world: World, seat: Holder, password: str):
    """Password plus the next one-time code (the current one was spent signing in to the platform)."""
    code = pyotp.TOTP(seat.user.totp_secret()).at(now() + timedelta(seconds=30))
    return api(world, seat, "POST", "/seat", json={"method": "totp", "password": password, "totp": code})


def declare(world: World, seat: Holder, conflict_with=(), reason: str = ""):
    template = state(world, seat)["me"]["declaration"]
    payload = dict(template, conflict=bool(conflict_with), conflict_with=sorted(conflict_with), reason=reason)
    return api(world, seat, "POST", "/declaration", json={"document": dict(seat.sign(payload),
                                                                            certificate=seat.certificate_pem)})


def seated_members(world: World) -> list[Holder]:
    """The committee members as the room lists them (position order), each a Holder; a replacement drawn since
    is signed in to the platform on first sight."""
    for user_id in _member_users(world):
        if user_id not in world.members:
            seat = next(x for x in world.experts if x.user.id == user_id)
            seat.client = login(world.app, world.factory, seat.user)
            world.members[user_id] = seat
    return [world.members[m_user] for m_user in _member_users(world)]


def _member_users(world: World) -> list[int]:
    from evaluation.evaluation_models import Evaluation, MemberStatus

    db.session.expire_all()
    evaluation = db.session.get(Evaluation, world.evaluation_id)
    return [m.user_id for m in evaluation.members if m.status is not MemberStatus.RECUSED]


def seat_everyone(world: World) -> list[Holder]:
    seats = seated_members(world)
    for seat in seats:
        assert sign_in_by_certificate(world, seat).status_code == 200
        assert declare(world, seat).status_code == 200, declare
    return seats


def elect(world: World, seats: list[Holder], chair: int = 0) -> Holder:
    candidate = state(world, seats[chair])["me"]["member"]
    for seat in seats:  # a majority elects: the votes stop once it is reached
        response = api(world, seat, "POST", "/chair-votes", json={"candidate_id": candidate})
        assert response.status_code == 200, response.get_json()
        if response.get_json()["state"] != "electing":
            break
    return seats[chair]


def pass_every_stage(world: World, seats: list[Holder], chair: Holder, fails: dict | None = None) -> None:
    """Every member votes pass on every voted item (``fails``: {(credit code, item): reason} for a majority)."""
    fails = fails or {}
    while True:
        view = state(world, chair)
        if view["state"] != "review":
            return
        items = [i for i in view["stage"]["items"] if not i["computed"]]
        bidders = [b for b in view["bidders"] if b["failed_stage"] is None]
        for seat in seats:
            votes = [{"bidder_id": b["id"], "item_id": i["id"],
                      "passed": (b["credit_code"], i["id"]) not in fails,
                      "reason": fails.get((b["credit_code"], i["id"]), "")} for b in bidders for i in items]
            if votes:
                assert api(world, seat, "PUT", "/votes", json={"votes": votes}).status_code == 200
            if items:
                assert api(world, seat, "POST", "/stage/submit").status_code == 200
        decided = api(world, chair, "POST", "/stage/decide")
        assert decided.status_code == 200, decided.get_json()


def score(world: World, seat: Holder, bidder_id: int, item_id: str, value, comment: str = ""):
    return api(world, seat, "PUT", "/scores", json={"bidder_id": bidder_id, "item_id": item_id, "value": value,
                                                    "comment": comment})


def score_everyone(world: World, seats: list[Holder], value=None) -> None:
    """Every member scores every subjective item of every scored bidder (``value(n, bidder, item)``, default one
    step under the maximum) and submits the sheet."""
    view = state(world, seats[0])
    items = [i for i in view["items"] if i["kind"] == "subjective"]
    for n, seat in enumerate(seats):
        for bidder in (b for b in view["bidders"] if b["failed_stage"] is None):
            for item in items:
                given = value(n, bidder, item) if value else item["max"] - item["step"]
                comment = "满分理由：方案完整" if given in (item["max"], item["min"]) else ""
                response = score(world, seat, bidder["id"], item["id"], given, comment)
                assert response.status_code == 200, response.get_json()
        submitted = api(world, seat, "POST", "/sheet", json={})
        assert submitted.status_code == 200, submitted.get_json()


def sign_everyone(world: World, seats: list[Holder]) -> None:
    for seat in seats:
        payload = state(world, seat)["me"]["signature_payload"]
        response = api(world, seat, "POST", "/report-signatures",
                       json={"document": seat.sign(payload), "certificate": seat.certificate_pem})
        assert response.status_code == 200, response.get_json()


def to_scoring(app, factory, **kwargs) -> tuple[World, list[Holder], Holder]:
    """A world whose committee is seated, has elected its chair (the first member) and passed every stage."""
    world = build(app, factory, **kwargs)
    seats = seat_everyone(world)
    chair = elect(world, seats)
    pass_every_stage(world, seats, chair)
    return world, seats, chair
