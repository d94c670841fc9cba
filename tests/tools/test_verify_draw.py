"""tools/verify_draw.py: the standalone verifier a member of the public runs on a published draw record."""
from __future__ import annotations

import copy
import importlib.util
import json
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.draw import (
    DrawCeremony,
    DrawShortfall,
    PoolEntry,
    apply_replacements,
    draw_record,
    select_committee,
    verify_record,
)
from tests.crypto.test_draw import RECORDS

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "verify_draw.py"


def run_script(*args: str, script: Path = SCRIPT) -> subprocess.CompletedProcess:
    """``-I -S``: isolated and without site-packages, so only the standard library can be imported."""
    return subprocess.run([sys.executable, "-I", "-S", str(script), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def write(tmp_path: Path, record: dict, name: str = "record.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_published_vector_verifies_with_only_the_standard_library(tmp_path, name):
    lone = tmp_path / "verify_draw.py"
    shutil.copy(SCRIPT, lone)  # nothing of the platform beside it
    done = run_script(str(write(tmp_path, RECORDS[name])), "--commitment", RECORDS[name]["commitment"], script=lone)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok  commitment matches the revealed secret" in done.stdout
    assert done.stdout.strip().endswith("VERIFIED  the draw follows from the published record")


def test_a_tampered_member_is_named_and_exits_1(tmp_path):
    record = copy.deepcopy(RECORDS["experts-local"])
    record["result"]["members"][2]["id"] = "E010"
    done = run_script(str(write(tmp_path, record)))
    assert done.returncode == 1
    assert "MISMATCH  result.members[2].id expected 'E004' got 'E010'" in done.stdout


def test_a_record_other_than_the_announced_one_exits_1(tmp_path):
    done = run_script(str(write(tmp_path, RECORDS["value"])), "--commitment", "00" * 32)
    assert done.returncode == 1
    assert "commitment differs from the one published in the audit log" in done.stdout


def test_an_unreadable_record_exits_2(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    assert run_script(str(path)).returncode == 2
    assert run_script(str(tmp_path / "missing.json")).returncode == 2


def test_a_malformed_record_is_a_mismatch_not_a_crash(tmp_path):
    record = copy.deepcopy(RECORDS["order"])
    del record["contributions"]
    done = run_script(str(write(tmp_path, record)))
    assert done.returncode == 1 and "malformed" in done.stdout


def load_tool():
    spec = importlib.util.spec_from_file_location("verify_draw_tool", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_record(rng: random.Random) -> dict | None:
    """A draw through the platform's API over a random pool, remote or local, with random declines."""
    ids = sorted(rng.sample(range(10_000), rng.randrange(20, 150)))
    codes = ["A0401", "A0402", "A05", "B0101", "B02", "C"]
    entries = [PoolEntry(f"E{n:05d}", tuple(rng.sample(codes, rng.randrange(1, 3))),
                         rng.choice(["", f"ORG{rng.randrange(30)}"]),
                         rng.choice(["350902", "350102", "350702", "350000", "350202"])) for n in ids]
    quotas = [{"specialty": s, "count": rng.randrange(1, 4), "reserves": rng.randrange(0, 3)}
              for s in rng.sample(["A04", "A05", "B", "C"], rng.randrange(1, 3))]
    request = {"kind": "experts", "quotas": quotas, "one_per_employer": rng.random() < 0.8}
    if rng.random() < 0.5:
        request["venues"] = [{"id": "宁德", "seats": rng.randrange(1, 5), "regions": ["350900"]},
                             {"id": "福州", "seats": rng.randrange(1, 5), "regions": ["350100", "350000"]},
                             {"id": "南平", "seats": 3, "regions": ["3507"]}]
    secret = rng.randbytes(32)
    try:
        ceremony = DrawCeremony.open(secret, request, entries)
        ceremony.contribute("supervisor", f"entropy {rng.random()}", datetime(2025, 3, 10, tzinfo=UTC))
        seed = ceremony.reveal(secret)
        selection = select_committee(seed, request, entries)
    except (DrawShortfall, ValueError):
        return None
    events: list[tuple[str, str]] = []
    for _ in range(rng.randrange(0, 5)):
        committee = apply_replacements(seed, request, entries, selection, events)[1]
        longer = events + [(rng.choice(committee).expert_id, "declined")]
        try:
            apply_replacements(seed, request, entries, selection, longer)
        except DrawShortfall:
            break
        events = longer
    replacements, _ = apply_replacements(seed, request, entries, selection, events)
    return json.loads(json.dumps(draw_record(request, entries, secret, ceremony.contributions, selection,
                                             replacements)))


def test_the_two_implementations_agree_on_random_draws():
    tool = load_tool()
    rng = random.Random(6)
    checked = remote = replaced = 0
    for _ in range(150):
        record = random_record(rng)
        if record is None:
            continue
        assert verify_record(record).ok
        tool.verify(record, say=lambda *_: None)
        tampered = copy.deepcopy(record)
        tampered["result"]["members"][-1]["id"] = "nobody"
        assert not verify_record(tampered).ok
        with pytest.raises(tool.Mismatch, match=r"result\.members\[\d+\]\.id expected"):
            tool.verify(tampered, say=lambda *_: None)
        checked += 1
        remote += "venues" in record["request"]
        replaced += bool(record["replacements"])
    assert checked >= 60 and remote >= 20 and replaced >= 20, (checked, remote, replaced)
