"""``flask demo journey``: journey steps 3–5 on a tender of its own, after the seed, up to a finished opening."""
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from pdfminer.high_level import extract_text

from core.audit import AuditEvent
from core.db import db
from crypto import draw as drawing
from crypto.canonical import parse_canonical_json
from crypto.signing import verify_document
from trading.bids import Bid, BidState
from trading.models import Project, SectionState
from trading.opening import BidDecryption, DecryptionState, Fault, HallSignIn, Opening, OpeningState, ShareRelease

#: 21 statutory days of bidding in 3.6 s: room for seven sealed bids, little waiting.
ACCELERATOR = 500_000


@pytest.fixture()
def seeded(app, runner):
    """The seed, on a wiped database. The instance folder outlives the wipe, and the seed writes its holders' key
    files only once: the previous seed's are removed first, and this one's afterwards."""
    keys = Path(app.instance_path) / "demo-keys"
    shutil.rmtree(keys, ignore_errors=True)
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    yield
    shutil.rmtree(keys, ignore_errors=True)


def test_the_journey_plays_security_bids_and_the_opening_on_a_new_tender(runner, app, seeded):
    from core.pki import platform
    from demo.journey import BIDS, CODE_PREFIX, FAILING, NAME, _next_code
    from guarantees.models import Guarantee, GuaranteeState

    seed_projects = {p.code: [s.state for s in p.sections] for p in db.session.scalars(sa.select(Project))}

    result = runner.invoke(args=["demo", "journey", "--accelerator", str(ACCELERATOR), "--bid-kib", "24"])
    assert result.exit_code == 0, result.output
    assert "演示开标完成" in result.output and "/draws/new" in result.output
    assert app.config["ACCELERATOR"] == 1  # put back after the publication step
    db.session.expire_all()

    # a third project of its own; the seed's data is as it was
    project = db.session.scalar(sa.select(Project).where(Project.code == CODE_PREFIX + "003"))
    assert project.name == NAME and project.state.value == "published"
    assert {p.code: [s.state for s in p.sections] for p in db.session.scalars(
        sa.select(Project).where(Project.code != project.code))} == seed_projects
    section = project.sections[0]
    assert section.ceiling_price == Decimal("18600000.00") and section.state is SectionState.EVALUATION

    # seven bids, each with the platform's signed receipt; six secured by verified electronic guarantees
    users = {b.username: b for b in BIDS}
    bids = db.session.scalars(sa.select(Bid).where(Bid.section_id == section.id)).all()
    assert len(bids) == 7 and all(b.state is BidState.SUBMITTED for b in bids)
    for bid in bids:
        receipt = parse_canonical_json(bid.receipts[-1].document.encode())
        payload = verify_document(receipt, platform().signing_certificate)
        assert payload["ciphertext_digest"] == bid.ciphertext_digest and payload["section"] == section.code
    guarantees = db.session.scalars(sa.select(Guarantee).where(Guarantee.section_id == section.id)).all()
    assert len(guarantees) == 6 and all(g.state in (GuaranteeState.ISSUED, GuaranteeState.VERIFIED) for g in guarantees)
    assert sum(g.kind.value == "cipher" for g in guarantees) == 2

    # the opening: seven signed in, six decrypted by their bidders, one by escrow after a PLATFORM ruling
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    assert opening.state is OpeningState.CLOSED
    assert db.session.scalar(sa.select(sa.func.count(HallSignIn.id)).where(HallSignIn.opening_id == opening.id)) == 7
    rows = db.session.scalars(sa.select(BidDecryption).where(BidDecryption.opening_id == opening.id)).all()
    assert all(d.state is DecryptionState.DECRYPTED for d in rows)
    escrowed = [d for d in rows if d.decrypted_by_escrow]
    assert len(escrowed) == 1 and escrowed[0].fault is Fault.PLATFORM
    from core.accounts import User

    failing = db.session.scalar(sa.select(User).where(User.username == FAILING))
    assert escrowed[0].bid.organisation_id == failing.organisation_id
    releases = db.session.scalars(sa.select(ShareRelease).where(ShareRelease.decryption_id == escrowed[0].id)).all()
    assert sorted(r.officer.username for r in releases) == ["admin", "supervisor"]
    assert all(r.y_hex is None for r in releases)  # no share outlives the opening

    # K drawn verifiably; the read-out shows the seven prices the bidders signed
    assert Decimal(opening.k_coefficient) in {Decimal(v) for v in drawing.decimal_range("0.95", "0.98", "0.01")}
    k_record = json.loads(opening.k_record)
    assert drawing.verify_record(k_record, published_commitment=k_record["commitment"]).ok
    read_out = json.loads(opening.read_out)
    names = {u.username: u.organisation.name for u in db.session.scalars(sa.select(User).where(
        User.username.in_(list(users))))}
    assert {row["bidder"]: row["price_form"]["total_price"] for row in read_out["rows"]} == {
        names[b.username]: b.total_price for b in BIDS}

    # the signed record PDF reads back
    pdf = (Path(app.config["STORAGE_DIR"]) / opening.record_key).read_bytes()
    text = extract_text(io.BytesIO(pdf))
    for needle in ("开 标 记 录", names["bidder1"], "17048600.00", "托管密钥开启", "非投标人原因", "唱标无误",
                   opening.record_digest):
        assert needle in text, needle

    # at the server's pace the compressed schedule raises clock warnings; the supervisor closed them, saying why
    from supervision.models import SupervisionWarning, WarningState

    closed = db.session.scalars(sa.select(SupervisionWarning).where(
        SupervisionWarning.section_id == section.id, SupervisionWarning.state == WarningState.CLOSED)).all()
    assert {w.point for w in closed} == {"bid_preparation", "document_issue"}
    assert all("加速时钟" in w.close_reason for w in closed)
    assert not db.session.scalar(sa.select(SupervisionWarning.id).where(
        SupervisionWarning.section_id == section.id, SupervisionWarning.state == WarningState.OPEN,
        SupervisionWarning.point.in_(["bid_preparation", "document_issue"])))

    # the seven bids come from seven machines but one: bidder3 and bidder4 share theirs (journey step 8's clue)
    from supervision.collusion_evidence import run_analysis

    report = json.loads(run_analysis(section).report)
    shared = [e for e in report["evidence"] if e["indicator"] == "same_machine_id"]
    organisation_of = {str(b.id): b.organisation_id for b in bids}
    sharing = db.session.scalars(sa.select(User.organisation_id).where(User.username.in_(["bidder3", "bidder4"])))
    assert [sorted(organisation_of[str(i)] for i in e["bid_ids"]) for e in shared] == [sorted(sharing)]
    db.session.rollback()

    # every step is an operation, recorded in the name of the user who acted; the chain verifies
    submitted = set(db.session.scalars(sa.select(AuditEvent.actor).where(AuditEvent.action == "bid.submitted")))
    assert submitted == set(users)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    # a second run would take the next code
    assert _next_code() == (CODE_PREFIX + "004", 1)


def test_the_journey_needs_the_seed(runner):
    result = runner.invoke(args=["demo", "journey"])
    assert result.exit_code != 0 and "demo seed" in result.output
    assert db.session.scalar(sa.select(sa.func.count(Project.id))) == 0
