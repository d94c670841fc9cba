"""bidtool end to end over HTTP: log in, enrol, fill the form, seal, upload with a resume, verify the receipt."""
import json

import pytest

from bidtool import cli
from bidtool.client import Platform
from core.accounts import Role
from tests.factories import PASSWORD
from tests.pki_helpers import enrol


@pytest.fixture()
def section_with_officers(app, client, factory):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    officers = [agent, factory.user(Role.SUPERVISOR), factory.user(Role.ADMIN)]
    for officer in officers:
        enrol(client, factory.token(client, officer), for_organisation=False)
    client.put(f"/api/v1/sections/{section.id}/officers", headers=factory.token(client, agent),
               json={"user_ids": [o.id for o in officers], "threshold": 2})
    return section.id, factory.user(Role.BIDDER).username


def run(home, *argv):
    return cli.main(["--home", str(home), *argv])


def test_the_bidder_prepares_seals_uploads_and_verifies_with_bidtool(section_with_officers, live_server, release,
                                                                       tmp_path, monkeypatch, capsys):
    section_id, username = section_with_officers
    release()
    home = tmp_path / "home"
    monkeypatch.setenv("BIDTOOL_KEY_PASSWORD", "key-password-123")
    assert run(home, "login", "--server", live_server, "--username", username, "--login-password", PASSWORD) == 0
    assert run(home, "enrol") == 0
    assert run(home, "form", str(section_id)) == 0
    assert "total_price" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"total_price": "一百万", "duration_days": "365", "quality": "合格"}), encoding="utf-8")
    with pytest.raises(SystemExit):
        run(home, "form", str(section_id), "--values", str(bad))
    problems = capsys.readouterr().err
    assert "total_price" in problems and "project_manager" in problems
    form = tmp_path / "form.json"
    form.write_text(json.dumps({"total_price": "8,650,000.00", "duration_days": "365", "quality": "合格",
                                "project_manager": "周建国"}), encoding="utf-8")
    assert run(home, "form", str(section_id), "--values", str(form)) == 0
    technical = tmp_path / "technical"
    technical.mkdir()
    (technical / "施工组织设计.txt").write_text("施工组织设计正文" * 20000, encoding="utf-8")
    (tmp_path / "资格证明.pdf").write_bytes(b"%PDF-1.4 qualification")
    sealed = tmp_path / "bid.sealed"
    assert run(home, "seal", str(section_id), "--form", str(form), "--module", f"technical={technical}",
               "--module", f"qualification={tmp_path / '资格证明.pdf'}", "--out", str(sealed)) == 0

    # the connection drops after the first chunk; a second run resumes at the server's offset
    original, calls = Platform.call, {"puts": 0}

    def flaky(self, method, path, **kwargs):
        if method == "PUT":
            calls["puts"] += 1
            if calls["puts"] == 2:
                raise ConnectionError("connection reset by peer")
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(Platform, "call", flaky)
    assert run(home, "upload", str(section_id), str(sealed), "--chunk", "65536") == 1
    assert "connection reset" in capsys.readouterr().err
    monkeypatch.setattr(Platform, "call", original)
    assert run(home, "upload", str(section_id), str(sealed), "--chunk", "65536") == 0
    assert "继续上传" in capsys.readouterr().out
    receipt = sealed.with_name(sealed.name + ".receipt.json")
    assert run(home, "verify-receipt", str(receipt), "--bid", str(sealed)) == 0
    assert "回执有效" in capsys.readouterr().out
    doc = json.loads(receipt.read_text(encoding="utf-8"))
    doc["payload"]["size"] += 1
    receipt.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SystemExit) as failed:
        run(home, "verify-receipt", str(receipt))
    assert "回执无效" in str(failed.value)
