"""The expert draw through the platform (database, sealing, audit) over a generated pool of 100,000 experts.

    .venv/bin/python bench/bench_draw_db.py [--experts 100000] [--runs 5] [--database-url URL]

bench/bench_draw.py times the pure core (recusal and selection over an in-memory index); this times what a
request pays on top: loading the candidates of the requested specialties from the database, recusal, the
commitment and storing the eligible list and exclusions (commit), the reveal with sealing (the list key wrapped
to the evaluation service and the supervisor) and notices, and one
decline with its verifiable replacement. The journey's request: 5 transport + 1 cost experts with a reserve
each, remote across three venues, after the deadline with eight bidders. A temporary SQLite file by default.
Prints medians; the lead copies them into docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-draw-"))
    os.environ["BIDHALL_INSTANCE_DIR"] = str(instance)

    from core import create_app
    from core.db import db

    app = create_app({"settings": {"instance_dir": instance, "storage_dir": instance / "storage",
                                   "database_url": args.database_url or f"sqlite:///{instance / 'bench.sqlite3'}",
                                   "secret_key": "bench-secret-" + "x" * 40}})
    with app.app_context():
        import core.all_models  # noqa: F401

        db.drop_all()
        db.create_all()
        section, agent, supervisor, bidders, venues = setup()
        started = time.perf_counter()
        from demo.experts import generate_pool

        generate_pool(args.experts, seed=20261121)
        db.session.commit()
        print(f"pool: {args.experts:,} experts written in {time.perf_counter() - started:.1f} s")
        timings = {"commit": [], "reveal": [], "replacement": []}
        for _ in range(args.runs + 1):  # the first run warms the caches and is not counted
            one = run(section, agent, supervisor, bidders, venues)
            for key, value in one.items():
                timings[key].append(value)
        for key, values in timings.items():
            counted = values[1:]
            print(f"{key:<12} {statistics.median(counted) * 1000:8.1f} ms median "
                  f"(fastest {min(counted) * 1000:.1f}, slowest {max(counted) * 1000:.1f})")
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(instance, ignore_errors=True)


def setup():
    from core import account_operations as accounts
    from core.accounts import OrgKind, Role
    from core.clock import now
    from core.db import db
    from core.validators import make_credit_code
    from evaluation.venue_operations import create_venue
    from trading import operations as trading
    from trading.models import SectionState

    def org(kind, n, region="350900"):
        return accounts.create_organisation(name=f"基准测试单位{n}", kind=kind, credit_code=make_credit_code(
            f"91350900MB{n:07d}"), region_code=region)

    agent = accounts.create_user(username="agent", display_name="代理", password="bench-password-1",
                                 role=Role.AGENT, organisation=org(OrgKind.AGENCY, 1))
    supervisor = accounts.create_user(username="supervisor", display_name="监督", password="bench-password-1",
                                      role=Role.SUPERVISOR, organisation=org(OrgKind.SUPERVISORY_AUTHORITY, 2))
    from demo.keys import enrol_holder

    # The reveal seals the list to the supervisors' encryption certificates: this one's keys, as bidtool makes them.
    enrol_holder(supervisor, for_organisation=False, password="bench-password-1", server="http://127.0.0.1:5000")
    bidders = [org(OrgKind.BIDDER, 10 + n).credit_code for n in range(8)]
    project = trading.create_project(agent=agent, tenderee=org(OrgKind.TENDEREE, 3), code="E3509020001202611001",
                                     name="基准测试道路工程", type="works", method="open", budget="25000000",
                                     ceiling_price="24000000", region_code="350902")
    start = now() - timedelta(minutes=5)
    schedule = trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + timedelta(days=6),
                                     clarification_deadline=start + timedelta(days=5),
                                     deadline=start + timedelta(days=25))
    section = trading.add_section(project, number=1, name="一标段", ceiling_price="18000000",
                                  bid_security_amount="0", bid_validity_days=90,
                                  evaluation_method="works_comprehensive_benchmark", schedule=schedule)
    section.state, section.deadline = SectionState.OPENING, now() - timedelta(minutes=1)
    venues = [create_venue(code=code, name=code, region_code=region, seats=seats)
              for code, region, seats in (("NDGGZY-01", "350900", 4), ("FZGGZY-01", "350100", 3),
                                          ("NPGGZY-01", "350700", 3))]
    db.session.commit()
    return section, agent, supervisor, bidders, venues


def run(section, agent, supervisor, bidders, venues) -> dict[str, float]:
    from core.clock import now
    from core.db import db
    from evaluation import draw_operations as ops
    from evaluation.draw_confirmations import current_assignments, end_assignment
    from evaluation.draw_models import AssignmentStatus

    draw = ops.request_draw(section, agent=agent, quotas=[ops.QuotaInput("A04", 5, 1), ops.QuotaInput("B01", 1, 1)],
                            tenderee_representatives=1, evaluation_at=now() + timedelta(hours=2),
                            venues=[ops.VenueInput(v, v.seats) for v in venues])
    db.session.commit()
    started = time.perf_counter()
    ops.commit_draw(draw, actor=agent, bidders=bidders)
    db.session.commit()
    committed = time.perf_counter()
    ops.contribute(draw, supervisor, "benchmark entropy")
    db.session.commit()
    revealing = time.perf_counter()
    ops.reveal(draw, actor=agent)
    db.session.commit()
    revealed = time.perf_counter()
    end_assignment(draw, next(iter(current_assignments(draw).values())), AssignmentStatus.DECLINED, reason="bench")
    db.session.commit()
    replaced = time.perf_counter()
    ops.cancel(draw, actor=agent, reason="benchmark run")
    db.session.commit()
    return {"commit": committed - started, "reveal": revealed - revealing, "replacement": replaced - revealed}


if __name__ == "__main__":
    main()
