"""Sealing bids in Chromium (static/js/envelope.js, keys.js, bid_panel.js), interoperating with crypto/envelope.

(a) the test vectors of docs/envelope.md run in the page; (b) a bidder enrols, seals and uploads in the page, the
receipt verifies in the page and in Python, and the stored bid opens in Python with the key the page unwrapped;
(c) a bid sealed by Python is unwrapped in the page; (d) certificate sign-in; (e) an interrupted upload resumes
after a reload; (f) replace and withdraw with receipts; RSA-OAEP escrow wraps both ways.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bidtool.package import read_manifest
from core.accounts import Role
from core.clock import now
from core.db import db
from core.pki import Certificate, Purpose
from crypto import certificates as x509ca
from crypto import envelope
from crypto.signing import verify_document
from tests.browser.sealing_pages import (JS, enrol_in_page, open_bid_panel, open_section, open_with, sign_in,
                                         unwrap_in_page)
from tests.pki_helpers import enrol
from trading.bids import Bid, BidState, BidUpload, Receipt
from trading.models import Section

ROOT = Path(__file__).resolve().parents[2]
VECTOR_FILE = json.loads((ROOT / "tests/crypto/vectors/envelope-v1.json").read_text(encoding="utf-8"))
PRICES = {"total_price": "1,234,567.8", "duration_days": "365", "quality": "合格", "project_manager": "张三"}


def _doc_vectors() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs/envelope.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- vector:([\w-]+) -->\s*```text\n(.*?)\n```", text, flags=re.S)
    return {name: dict(re.findall(r"^(\w+)\s+= (.+)$", body, flags=re.M)) for name, body in blocks}


@pytest.fixture()
def csrf_checked(app):
    """Call it once the test's own setup is done: from then on the live server checks CSRF, so the pages must
    send the token of <meta name="csrf-token"> with every change (X-CSRFToken)."""
    def enable():
        app.config["WTF_CSRF_ENABLED"] = True

    yield enable
    app.config["WTF_CSRF_ENABLED"] = False


def _fill_form(page, values: dict[str, str]) -> None:
    for key, value in values.items():
        if key == "quality":
            page.select_option(f"#pf-{key}", value)
        else:
            page.fill(f"#pf-{key}", value)


def _submit(page, folder: Path, files: dict[str, list[tuple[str, bytes]]]) -> None:
    """Choose the module files (written to disk first: Chromium reads them from there, as from a user's disk)."""
    for module, items in files.items():
        paths = []
        for name, data in items:
            path = folder / module / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(path)
        page.set_input_files(f"#module-{module}", files=paths)
    page.click("[data-role=submit]")


def _wait_done(page, timeout: int = 60000) -> None:
    page.wait_for_selector("[data-role=status][data-kind=success]", timeout=timeout)


def test_the_envelope_test_vectors_pass_in_the_browser(app, new_page, release):
    release()
    doc = _doc_vectors()
    streams = {v["name"]: hashlib.shake_256(v["random_seed"].encode()).hexdigest(4096) for v in VECTOR_FILE["vectors"]}
    page = new_page()
    page.goto("/login/certificate")
    out = page.evaluate((JS / "envelope_vectors.js").read_text(), {"doc": doc, "file": VECTOR_FILE, "streams": streams})

    assert (out["payload_key"], out["key_commitment"]) == (doc["key-schedule"]["payload_key"],
                                                          doc["key-schedule"]["key_commitment"])
    assert out["chunk"] == {key: doc["chunk"][key] for key in out["chunk"]}
    assert out["wrap"] == {key: doc["ecdh-wrap"][key] for key in out["wrap"]}
    assert out["shares"] == [doc["shamir"][f"share_{x}"] for x in (1, 2, 3)]

    signer = x509ca.load_certificate(bytes.fromhex(VECTOR_FILE["bidder"]["signing_certificate"]))
    ids = envelope.BidIds(**VECTOR_FILE["ids"])
    for result, vector in zip(out["envelopes"], VECTOR_FILE["vectors"], strict=True):
        expected, sealed = bytes.fromhex(vector["envelope"]), bytes.fromhex(result["sealed"])
        header_size = envelope.read_header(io.BytesIO(expected)).size
        # every byte but the two (randomised) ECDSA signatures is the vector's
        assert len(sealed) == len(expected)
        assert sealed[:header_size - 64] == expected[:header_size - 64]
        assert sealed[header_size:-64] == expected[header_size:-64]
        summary = envelope.verify_envelope(io.BytesIO(sealed), expected_ids=ids, bidder_signing_cert=signer)
        assert summary.ciphertext_digest.hex() == vector["ciphertext_digest"] == result["summary"]["ciphertextDigest"]
        assert open_with(bytes.fromhex(vector["content_key"]), sealed, ids, signer).hex() == vector["plaintext"]
        # and the page opens the Python-made vector: its key, every chunk, the escrow shares
        assert result["content_key"] == vector["content_key"] and result["opened"] == vector["plaintext"]
        assert result["header_hash"] == vector["header_hash"] and result["opened_chunks"] == vector["chunk_count"]
        header = envelope.read_header(io.BytesIO(expected))
        for share, officer in zip(result["shares"], VECTOR_FILE["officers"], strict=True):
            private = ec.derive_private_key(int(officer["encryption_private_key"], 16), ec.SECP256R1())
            assert share["y"] == envelope.unwrap_share(header, officer["id"], private).y.hex()
        assert result["wrong_key"] == "envelope_wrong_key"


def test_a_bidder_enrols_seals_uploads_and_the_bid_opens_in_python(app, client, factory, new_page, release, tmp_path):
    section = open_section(client, factory)
    bidder = factory.user(Role.BIDDER)
    section_id, username, org_id = section.id, bidder.username, bidder.organisation_id
    release()
    page = new_page()
    sign_in(page, username)
    enrol_in_page(page)
    open_bid_panel(page, section_id)

    # the price form is checked in the page, field by field, before anything is sealed
    _fill_form(page, dict(PRICES, total_price="12.345", duration_days="一年"))
    page.click("[data-role=submit]")
    assert "最多两位小数" in page.inner_text("#pf-total_price-error")
    assert "应为整数" in page.inner_text("#pf-duration_days-error")
    assert page.get_attribute("#pf-total_price", "aria-invalid") == "true"

    technical = ("施工组织设计.txt", "技术标：本项目施工组织设计……".encode() * 12000)
    commercial = ("commercial.bin", bytes(range(256)) * 800)
    _fill_form(page, PRICES)
    _submit(page, tmp_path, {"technical": [technical], "commercial": [commercial]})
    _wait_done(page)
    assert page.locator("[data-role=bids] tr[data-state=submitted] [data-verified=true]").count() == 1

    bid = db.session.scalar(sa.select(Bid).where(Bid.organisation_id == org_id))
    stored = Path(app.config["STORAGE_DIR"], bid.storage_key).read_bytes()
    receipt = json.loads(db.session.scalar(sa.select(Receipt.document).where(Receipt.bid_id == bid.id)))
    platform = client.get("/api/v1/platform/certificates").get_json()
    signer_pem, bid_id = bid.signer_certificate.pem, bid.id
    release()
    payload = verify_document(receipt, x509ca.load_certificate(platform["signing"].encode()))
    assert payload["size"] == len(stored) and payload["kind"] == "submitted" and payload["bid"] == bid_id
    signer = x509ca.load_certificate(signer_pem.encode())
    header = envelope.read_header(io.BytesIO(stored))
    summary = envelope.verify_envelope(io.BytesIO(stored), expected_ids=header.ids, bidder_signing_cert=signer)
    assert summary.ciphertext_digest.hex() == payload["ciphertext_digest"]

    content_key = unwrap_in_page(page, stored)
    package = open_with(content_key, stored, header.ids, signer)
    package_path = Path(app.instance_path) / "opened-bid.zip"
    package_path.write_bytes(package)
    manifest = read_manifest(package_path)  # checks every file against its SHA-256 in the manifest
    assert manifest["price_form"] == {"total_price": "1234567.80", "duration_days": 365, "quality": "合格",
                                      "project_manager": "张三"}
    assert envelope.BidIds(**manifest["ids"]) == header.ids
    with zipfile.ZipFile(package_path) as archive:
        assert archive.read(f"modules/technical/{technical[0]}") == technical[1]
        assert archive.read(f"modules/commercial/{commercial[0]}") == commercial[1]
    assert manifest["fingerprint"]["tool_version"].startswith("bidhall-web")


def test_a_bid_sealed_by_python_is_unwrapped_in_the_browser(app, client, factory, new_page, release):
    section = open_section(client, factory)
    bidder = factory.user(Role.BIDDER)
    section_id, username, org_id = section.id, bidder.username, bidder.organisation_id
    headers = factory.token(client, bidder)
    release()
    page = new_page()
    sign_in(page, username)
    enrol_in_page(page)
    # bidtool holds its own signing key for the same organisation; the bid is sealed to the browser's
    # encryption certificate, whose private key never left the page
    python_side = enrol(client, headers)
    browser_cert = db.session.scalar(sa.select(Certificate).where(
        Certificate.organisation_id == org_id, Certificate.purpose == Purpose.ENCRYPTION)
        .order_by(Certificate.id))
    info = client.get(f"/api/v1/sections/{section_id}/sealing", headers=headers).get_json()
    browser_encryption = browser_cert.x509
    release()
    plaintext = "投标报价：1234567.80元".encode() * 5000
    out = io.BytesIO()
    ids = envelope.BidIds(**info["ids"])
    envelope.seal(io.BytesIO(plaintext), out, ids=ids, bidder_signing_key=python_side.signing_key,
                  bidder_signing_cert=python_side.signing_cert, bidder_encryption_cert=browser_encryption,
                  officers=[(o["officer"], x509ca.load_certificate(o["certificate"].encode()))
                            for o in info["officers"]],
                  threshold=info["threshold"], chunk_size=16384)
    content_key = unwrap_in_page(page, out.getvalue())
    assert open_with(content_key, out.getvalue(), ids, python_side.signing_cert) == plaintext


def test_certificate_sign_in_in_the_page(app, factory, new_page, release, csrf_checked):
    bidder = factory.user(Role.BIDDER)
    other = factory.user(Role.BIDDER)
    username, other_name, display = bidder.username, other.username, bidder.display_name
    release()
    csrf_checked()
    page = new_page()
    sign_in(page, username)
    enrol_in_page(page)
    page.click("form[action='/logout'] button")
    page.goto("/login/certificate?next=/certificates")
    page.wait_for_selector("#certificate-login[data-ready=true]")
    assert page.input_value("#cert-username") == username
    # the key belongs to this bidder's organisation, not to another bidder's account
    page.fill("#cert-username", other_name)
    page.click("#certificate-login button[type=submit]")
    page.wait_for_selector("#certificate-login [data-role=status][data-kind=error]")
    assert "不属于" in page.inner_text("#certificate-login [data-role=status]")
    page.fill("#cert-username", username)
    page.click("#certificate-login button[type=submit]")
    page.wait_for_url("**/certificates")
    assert display in page.inner_text("header .who")
    # a revoked certificate no longer signs anyone in
    page.wait_for_selector("body[data-certificates-ready=true]")
    page.once("dialog", lambda dialog: dialog.accept("CA锁所在电脑遗失"))
    page.click("[data-role=certificates] tr[data-purpose=signing] [data-revoke]")
    page.wait_for_selector("[data-role=certificates] tr[data-purpose=signing][data-status=revoked]")
    page.click("form[action='/logout'] button")
    page.goto("/login/certificate")
    page.wait_for_selector("#certificate-login[data-ready=true]")
    page.click("#certificate-login button[type=submit]")
    page.wait_for_selector("#certificate-login [data-role=status][data-kind=error]")
    assert "吊销" in page.inner_text("#certificate-login [data-role=status]")


def test_an_interrupted_upload_resumes_after_a_reload(app, client, factory, new_page, release, tmp_path):
    """~20 MB sealed in 1 MiB chunks; the connection drops after 3 MiB; a reload carries on at the server's offset."""
    section = open_section(client, factory)
    bidder = factory.user(Role.BIDDER)
    section_id, username, org_id = section.id, bidder.username, bidder.organisation_id
    release()
    page = new_page()
    sign_in(page, username)
    enrol_in_page(page)
    open_bid_panel(page, section_id)
    seen = {"passed": 0, "dropped": 0}

    def flaky_network(route):
        if seen["passed"] < 3:
            seen["passed"] += 1
            route.continue_()
        else:
            seen["dropped"] += 1
            route.abort("connectionreset")

    page.route("**/api/v1/uploads/*/chunks*", flaky_network)
    drawings = bytes(hashlib.shake_256(b"drawings").digest(20 << 20))
    _fill_form(page, PRICES)
    _submit(page, tmp_path, {"technical": [("图纸.dwg", drawings)], "qualification": [("营业执照.pdf", b"%PDF-1.4 licence")]})
    while not seen["dropped"]:
        page.wait_for_timeout(100)
    upload = db.session.scalar(sa.select(BidUpload).where(BidUpload.organisation_id == org_id))
    upload_id, received, size = upload.id, upload.received, upload.size
    release()
    assert received == 3 << 20 and size > 20 << 20

    page.unroute("**/api/v1/uploads/*/chunks*")
    offsets = []
    page.on("request", lambda request: offsets.append(int(request.url.rsplit("offset=", 1)[1]))
            if "/chunks?offset=" in request.url else None)
    page.reload()
    _wait_done(page)
    assert offsets[0] == 3 << 20 and page.get_attribute("[data-role=progress]", "data-resumed-at") == str(3 << 20)
    assert page.locator("[data-role=bids] tr[data-state=submitted] [data-verified=true]").count() == 1

    uploads = db.session.scalars(sa.select(BidUpload.id).where(BidUpload.organisation_id == org_id)).all()
    bid = db.session.scalar(sa.select(Bid).where(Bid.organisation_id == org_id))
    stored = Path(app.config["STORAGE_DIR"], bid.storage_key).read_bytes()
    signer = bid.signer_certificate.x509
    release()
    assert uploads == [upload_id] and len(stored) == size
    header = envelope.read_header(io.BytesIO(stored))
    summary = envelope.verify_envelope(io.BytesIO(stored), expected_ids=header.ids, bidder_signing_cert=signer)
    assert summary.chunk_count > 20
    package = open_with(unwrap_in_page(page, stored), stored, header.ids, signer)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.read("modules/technical/图纸.dwg") == drawings


def test_replace_and_withdraw_before_the_deadline_then_the_panel_closes(app, client, factory, new_page, release,
                                                                        tmp_path, csrf_checked):
    section = open_section(client, factory)
    bidder = factory.user(Role.BIDDER)
    section_id, username, org_id = section.id, bidder.username, bidder.organisation_id
    release()
    csrf_checked()
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, username)
    enrol_in_page(page)
    open_bid_panel(page, section_id)
    _fill_form(page, PRICES)
    _submit(page, tmp_path, {"commercial": [("商务标.txt", "第一版".encode() * 1000)]})
    _wait_done(page)
    assert page.inner_text("[data-role=submit]") == "加密并替换已递交的投标文件"
    _fill_form(page, dict(PRICES, total_price="1200000"))
    _submit(page, tmp_path, {"commercial": [("商务标.txt", "第二版".encode() * 1000)]})
    page.wait_for_selector("[data-role=bids] tr[data-state=replaced]", timeout=60000)
    page.click("[data-role=bids] tr[data-state=submitted] [data-withdraw]")
    page.wait_for_selector("[data-role=bids] tr[data-state=withdrawn]")
    assert page.locator("[data-verified=true]").count() == 3 and page.locator("[data-verified=false]").count() == 0
    bids = db.session.scalars(sa.select(Bid).where(Bid.organisation_id == org_id).order_by(Bid.id)).all()
    assert [b.state for b in bids] == [BidState.REPLACED, BidState.WITHDRAWN]
    db.session.get(Section, section_id).deadline = now() - timedelta(minutes=1)
    db.session.commit()
    release()
    page.reload()
    page.wait_for_selector("#bid-panel[data-ready=true]")
    page.wait_for_function("() => document.querySelector('[data-role=submit]').disabled")
    assert "截止" in page.inner_text("[data-role=status]")


