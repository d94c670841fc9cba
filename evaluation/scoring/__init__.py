"""The pure scoring core of bid evaluation: methods as data, price formulas, checks, ranking.

No Flask and no database here: the web layer loads a method, feeds bidders' facts, votes and the
experts' score array in, and persists the dataclasses that come out. Typical flow::

    method = load_methods()["gp_comprehensive_lowest_price_base"]
    reviewed = review(method, bidders, section, votes, n_experts)          # pass/fail stages
    computed = compute_scores(method, bidders, section, reviewed.passing)  # objective + price
    validate_subjective_score(method, item_id, value, comment)            # on every entry
    find_outliers(method, scores, computed, reviewed.passing)             # live checks
    result = evaluate(method, scores, computed, bidders, draw=hook)       # aggregate + rank
"""

from .aggregate import Aggregate, IncompleteScores, aggregate
from .checks import check_sums, find_outliers
from .computed import ComputedScores, PriceRow, PriceTable, compute_scores, fill_computed
from .entry import AcceptedScore, ScoreRejected, validate_subjective_score
from .methods import METHODS_DIR, MethodError, load_method, load_methods, parse_method
from .model import (BidderFacts, Category, ItemKind, Method, Outlier, PassFailItem,
                    ScoringItem, SectionFacts, Stage)
from .ranking import DrawHook, Evaluation, RankedBidder, Ranking, evaluate, rank
from .rounding import Rounding, to_decimal
from .rules import MissingFact, RuleError
from .stages import (FailReason, IncompleteVotes, PassFailVote, ReviewResult, StageResult,
                     VoteRejected, decide_stage, review, validate_vote)

__all__ = [
    "AcceptedScore", "Aggregate", "BidderFacts", "Category", "ComputedScores", "DrawHook",
    "Evaluation", "FailReason", "IncompleteScores", "IncompleteVotes", "ItemKind", "METHODS_DIR",
    "Method", "MethodError", "MissingFact", "Outlier", "PassFailItem", "PassFailVote", "PriceRow",
    "PriceTable", "RankedBidder", "Ranking", "ReviewResult", "Rounding", "RuleError",
    "ScoreRejected", "ScoringItem", "SectionFacts", "Stage", "StageResult", "VoteRejected",
    "aggregate", "check_sums", "compute_scores", "decide_stage", "evaluate", "fill_computed",
    "find_outliers", "load_method", "load_methods", "parse_method", "rank", "review",
    "to_decimal", "validate_subjective_score", "validate_vote",
]
