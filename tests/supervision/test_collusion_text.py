"""Near-duplicate technical modules: shingles, MinHash sketches and the exact Jaccard check."""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from supervision.collusion import CollusionThresholds, Indicator, analyze_section
from supervision.collusion.synthetic import (
    clean_section,
    rewrite_sentences,
    technical_text,
)
from supervision.collusion.text_similarity import (
    estimated_similarities,
    exact_jaccard,
    minhash_signature,
    shingle_hashes,
    shingle_set,
)


@pytest.fixture(scope="module")
def section():
    return clean_section(8, random.Random(5), text_bytes=12_000)


def test_a_text_with_a_few_sentences_changed_is_found(section):
    bids = list(section)
    copy = rewrite_sentences(bids[1].technical_text, random.Random(3), fraction=0.05)
    assert copy != bids[1].technical_text
    bids[6] = replace(bids[6], technical_text=copy)
    report = analyze_section(bids)
    found = report.evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)
    assert [e.bid_ids for e in found] == [("B002", "B007")]
    assert found[0].detail["jaccard"] >= 0.8 and found[0].points == 10
    assert "技术标相似度" in found[0].summary_zh


def test_distinct_generated_texts_are_far_below_the_threshold(section):
    sets = [shingle_set(bid.technical_text, 5) for bid in section]
    similarities = [exact_jaccard(a, b)[0] for i, a in enumerate(sets) for b in sets[i + 1 :]]
    assert max(similarities) < 0.5
    assert not analyze_section(section).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)


def test_heavily_rewritten_text_is_not_flagged(section):
    bids = list(section)
    bids[3] = replace(bids[3], technical_text=rewrite_sentences(bids[0].technical_text, random.Random(1), 0.6))
    assert not analyze_section(bids).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)


def test_threshold_is_configurable(section):
    bids = list(section)
    bids[3] = replace(bids[3], technical_text=rewrite_sentences(bids[0].technical_text, random.Random(1), 0.25))
    exact = exact_jaccard(shingle_set(bids[0].technical_text, 5), shingle_set(bids[3].technical_text, 5))[0]
    assert 0.5 < exact < 0.8
    lenient = CollusionThresholds(text_similarity=0.5)
    assert analyze_section(bids, lenient).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)
    assert not analyze_section(bids).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)


def test_text_everyone_was_given_does_not_make_bids_alike(section):
    requirements = technical_text(random.Random(99), 60_000)  # the tender's technical requirements, quoted
    bids = [replace(bid, technical_text=requirements + bid.technical_text[:1500]) for bid in section]
    assert analyze_section(bids).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)
    assert not analyze_section(bids, shared_text=requirements).evidence_for(Indicator.SIMILAR_TECHNICAL_TEXT)


def test_retyping_in_full_width_or_adding_spaces_does_not_hide_a_copy(section):
    original = section[2].technical_text
    to_full_width = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    disguised = " ".join(original.translate(str.maketrans(to_full_width)).splitlines())
    assert exact_jaccard(shingle_set(original, 5), shingle_set(disguised, 5))[0] == 1.0


def test_minhash_estimates_track_the_exact_similarity():
    rng = random.Random(8)
    base = technical_text(rng, 60_000)
    variants = [base] + [rewrite_sentences(base, rng, f) for f in (0.05, 0.2, 0.4)] + [technical_text(rng, 60_000)]
    sets = [shingle_set(text, 5) for text in variants]
    signatures = np.stack([minhash_signature(shingle_hashes(text, 5), 256) for text in variants])
    estimates = estimated_similarities(signatures)
    for i in range(len(variants)):
        for j in range(i + 1, len(variants)):
            assert abs(estimates[i, j] - exact_jaccard(sets[i], sets[j])[0]) < 0.12


def test_short_or_missing_texts_are_skipped(section):
    bids = [replace(bid, technical_text="本工程质量目标为合格。") for bid in section]
    report = analyze_section(bids)
    assert Indicator.SIMILAR_TECHNICAL_TEXT in report.indicators_skipped
    assert shingle_hashes("短", 5).size == 0
    with pytest.raises(ValueError):
        minhash_signature(np.zeros(3, dtype=np.uint64), 100)
