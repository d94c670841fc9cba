"""Benchmark: aggregate and rank 1,000 bidders × 25 experts × 60 items (issue 7: < 100 ms).

Prints the numpy path's time (median of several runs), the plain-Python yardstick's time on the same
data (evaluation/scoring/reference.py), their ratio, and, for context, the time of the computed
scores (objective items and price, Decimal arithmetic) and of the outlier checks, over the whole
array and for the one bidder an expert has just scored.

Run from the repository root: ``python bench/bench_scoring.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.scoring import (BidderFacts, SectionFacts, compute_scores, evaluate,  # noqa: E402
                                fill_computed, find_outliers, parse_method)
from evaluation.scoring.reference import reference_rank  # noqa: E402

N_BIDDERS, N_EXPERTS = 1000, 25
N_TECHNICAL, N_COMMERCIAL_TYPED, N_OBJECTIVE = 40, 10, 9  # + 1 price item = 60 items
RUNS = 9


def bench_method(level: str):
    items = [{"id": f"t{i:02d}", "category": "technical", "type": "subjective",
              "label_zh": f"技术{i}", "label_en": f"Technical {i}", "max": 1, "step": "0.1"}
             for i in range(N_TECHNICAL)]
    items += [{"id": f"s{i:02d}", "category": "commercial", "type": "subjective",
               "label_zh": f"商务{i}", "label_en": f"Commercial {i}", "max": 1, "step": "0.1"}
              for i in range(N_COMMERCIAL_TYPED)]
    items += [{"id": f"o{i:02d}", "category": "commercial", "type": "objective",
               "label_zh": f"客观{i}", "label_en": f"Objective {i}", "max": 2, "mode": "per_unit",
               "unit_field": f"facts.count{i}", "points_per_unit": 1} for i in range(N_OBJECTIVE)]
    return parse_method({
        "id": "bench", "name_zh": "基准测试", "name_en": "Benchmark", "sector": "goods",
        "source": "bench", "certainty": "inferred",
        "tie_breaks": ["lower_bid_price", "higher_technical", "draw"],
        "aggregation": {"rule": "trimmed_mean", "trim_min_experts": 7, "level": level},
        "price": {"formula": "lowest_price_base", "small_enterprise_deduction": "0.10"},
        "categories": [
            {"id": "technical", "label_zh": "技术", "label_en": "Technical", "weight": 40},
            {"id": "commercial", "label_zh": "商务", "label_en": "Commercial", "weight": 28},
            {"id": "price", "label_zh": "价格", "label_en": "Price", "weight": 32}],
        "items": items})


def bench_data(method, rng):
    bidders = [BidderFacts(f"B{i:04d}", Decimal(int(rng.integers(900_000, 1_100_000))),
                           small_enterprise=bool(rng.integers(2)),
                           facts={f"count{k}": int(rng.integers(0, 4)) for k in range(N_OBJECTIVE)})
               for i in range(N_BIDDERS)]
    # Experts broadly agree: a bidder's quality on an item plus at most one step of personal
    # noise, and one cell in 2,000 typed far off, so the outlier checks see a realistic load.
    scores = method.empty_scores(N_EXPERTS, N_BIDDERS)
    for i in np.flatnonzero(method.subjective_mask):
        steps = int(round(method.maxima[i] / method.steps[i]))
        quality = rng.integers(steps // 2, steps, size=(1, N_BIDDERS))
        noise = rng.choice([-1, 0, 0, 1], size=(N_EXPERTS, N_BIDDERS))
        picks = np.clip(quality + noise, 0, steps)
        stray = rng.random((N_EXPERTS, N_BIDDERS)) < 0.0005
        picks[stray] = rng.integers(0, steps + 1, size=int(stray.sum()))
        scores[:, :, i] = picks * method.steps[i]
    return bidders, scores


def timed(function, runs):
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def draw(ids):
    return sorted(ids)


def bench_level(level: str, rng: np.random.Generator) -> None:
    method = bench_method(level)
    bidders, typed = bench_data(method, rng)
    section = SectionFacts()
    computed_time, computed = timed(
        lambda: compute_scores(method, bidders, section, range(N_BIDDERS)), 3)
    scores = fill_computed(method, typed, computed)
    fast_time, fast = timed(lambda: evaluate(method, scores, computed, bidders, draw), RUNS)
    nested = scores.tolist()
    slow_time, slow = timed(lambda: reference_rank(method, nested, computed, bidders, draw), 3)
    same = [(r.bidder, r.rank, r.total) for r in fast.ranking.order] == slow
    outlier_time, outliers = timed(lambda: find_outliers(method, scores, computed), 3)
    live_time, _ = timed(lambda: find_outliers(method, scores, computed, bidders=[7]), RUNS)
    print(f"\ntrimmed mean at {level} level")
    print(f"  aggregate + rank, numpy      : {fast_time * 1000:8.1f} ms   (target < 100 ms)")
    print(f"  aggregate + rank, pure Python: {slow_time * 1000:8.1f} ms")
    print(f"  ratio pure Python / numpy    : {slow_time / fast_time:8.1f} ×   "
          f"results agree: {same}")
    print(f"  computed scores (Decimal)    : {computed_time * 1000:8.1f} ms")
    print(f"  outlier checks, whole array  : {outlier_time * 1000:8.1f} ms   "
          f"({len(outliers)} flags)")
    print(f"  outlier checks, one bidder   : {live_time * 1000:8.1f} ms   (after each entry)")


def main() -> None:
    rng = np.random.default_rng(2024)
    print(f"{N_BIDDERS} bidders × {N_EXPERTS} experts × 60 items, median of {RUNS} runs")
    for level in ("category", "item"):
        bench_level(level, rng)


if __name__ == "__main__":
    main()
