"""Open data (OCDS 1.1 with the bid extension, validated against the bundled schema) and the archive package
exported and verified from the command line."""
import json
import zipfile
from datetime import timedelta

from core import clock
from core.db import db
from supervision import post_award as ops
from supervision.ocds import validate
from tests.supervision.conftest import report


def _contracted(factory, opened):
    result = report(opened)
    ops.start_publicity(opened.section, opened.agent)
    result.publicity_ends_at = clock.now() - timedelta(minutes=1)
    award = ops.decide_award(opened.section, opened.tenderee, opened.bidders[2].user.organisation_id)
    ops.issue_notice(award, opened.agent)
    award.notice_issued_at -= timedelta(minutes=5)
    ops.record_contract(award, opened.tenderee, signed_at=clock.now() - timedelta(minutes=1), amount=award.amount)
    db.session.commit()
    return award


def test_the_release_package_validates_and_shows_each_stage(app, factory, opened, runner, tmp_path):
    award = _contracted(factory, opened)
    bidding = factory.project().sections[0]
    out = tmp_path / "ocds.json"
    result = runner.invoke(args=["ocds", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "valid against the OCDS 1.1" in result.output
    package = json.loads(out.read_text())
    assert validate(package) == [] and package["version"] == "1.1"
    by_tender = {r["tender"]["id"]: r for r in package["releases"]}
    done = by_tender[opened.section.code]
    assert done["tag"] == ["contract"] and done["ocid"] == f"ocds-bidhall-{opened.section.code}"
    assert len(done["bids"]["details"]) == 3 and done["bids"]["statistics"][0]["value"] == 3
    assert {d["value"]["amount"] for d in done["bids"]["details"]} == {8650000.0, 8912300.0, 7907700.0}
    assert done["awards"][0]["value"]["amount"] == 7907700.0
    assert done["awards"][0]["relatedBid"] == str(opened.bidders[2].bid_id)
    assert done["contracts"][0]["awardID"] == done["awards"][0]["id"]
    roles = {p["name"]: p["roles"] for p in done["parties"]}
    assert roles[award.organisation.name] == ["tenderer", "supplier"]
    early = by_tender[bidding.code]
    assert early["tag"] == ["tender"] and "bids" not in early and "tenderers" not in early["tender"]
    broken = json.loads(out.read_text())
    broken_done = next(r for r in broken["releases"] if r["tender"]["id"] == opened.section.code)
    broken_done["tag"] = ["finished"]
    del broken_done["bids"]["details"][0]["id"]
    problems = validate(broken)
    assert any("tag/0" in p and "finished" in p for p in problems)
    assert any("bids/details/0" in p and "'id' is a required property" in p for p in problems)


def test_the_api_serves_the_same_package(app, client, factory):
    factory.project()
    package = client.get("/api/v1/ocds/release-package").get_json()
    assert validate(package) == [] and len(package["releases"]) == 1


def test_archive_export_and_verify(app, factory, opened, runner, tmp_path):
    _contracted(factory, opened)
    code = opened.section.project.code
    target = tmp_path / "archive.zip"
    exported = runner.invoke(args=["archive", "export", code, "-o", str(target)])
    assert exported.exit_code == 0, exported.output
    checked = runner.invoke(args=["archive", "verify", str(target)])
    assert checked.exit_code == 0 and "archive OK" in checked.output
    with zipfile.ZipFile(target) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
        assert manifest["retention"]["class"] == "10y"
        excerpt = archive.read("audit/excerpt.jsonl").decode()
        assert "contract.recorded" in excerpt and "opening.closed" in excerpt
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(target) as source, zipfile.ZipFile(tampered, "w") as out:
        for name in names:
            data = source.read(name)
            if name == "award/" + opened.section.code + "/award.json":
                data = data.replace(b"7907700.00", b"7000000.00")
            out.writestr(name, data)
        out.writestr("extra.txt", b"slipped in")
    broken = runner.invoke(args=["archive", "verify", str(tampered)])
    assert broken.exit_code == 1
    assert f"award/{opened.section.code}/award.json: content changed" in broken.output
    assert "extra.txt: not listed in the manifest" in broken.output
