"""The evaluation report of a 200-bidder section: its data, the PDF and the platform's PDF signature.

    .venv/bin/python bench/bench_report.py [--bidders 200] [--runs 3]

A committee of 7 (6 drawn experts and a tenderee representative) seated and elected through the room's API, the
review stages decided through the operations, then every subjective score written in one go (typing 8,400 scores
through the API is not what is measured here). Timed: closing the scoring (aggregation and ranking with the
scoring core, and the report's data with its digest) and generating the report (reportlab PDF of every section,
each member's 200-row score table included, pyHanko signature, archive and audit). The world is built with the
test builders (tests/evaluation/evaluation_helpers.py) on a temporary SQLite file. Prints medians.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bidders", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-report-"))
    os.environ["BIDHALL_INSTANCE_DIR"] = str(instance)
    from core import create_app
    from core.db import db

    app = create_app({"settings": {"instance_dir": instance, "storage_dir": instance / "storage",
                                   "database_url": f"sqlite:///{instance / 'bench.sqlite3'}",
                                   "secret_key": "bench-secret-" + "x" * 40, "login_rate_limit": "10000 per minute"},
                      "WTF_CSRF_ENABLED": False})
    try:
        with app.app_context():
            import core.all_models  # noqa: F401

            close, generate, size, pages = [], [], 0, 0
            for run in range(args.runs):
                db.session.remove()
                db.drop_all()  # each run draws its committee from a pool of its own
                db.create_all()
                started = time.perf_counter()
                evaluation, chair_user, agent = world(app, args.bidders, seed=run)
                print(f"run {run + 1}: world of {args.bidders} bidders built in {time.perf_counter() - started:.1f} s")
                close.append(timed(lambda: close_scoring(evaluation, chair_user)))
                generate.append(timed(lambda: generate_report(evaluation, agent)))
                data = (Path(app.config["STORAGE_DIR"]) / evaluation.report_key).read_bytes()
                size, pages = len(data), data.count(b"/Type /Page\n") or data.count(b"/Type /Page")
        print(f"close the scoring (aggregate, rank, report data, digest): median {statistics.median(close):.2f} s")
        print(f"generate the report (PDF of {pages} pages, {size / 1024:.0f} KiB, pyHanko signature): "
              f"median {statistics.median(generate):.2f} s  (target < 5 s)")
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def timed(work) -> float:
    from core.db import db

    started = time.perf_counter()
    work()
    db.session.commit()
    return time.perf_counter() - started


def world(app, bidders: int, seed: int):
    import sqlalchemy as sa
    from argon2 import PasswordHasher

    import core.accounts
    from core.clock import now
    from core.db import db
    from evaluation import review_operations as review
    from evaluation.evaluation_data import method_of
    from evaluation.evaluation_models import Evaluation, EvaluationState, ScoreEntry
    from tests.evaluation import evaluation_helpers as eh
    from tests.factories import Factory

    # The builders create hundreds of accounts; production password hashing would dominate the set-up.
    core.accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    rng = random.Random(seed)
    prices = [Decimal(rng.randrange(800_000_000, 899_999_999)) / 100 for _ in range(bidders)]
    built = eh.build(app, Factory(app), prices=prices, experts=6)
    seats = eh.seat_everyone(built)
    chair = eh.elect(built, seats)
    evaluation = db.session.get(Evaluation, built.evaluation_id)
    while evaluation.state is EvaluationState.REVIEW:
        stage = review.current_stage(evaluation)
        items = review.voted_items(stage)
        for seat in seats:
            if items:
                review.cast_votes(evaluation, seat.user, [{"bidder_id": b.id, "item_id": i.id, "passed": True}
                                                          for b in review.entered(evaluation) for i in items])
                review.submit_stage(evaluation, seat.user)
        review.decide_current_stage(evaluation, chair.user)
        db.session.commit()
    method = method_of(evaluation)
    rows = []
    for member in evaluation.active_members:
        for bidder in evaluation.bidders:
            for item in (i for i in method.items if i.kind.value == "subjective"):
                steps = int((item.maximum - item.minimum) / item.step)
                value = item.minimum + item.step * rng.randrange(max(steps - 4, 1), steps)
                rows.append({"evaluation_id": evaluation.id, "member_id": member.id, "bidder_id": bidder.id,
                             "item_id": item.id, "value": value, "comment": "", "entered_at": now(), "revisions": 0})
        member.scores_submitted_at = now()
    db.session.execute(sa.insert(ScoreEntry), rows)
    db.session.commit()
    return evaluation, chair.user, built.agent


def close_scoring(evaluation, user) -> None:
    from evaluation.ranking_operations import close_scoring as close

    close(evaluation, user)


def generate_report(evaluation, agent) -> None:
    from core.clock import now
    from core.db import db
    from evaluation.evaluation_models import (
        EvaluationState,
        ReportSignature,
        SignatureDecision,
    )
    from evaluation.report import generate_report as generate

    db.session.add_all([ReportSignature(evaluation_id=evaluation.id, member_id=m.id, at=now(),
                                        decision=SignatureDecision.DEEMED_AGREED) for m in evaluation.active_members])
    evaluation.state = EvaluationState.SIGNED
    generate(evaluation, agent)


if __name__ == "__main__":
    main()
