"""Benchmark: bid-rigging clues of a section with 200 opened bids, each with a 1 MiB technical module, read from
the platform's records (issue 9: the analysis under 10 s).

    .venv/bin/python bench/bench_collusion_db.py [--bids 200] [--mib 1.0] [--runs 3]

bench/bench_collusion.py times the pure analysis on generated evidence; this times what the supervisor's button
does on top: ``supervision.collusion_evidence.build_evidence`` reads every bid's decryption record (manifest and
price form), its upload and decryption IPs and the deposit accounts, opens every decrypted bid package (a ZIP in
the storage folder, as the opening leaves it) and extracts the technical module's text, then the analysis runs
and the report is stored (``run_analysis``). The section, the bids and their opened packages are written straight
into the database and the storage folder (not timed); a few near-duplicate technical modules, a shared machine
fingerprint and a price ladder (among bids uploaded from one address) are planted, and the benchmark says whether
each was found.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import random
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _package(n: int, text: str, price: Decimal, machine: str) -> bytes:
    from crypto.canonical import canonical_json

    technical = text.encode()
    digest = lambda what: hashlib.sha256(f"{n}:{what}".encode()).hexdigest()
    manifest = {"format": "bidhall.bid-package.v1", "ids": {},
                "price_form": {"total_price": f"{price:.2f}", "project_manager": f"经理{n}"},
                "modules": {"technical": [{"path": "技术标.txt", "size": len(technical),
                                           "sha256": hashlib.sha256(technical).hexdigest()}]},
                "fingerprint": {"machine_id_sha256": machine, "mac_sha256": digest("mac"), "host_sha256": digest("host")}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bidhall-bid.json", canonical_json(manifest))
        archive.writestr("modules/technical/技术标.txt", technical)
    return out.getvalue(), manifest


def fill(bids: int, size: int, storage: Path):
    """A section after its opening: ``bids`` decrypted bids with their packages in storage. Returns what was planted."""
    import json

    from core.accounts import Organisation, OrgKind, Role, User
    from core.clock import now
    from core.db import db
    from core.pki import Certificate
    from supervision.collusion.synthetic import rewrite_sentences, technical_text
    from trading.bids import Bid
    from trading.models import PriceFieldType, PriceFormField, Project, Section
    from trading.opening import BidDecryption, Opening

    rng = random.Random(20261121)
    moment = now()
    orgs = [Organisation(name=f"基准投标人{i:04d}", kind=OrgKind.BIDDER, credit_code=f"91350900MC{i:08d}",
                         region_code="350902") for i in range(bids + 2)]
    db.session.add_all(orgs)
    db.session.flush()
    agent = User(username="bench-agent", display_name="基准代理", role=Role.AGENT, organisation_id=orgs[0].id,
                 password_hash="x")
    db.session.add(agent)
    db.session.flush()
    certificates = [Certificate(serial=f"bench{i}", fingerprint=f"bench{i}", purpose="signing", algorithm="P-256",
                                holder_name="bench", holder_identifier=f"bench{i}", holder_role="bidder", pem="bench",
                                not_before=moment, not_after=moment, requested_by_id=agent.id) for i in range(bids)]
    project = Project(code="E3509020001202611099", name="基准道路工程", type="works", method="open",
                      budget=Decimal(20000000), ceiling_price=Decimal(19000000), region_code="350902",
                      tenderee_id=orgs[0].id, agency_id=orgs[1].id, created_by_id=agent.id, state="published")
    db.session.add_all([*certificates, project])
    db.session.flush()
    deadline = moment - timedelta(hours=2)
    section = Section(project_id=project.id, code=project.code + "001", name="第1标段", ceiling_price=Decimal(12850000),
                      bid_security_amount=Decimal(0), evaluation_method="works_reviewed_lowest_bid_price",
                      state="evaluation", notice_at=deadline - timedelta(days=25), issue_start=deadline - timedelta(days=25),
                      issue_end=deadline - timedelta(days=18), clarification_deadline=deadline - timedelta(days=16),
                      deadline=deadline)
    db.session.add(section)
    db.session.flush()
    db.session.add(PriceFormField(section_id=section.id, key="total_price", label="投标总价(元)",
                                  type=PriceFieldType.MONEY, position=0))
    opening = Opening(section_id=section.id, state="closed", opened_at=deadline, closed_at=deadline)
    db.session.add(opening)
    db.session.flush()
    folder = storage / "opened"
    folder.mkdir(parents=True, exist_ok=True)
    base = technical_text(rng, size)
    copies = {5: 6, 40: 41, 120: 121}  # near-duplicate technical modules
    shared_machine = hashlib.sha256(b"one desk").hexdigest()
    ladder = {10: Decimal(11000000), 11: Decimal(11200000), 12: Decimal(11400000)}
    texts: dict[int, str] = {}
    for n in range(bids):
        if n in copies.values():
            text = rewrite_sentences(texts[next(k for k, v in copies.items() if v == n)], rng, 0.03)
        else:
            text = technical_text(rng, size) if n else base
        texts[n] = text
        price = ladder.get(n, Decimal(rng.randrange(9_000_000, 12_800_000)))
        machine = shared_machine if n in (70, 71) else hashlib.sha256(f"{n}:machine".encode()).hexdigest()
        data, manifest = _package(n, text, price, machine)
        bid = Bid(section_id=section.id, organisation_id=orgs[n + 2].id, submitted_by_id=agent.id, state="submitted",
                  storage_key=f"bids/{n}", size=len(data), plaintext_size=len(data), chunk_count=1,
                  ciphertext_digest="0" * 64, header_hash="0" * 64, signer_certificate_id=certificates[n].id,
                  submitted_at=deadline - timedelta(minutes=rng.randrange(60, 60 * 24 * 10)),
                  upload_ip="58.22.1.9" if n in ladder else  # the ladder's bids came from one address
                  f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        db.session.add(bid)
        db.session.flush()
        (folder / f"{bid.id}.zip").write_bytes(data)
        db.session.add(BidDecryption(opening_id=opening.id, bid_id=bid.id, state="decrypted", decrypted_at=deadline,
                                     plaintext_key=f"opened/{bid.id}.zip", decryption_ip=bid.upload_ip,
                                     price_form=json.dumps({"total_price": f"{price:.2f}"}),
                                     manifest=json.dumps({k: manifest[k] for k in ("modules", "fingerprint")})))
    db.session.commit()
    return section, copies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--mib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-collusion-"))
    try:
        from core import create_app
        from core.db import db

        app = create_app({"settings": {"instance_dir": instance, "storage_dir": instance / "storage",
                                       "database_url": f"sqlite:///{instance / 'bench.sqlite3'}",
                                       "secret_key": "bench-secret-" + "x" * 40}})
        with app.app_context():
            import core.all_models  # noqa: F401

            db.create_all()
            started = time.perf_counter()
            section, copies = fill(args.bids, int(args.mib * (1 << 20)), instance / "storage")
            print(f"{args.bids} opened bids of {args.mib} MiB written in {time.perf_counter() - started:.1f} s")
            from supervision.collusion_evidence import build_evidence, run_analysis

            timings = {"read evidence": [], "whole run": []}
            for _ in range(args.runs):
                t0 = time.perf_counter()
                build_evidence(section)
                timings["read evidence"].append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                analysis = run_analysis(section)
                db.session.commit()
                timings["whole run"].append(time.perf_counter() - t1)
            for key, values in timings.items():
                print(f"{key:>14}: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})")
            report = analysis.data
            bidders = analysis.bidder_map
            index = {b["name"]: int(b["name"][-4:]) - 2 for b in bidders.values()}
            text_pairs = {tuple(sorted(index[bidders[str(i)]["name"]] for i in e["bid_ids"]))
                          for e in report["evidence"] if e["indicator"] == "similar_technical_text"}
            found = {e["indicator"] for e in report["evidence"]}
            print(f"near-duplicate pairs found: {sorted(text_pairs)} (planted {sorted(copies.items())}); "
                  f"shared machine id found: {'same_machine_id' in found}; price ladder found: "
                  f"{'price_progression' in found}; clues: {len(report['evidence'])}")
            print(f"whole run (read + analyse + store) for {args.bids} bids: "
                  f"{statistics.median(timings['whole run']):.2f} s — target < 10 s")
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
