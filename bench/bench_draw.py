"""Expert draw over a synthetic pool of 100,000 experts: full recusal rules versus none (issue 6, Performance).

    .venv/bin/python bench/bench_draw.py [--experts 100000] [--runs 15]

A "draw" here is everything between the request and the selection: recusal over the pool, the commitment
(request and eligible-list digests, the shortfall check), one contribution, the reveal and the selection with
reserves, in remote double-random mode across three venues and in local mode. The pool index
(``ExpertIndex``) is built once per pool version and timed separately. "No rules" runs the same draw with an
empty rule set: only the specialty filter applies, so its pool is larger and the digest and selection cost
more, which is why the ratio can fall below 1. Prints medians; the lead copies them into docs/performance.md.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.draw import DrawCeremony, new_secret, select_committee
from evaluation.recusal import (
    DrawContext,
    ExpertCandidate,
    ExpertIndex,
    ExpertStatus,
    PastEmployment,
    RuleSet,
    apply_recusal,
)

SPECIALTIES = {  # a works-and-procurement catalogue: class → sub-codes, with rough shares of the pool
    "A01": 0.22, "A02": 0.14, "A03": 0.08, "A04": 0.10, "A05": 0.08,  # 房建 市政 水利 交通 机电
    "B01": 0.14, "B02": 0.06, "B03": 0.04,  # 造价 财务 法律
    "C01": 0.08, "C02": 0.06,  # 信息化 货物
}
FUJIAN = ["3501", "3502", "3503", "3504", "3505", "3506", "3507", "3508", "3509"]
ELSEWHERE = ["3301", "3302", "3601", "4401", "4403", "1101"]
DRAW_DATE = date(2025, 3, 10)


def synthetic_pool(size: int, rng: random.Random) -> tuple[list[ExpertCandidate], list[str]]:
    employers = [f"91350{n:07d}XXXXX{n % 10}" for n in range(max(size // 12, 10))]
    cumulative = list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(employers))))
    codes, shares = list(SPECIALTIES), list(SPECIALTIES.values())

    def employer() -> str:
        """Zipf-like: a few large design institutes and contractors, many small firms."""
        return rng.choices(employers, cum_weights=cumulative)[0]

    pool = []
    for n in range(size):
        main = rng.choices(codes, shares)[0]
        specialties = {f"{main}{rng.randrange(1, 8):02d}"}
        if rng.random() < 0.3:
            specialties.add(f"{rng.choices(codes, shares)[0]}{rng.randrange(1, 8):02d}")
        region = rng.choice(FUJIAN) if rng.random() < 0.85 else rng.choice(ELSEWHERE)
        past = tuple(PastEmployment(employer(), DRAW_DATE - timedelta(days=rng.randrange(30, 4000)))
                     for _ in range(rng.choice((0, 0, 1, 1, 2, 3))))
        relations = frozenset(rng.sample(employers, rng.choice((1, 2)))) if rng.random() < 0.1 else frozenset()
        draws = tuple(DRAW_DATE - timedelta(days=rng.randrange(0, 180)) for _ in range(rng.randrange(0, 12)))
        away = frozenset(DRAW_DATE + timedelta(days=rng.randrange(0, 60)) for _ in range(rng.randrange(0, 4)))
        status = rng.choices(list(ExpertStatus), (0.97, 0.02, 0.01))[0]
        pool.append(ExpertCandidate(f"E{n:06d}", tuple(specialties), f"{region}{rng.randrange(1, 30):02d}", status,
                                    employer() if rng.random() < 0.9 else "", past,
                                    relations, draws, away))
    return pool, employers


@dataclass
class Timing:
    total: float
    recusal: float
    commit: float
    select: float
    eligible: int
    exclusions: int


def run(index: ExpertIndex, context: DrawContext, request: dict, rule_set: RuleSet) -> Timing:
    started = time.perf_counter()
    recusal = apply_recusal(index, context, rule_set)
    recused = time.perf_counter()
    secret = new_secret()
    ceremony = DrawCeremony.open(secret, request, recusal.eligible)
    ceremony.contribute("supervisor", "benchmark entropy", datetime.now(UTC))
    seed = ceremony.reveal(secret)
    committed = time.perf_counter()
    selection = select_committee(seed, request, recusal.eligible)
    finished = time.perf_counter()
    assert len(selection.members) == sum(q["count"] for q in request["quotas"])
    return Timing(finished - started, recused - started, committed - recused, finished - committed,
                  len(recusal.eligible), len(recusal.exclusions))


def summary(timings: list[Timing]) -> str:
    median = {key: statistics.median(getattr(t, key) for t in timings) * 1000
              for key in ("total", "recusal", "commit", "select")}
    return (f"{median['total']:.1f} ms median (recusal {median['recusal']:.1f}, commit {median['commit']:.1f}, "
            f"select {median['select']:.1f}; fastest {min(t.total for t in timings) * 1000:.1f}, "
            f"slowest {max(t.total for t in timings) * 1000:.1f}), "
            f"eligible {timings[0].eligible:,}, exclusions {timings[0].exclusions:,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(20250310)
    started = time.perf_counter()
    pool, employers = synthetic_pool(args.experts, rng)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    index = ExpertIndex(pool)
    indexed = time.perf_counter() - started
    del pool  # the web layer keeps only the index: the candidates' objects would only slow the cyclic GC
    gc.collect()
    context = DrawContext(
        tenderee_credit_code=employers[3], agency_credit_code=employers[7], draw_date=DRAW_DATE,
        evaluation_date=DRAW_DATE + timedelta(days=2), bidder_credit_codes=frozenset(rng.sample(employers[:400], 25)),
        specialties=("A04", "B01"), regions_allowed=("350000",), regions_excluded=("350200",), max_draws=3,
        window_days=30)
    venues = [{"id": "宁德", "seats": 4, "regions": ["350900"]}, {"id": "福州", "seats": 3, "regions": ["350100"]},
              {"id": "南平", "seats": 3, "regions": ["350700"]}]
    requests = {
        "remote 5 A04 + 1 B01, 3 venues": {"kind": "experts", "quotas": [
            {"specialty": "A04", "count": 5, "reserves": 2}, {"specialty": "B01", "count": 1, "reserves": 1}],
            "venues": venues},
        "local 5 A04 + 1 B01": {"kind": "experts", "quotas": [
            {"specialty": "A04", "count": 5, "reserves": 2}, {"specialty": "B01", "count": 1, "reserves": 1}]},
    }
    print(f"pool: {args.experts:,} experts generated in {generated:.1f} s; "
          f"ExpertIndex built in {indexed * 1000:.0f} ms "
          "(once per pool version)")
    first = run(index, context, requests[next(iter(requests))], RuleSet())
    print(f"first draw after the index build: {first.total * 1000:.1f} ms")
    for label, request in requests.items():
        full = [run(index, context, request, RuleSet()) for _ in range(args.runs)]
        bare = [run(index, context, request, RuleSet(rules=())) for _ in range(args.runs)]
        ratio = statistics.median(t.total for t in full) / statistics.median(t.total for t in bare)
        print(f"{label}\n  full rule set: {summary(full)}\n  no rules:      {summary(bare)}\n"
              f"  ratio full/none: {ratio:.2f}")
    broad = replace(context, specialties=("A", "B"))
    request = {"kind": "experts", "quotas": [{"specialty": "A", "count": 6, "reserves": 2},
                                              {"specialty": "B", "count": 1, "reserves": 1}]}
    run(index, broad, request, RuleSet())
    timings = [run(index, broad, request, RuleSet()) for _ in range(5)]
    print(f"broad local request (every A and B code): {summary(timings)}")


if __name__ == "__main__":
    main()