def test_escrow_shares_wrapped_with_rsa_oaep_interoperate(app, new_page, release):
    """An opening officer may hold an RSA encryption certificate (bidtool --algorithm RSA-OAEP-SHA256)."""
    release()
    ca = x509ca.PlatformCA.create("test CA")

    def holder(name: str, identifier: str, algorithm: str = x509ca.ECDH_P256):
        signing_key = x509ca.generate_signing_key()
        signing = ca.issue_signing_certificate(x509ca.create_signing_request(signing_key, name),
                                               x509ca.Holder(name, identifier, "bidder"))
        key = x509ca.generate_encryption_key(algorithm, rsa_bits=2048)
        encryption = ca.issue_encryption_certificate(
            x509ca.create_encryption_request(key.public_key(), signing_key, signing), signing, revoked_serials=set())
        return signing_key, signing, key, encryption

    def der(cert) -> str:
        return cert.public_bytes(serialization.Encoding.DER).hex()

    bidder_key, bidder_signing, _bidder_encryption_key, bidder_encryption = holder("投标人", "91350100M000100Y43")
    rsa_key, rsa_cert = holder("监督 李工", "user:2", x509ca.RSA_OAEP)[2:]
    ec_key, ec_cert = holder("代理 王工", "user:1")[2:]
    ids = envelope.BidIds("E3504219400202007001", "E3504219400202007001-01", "91350100M000100Y43")
    officers = [("user:1", ec_cert), ("user:2", rsa_cert)]
    python_sealed = io.BytesIO()
    envelope.seal(io.BytesIO(b"python bid"), python_sealed, ids=ids, bidder_signing_key=bidder_key,
                  bidder_signing_cert=bidder_signing, bidder_encryption_cert=bidder_encryption, officers=officers,
                  threshold=2, chunk_size=4096)
    python_header = envelope.read_header(io.BytesIO(python_sealed.getvalue()))
    page = new_page()
    page.goto("/login/certificate")
    out = page.evaluate((JS / "rsa_escrow.js").read_text(), {
        "signingScalar": bidder_key.private_numbers().private_value.to_bytes(32, "big").hex(),
        "signingCert": der(bidder_signing), "encryptionCert": der(bidder_encryption),
        "officers": [{"id": officer, "certificate": der(cert)} for officer, cert in officers],
        "ids": {"project": ids.project, "section": ids.section, "bidder": ids.bidder},
        "rsaPkcs8": rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).hex(),
        "pythonHeader": python_sealed.getvalue()[:python_header.size].hex(), "rsaOfficer": "user:2"})
    # the page's RSA-OAEP unwrap of a Python-made share
    assert out["share"]["y"] == envelope.unwrap_share(python_header, "user:2", rsa_key).y.hex()
    # the page's RSA-OAEP wrap opens in Python: two officers' shares rebuild the key and open the bid
    sealed = bytes.fromhex(out["sealed"])
    header = envelope.read_header(io.BytesIO(sealed))
    assert [share.wrap.algorithm for share in header.shares] == ["ECDH-ES-P256-HKDF-SHA256-A256GCM", "RSA-OAEP-SHA256"]
    key = envelope.combine_shares(header, [envelope.unwrap_share(header, "user:1", ec_key),
                                           envelope.unwrap_share(header, "user:2", rsa_key)])
    assert open_with(key, sealed, ids, bidder_signing) == "RSA 托管测试".encode() * 3000
