"""Modular review: one module of every bid side by side, each file served inline for the browser's viewer."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import quote

from flask import current_app

from core.accounts import Role
from core.db import db
from evaluation.evaluation_models import EvaluatedBid
from tests.evaluation import evaluation_helpers as eh


def test_experts_read_one_module_of_every_bid_side_by_side_inline(app, factory):
    world = eh.build(app, factory, prices=(920, 950, 980))
    seats = eh.seat_everyone(world)
    expert = seats[0].client
    room = expert.get(f"/evaluations/{world.evaluation_id}").get_data(as_text=True)
    assert "技术标" in room and "资格审查文件" in room
    page = expert.get(f"/evaluations/{world.evaluation_id}/modules/technical").get_data(as_text=True)
    names = [b.user.organisation.name for b in world.bidders]
    assert all(name in page for name in names) and page.count('class="bid-column"') == 3
    view = eh.state(world, seats[0])
    bidder = view["bidders"][0]["id"]
    base = f"/evaluations/{world.evaluation_id}/bids/{bidder}"
    pdf = expert.get(f"{base}/technical/{quote('进度计划.pdf')}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("inline;")
    assert "Content-Security-Policy" not in pdf.headers  # the browser's PDF viewer needs an unsandboxed document
    text = expert.get(f"{base}/technical/{quote('施工组织设计.txt')}")
    assert text.mimetype == "text/plain" and "项目经理0" in text.get_data(as_text=True)
    assert "sandbox" in text.headers["Content-Security-Policy"] and text.headers["X-Content-Type-Options"] == "nosniff"
    image = expert.get(f"{base}/qualification/{quote('营业执照.png')}")
    assert image.mimetype == "image/png" and image.headers["Content-Disposition"].startswith("inline;")
    assert expert.get(f"{base}/technical/{quote('../bidhall-bid.json')}").status_code == 404
    # the parties may not read the bids; supervisors may
    assert world.agent_client.get(f"{base}/technical/{quote('进度计划.pdf')}").status_code == 403
    supervisor = eh.login(app, factory, world.supervisor)
    assert supervisor.get(f"/evaluations/{world.evaluation_id}/modules/technical").status_code == 200
    outsider = eh.login(app, factory, factory.user(Role.EXPERT))
    assert outsider.get(f"/evaluations/{world.evaluation_id}/modules/technical").status_code == 404


def test_a_file_that_no_longer_matches_the_manifest_is_not_shown(app, factory):
    world = eh.build(app, factory, prices=(920, 950, 980))
    seats = eh.seat_everyone(world)
    bidder = eh.state(world, seats[0])["bidders"][1]
    bid_id = db.session.get(EvaluatedBid, bidder["id"]).bid_id
    target = Path(current_app.config["STORAGE_DIR"]) / "opened" / f"{bid_id}.zip"
    with zipfile.ZipFile(target) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["modules/technical/施工组织设计.txt"] = "被替换的内容".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    target.write_bytes(out.getvalue())
    response = seats[0].client.get(f"/evaluations/{world.evaluation_id}/bids/{bidder['id']}/technical/"
                                   f"{quote('施工组织设计.txt')}", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "file_mismatch"
