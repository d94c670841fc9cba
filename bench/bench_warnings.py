"""Benchmark: the warning engine over 10,000 projects (issue 9: under 2 s).

    .venv/bin/python bench/bench_warnings.py [--projects 10000] [--runs 5] [--database-url URL]

A throwaway SQLite database (or the given URL) is filled with one section per project, spread over every stage
from bidding to the closed contract, deadlines from four months ago to a month ahead, with bids, openings,
reports, publicity, awards and contracts as their stage has them and a few steps late, so the lights are
mostly green with some yellow and red. Filling is not timed. Then it times, each the median of ``--runs``:

- read: ``supervision.facts.collect`` of every section (the bulk queries);
- judge: every supervision point of every section (a fresh Judge per pass, its memo cold);
- a full pass (read, judge, bring the warnings up to date, commit) once the warnings exist (steady state);
and the first full pass, which raises every warning, once.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fill(projects: int, seed: int = 20261121) -> None:
    import sqlalchemy as sa

    from core.accounts import Organisation, OrgKind, Role, User
    from core.clock import now
    from core.db import db
    from core.pki import Certificate
    from supervision.award_models import Award, Candidate, Contract, EvaluationResult
    from trading.bids import Bid
    from trading.models import Project, Section
    from trading.opening import Opening

    rng = random.Random(seed)
    moment = now()
    orgs = [Organisation(name=f"基准单位{i}", kind=kind, credit_code=f"91350900MB{i:08d}", region_code="350902")
            for i, kind in enumerate([OrgKind.TENDEREE, OrgKind.AGENCY] + [OrgKind.BIDDER] * 20)]
    db.session.add_all(orgs)
    db.session.flush()
    agent = User(username="bench-agent", display_name="基准代理", role=Role.AGENT, organisation_id=orgs[1].id,
                 password_hash="x")
    db.session.add(agent)
    db.session.flush()
    certificate = Certificate(serial="bench", fingerprint="bench", purpose="signing", algorithm="P-256",
                              holder_name="bench", holder_identifier="bench", holder_role="bidder", pem="bench",
                              not_before=moment, not_after=moment, requested_by_id=agent.id)
    db.session.add(certificate)
    db.session.flush()
    bidders = [o.id for o in orgs[2:]]
    rows = {name: [] for name in ("projects", "sections", "bids", "openings", "results", "candidates", "awards",
                                  "contracts")}
    for n in range(1, projects + 1):
        deadline = moment + timedelta(days=rng.uniform(-120, 30))
        issue_start = deadline - timedelta(days=rng.choice((25, 25, 25, 25, 25, 21, 18)))
        code = f"E350902{n:08d}0{n % 10:04d}"[:20]
        rows["projects"].append(dict(id=n, code=code, name=f"基准工程{n}", type="works", method="open",
                                     budget=Decimal(20000000), ceiling_price=Decimal(19000000), region_code="350902",
                                     tenderee_id=orgs[0].id, agency_id=orgs[1].id, created_by_id=agent.id,
                                     state="published", published_at=issue_start, notice_text=""))
        days = (moment - deadline).total_seconds() / 86400
        report = deadline + timedelta(days=rng.uniform(5, 9))
        publicity = report + timedelta(days=rng.choice((1, 1, 2, 4)))
        award = publicity + timedelta(days=rng.uniform(4, 8))
        notice = award + timedelta(hours=rng.uniform(1, 40))
        signed = notice + timedelta(days=rng.uniform(5, 33))
        state = ("bidding" if days < 0 else "evaluation" if moment < publicity else "publicity" if moment < award
                 else "awarded" if moment < signed else "contracted")
        rows["sections"].append(dict(id=n, project_id=n, code=f"{code}001", name="第1标段",
                                     ceiling_price=Decimal(9000000), bid_security_amount=Decimal(100000),
                                     bid_validity_days=90, evaluation_method="works_reviewed_lowest_bid_price",
                                     state=state, notice_at=issue_start, issue_start=issue_start,
                                     issue_end=issue_start + timedelta(days=rng.choice((7, 7, 7, 7, 6, 4))),
                                     clarification_deadline=deadline - timedelta(days=16), deadline=deadline))
        if state == "bidding":
            continue
        chosen = rng.sample(bidders, rng.choice((2, 3, 4, 5, 6, 7, 8)))
        for k, org in enumerate(chosen):
            rows["bids"].append(dict(section_id=n, organisation_id=org, submitted_by_id=agent.id, state="submitted",
                                     storage_key=f"bids/{n}-{k}", size=1, plaintext_size=1, chunk_count=1,
                                     ciphertext_digest="0" * 64, header_hash="0" * 64,
                                     signer_certificate_id=certificate.id, submitted_at=deadline - timedelta(hours=k + 1)))
        rows["openings"].append(dict(id=n, section_id=n, state="closed", opened_at=deadline,
                                     closed_at=deadline + timedelta(hours=rng.choice((1, 1, 2, 2, 2, 30)))))
        if moment < report:
            continue
        rows["results"].append(dict(id=n, section_id=n, received_at=report,
                                    publicity_started_at=publicity if moment >= publicity else None,
                                    publicity_ends_at=publicity + timedelta(days=4) if moment >= publicity else None))
        rows["candidates"].append(dict(id=n, result_id=n, rank=1, organisation_id=chosen[0], price=Decimal(8500000)))
        if state in ("awarded", "contracted"):
            rows["awards"].append(dict(id=n, section_id=n, result_id=n, candidate_id=n, organisation_id=chosen[0],
                                       rank=1, amount=Decimal(8500000), decided_at=award, decided_by_id=agent.id,
                                       notice_issued_at=notice if moment >= notice else None,
                                       report_filed_at=award + timedelta(days=3) if rng.random() < 0.9 else None))
        if state == "contracted":
            rows["contracts"].append(dict(section_id=n, award_id=n, signed_at=signed, amount=Decimal(8500000),
                                          recorded_at=signed, recorded_by_id=agent.id))
    for model, key in ((Project, "projects"), (Section, "sections"), (Bid, "bids"), (Opening, "openings"),
                       (EvaluationResult, "results"), (Candidate, "candidates"), (Award, "awards"),
                       (Contract, "contracts")):
        for start in range(0, len(rows[key]), 5000):
            db.session.execute(sa.insert(model), rows[key][start:start + 5000])
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-warnings-"))
    try:
        run(args, instance)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def run(args, instance: Path) -> None:
    from core import create_app
    from core.db import db

    app = create_app({"settings": {"instance_dir": instance, "storage_dir": instance / "storage",
                                   "database_url": args.database_url or f"sqlite:///{instance / 'bench.sqlite3'}",
                                   "secret_key": "bench-secret-" + "x" * 40}})
    with app.app_context():
        import core.all_models  # noqa: F401

        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        fill(args.projects)
        print(f"{args.projects:,} projects written in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")
        from supervision import facts
        from supervision import warnings as engine
        from supervision.points import evaluate

        first = time.perf_counter()
        summary = engine.run(None)
        db.session.commit()
        first = time.perf_counter() - first
        print(f"first full pass: {first:.2f} s, {summary.raised:,} warnings raised")
        timings = {"read": [], "judge": [], "full pass": []}
        lights: dict[str, int] = {}
        for _ in range(args.runs):
            db.session.expunge_all()
            t0 = time.perf_counter()
            found = facts.collect(None)
            t1 = time.perf_counter()
            judge = engine.judge()
            results = [evaluate(f, judge) for f in found.values()]
            t2 = time.perf_counter()
            timings["read"].append(t1 - t0)
            timings["judge"].append(t2 - t1)
            t3 = time.perf_counter()
            engine.run(None)
            db.session.commit()
            timings["full pass"].append(time.perf_counter() - t3)
        for per_section in results:
            for result in per_section:
                lights[result.light.value] = lights.get(result.light.value, 0) + 1
        points = sum(lights.values())
        print(f"{len(found):,} sections, {points:,} point results: " +
              ", ".join(f"{k} {v:,}" for k, v in sorted(lights.items())))
        for key, values in timings.items():
            print(f"{key:>10}: median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})")
        read_judge = statistics.median(timings["read"]) + statistics.median(timings["judge"])
        print(f"engine (read + judge) over {args.projects:,} projects: {read_judge:.2f} s — target < 2 s")


if __name__ == "__main__":
    main()
