"""Benchmark: bid-rigging analysis of one section with 200 bids, each with a 1 MiB technical module.

Target (issue 9): the whole analysis under 10 s on 2 cores. A few near-duplicate pairs are planted (one text
with ~3% of its sentences rewritten); the benchmark reports the time and whether every planted pair, and
nothing else, was flagged as near-duplicate text. Text generation is not timed.

    python bench/bench_collusion.py                 # generated technical-bid text
    python bench/bench_collusion.py --text random   # high-entropy text: every shingle distinct (worst case)
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supervision.collusion import CollusionThresholds, Indicator, analyze_section
from supervision.collusion.synthetic import (
    clean_section,
    rewrite_sentences,
    technical_text,
)

COMMON_CHARACTERS = np.array([chr(c) for c in range(0x4E00, 0x4E00 + 3500)])


def random_text(rng: random.Random, size_bytes: int) -> str:
    """CJK characters drawn uniformly, a full stop every 20-40 characters: almost no shingle repeats."""
    generator = np.random.default_rng(rng.getrandbits(64))
    chars = generator.choice(COMMON_CHARACTERS, size_bytes // 3)
    stops = np.cumsum(generator.integers(20, 40, size=chars.size // 20))
    chars[stops[stops < chars.size]] = "。"
    return "".join(chars.tolist())


def rewrite_random(text: str, rng: random.Random, fraction: float) -> str:
    sentences = text.split("。")
    for index in range(len(sentences)):
        if rng.random() < fraction:
            sentences[index] = random_text(rng, 3 * len(sentences[index]))
    return "。".join(sentences)


def build_section(count: int, size_bytes: int, pairs: int, mode: str, seed: int):
    rng = random.Random(seed)
    bids = clean_section(count, rng, text_bytes=0)
    make = random_text if mode == "random" else technical_text
    rewrite = rewrite_random if mode == "random" else rewrite_sentences
    texts = [make(rng, size_bytes) for _ in range(count)]
    sources = rng.sample(range(count), 2 * pairs)
    planted = []
    for original, copy in zip(sources[::2], sources[1::2]):
        texts[copy] = rewrite(texts[original], rng, 0.03)
        planted.append(tuple(sorted((bids[original].bid_id, bids[copy].bid_id))))
    return [replace(bid, technical_text=text) for bid, text in zip(bids, texts)], set(planted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--mib", type=float, default=1.0, help="technical module size per bid, MiB of UTF-8")
    parser.add_argument("--pairs", type=int, default=5, help="near-duplicate pairs to plant")
    parser.add_argument("--text", choices=("generated", "random"), default="generated")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    bids, planted = build_section(args.bids, int(args.mib * (1 << 20)), args.pairs, args.text, args.seed)
    total_bytes = sum(len(bid.technical_text.encode()) for bid in bids)
    print(f"section: {len(bids)} bids, {total_bytes / (1 << 20):.0f} MiB of technical text ({args.text}), "
          f"{len(planted)} planted near-duplicate pairs; generated in {time.perf_counter() - started:.1f} s")

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = analyze_section(bids, CollusionThresholds())
        timings.append(time.perf_counter() - started)
    print(f"analyze_section: best {min(timings):.2f} s, median {sorted(timings)[len(timings) // 2]:.2f} s "
          f"over {args.repeat} runs (target < 10 s)")

    flagged = {tuple(sorted(e.bid_ids)): e.detail["jaccard"] for e in report.evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)}
    found = planted & set(flagged)
    print(f"planted pairs found: {len(found)}/{len(planted)}; other pairs flagged as similar: {len(set(flagged) - planted)}")
    for pair in sorted(flagged):
        print(f"  {pair[0]}-{pair[1]} Jaccard {flagged[pair]:.3f}{'' if pair in planted else '  (not planted)'}")
    others: dict[str, int] = {}
    for record in report.evidence:
        if record.indicator is not Indicator.SIMILAR_TECHNICAL_TEXT:
            others[record.indicator.value] = others.get(record.indicator.value, 0) + 1
    print(f"other evidence on the random field: {others or 'none'}")
    print(f"groups: {len(report.groups)}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
