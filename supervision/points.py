"""The supervision points (监督点): one rule per stage over a section's recorded times and facts.

Pure: :class:`SectionFacts` in, a :class:`PointResult` per applicable point out. ``supervision.warnings`` reads
the facts from the database in bulk and keeps the red and yellow lights as warnings. Each rule uses a statutory
clock of ``supervision.clocks`` (rules.md §5) through a :class:`Judge`, which at the normal pace counts Beijing
calendar and working days (the calendar data, holidays and make-up days included) and with the deadline
accelerator on compresses every clock like the rest of the platform (core.clock.statutory).

A point that does not apply yet (the stage has not come) gives None: only facts are judged, never guesses.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from core.clock import format_local
from supervision.clocks import (
    Clock,
    ClockKind,
    DayKind,
    Light,
    Signal,
    StatutoryClocks,
    WarningThresholds,
    evaluate_bid_count,
    evaluate_clock,
    evaluate_deadline,
)

_BEIJING = timedelta(hours=8)  # China keeps no daylight saving time
_RANK = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}


def beijing_day(moment: datetime) -> date:
    if moment.tzinfo is UTC:
        return (moment + _BEIJING).date()
    return (moment.astimezone(UTC) + _BEIJING).date()


@dataclass(frozen=True)
class ClarificationFact:
    number: int
    issued_at: datetime
    deadline_after: datetime
    decision: str          # trading.models.AmendmentDecision value


@dataclass(frozen=True)
class ObjectionFact:
    subject: str           # documents | result
    raised_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True)
class ComplaintFact:
    filed_at: datetime
    accepted_at: datetime | None     # when accepted (or refused acceptance)
    decided_at: datetime | None
    state: str


@dataclass
class SectionFacts:
    """Everything the points read for one section, plain values only (see supervision.warnings.collect)."""

    project_id: int
    section_id: int
    project_state: str
    section_state: str
    method: str
    notice_at: datetime
    issue_start: datetime
    issue_end: datetime
    deadline: datetime
    bid_validity_days: int
    evaluation_method: str
    published_at: datetime | None = None
    invitees: int = 0
    clarifications: list[ClarificationFact] = field(default_factory=list)
    bids: int = 0
    opening_state: str | None = None
    opening_closed_at: datetime | None = None
    report_at: datetime | None = None
    publicity_started_at: datetime | None = None
    publicity_ends_at: datetime | None = None
    objections: list[ObjectionFact] = field(default_factory=list)
    complaints: list[ComplaintFact] = field(default_factory=list)
    clues_unreviewed: bool = False
    awarded_at: datetime | None = None
    notice_issued_at: datetime | None = None
    report_filed_at: datetime | None = None
    contract_signed_at: datetime | None = None
    securities_held: int | None = None            # None: the guarantees package is not installed
    securities_released_at: datetime | None = None

    @property
    def government_procurement(self) -> bool:
        """Sections evaluated by a government-procurement method follow 政府采购法 clocks (methods gp_*)."""
        return self.evaluation_method.startswith("gp_")


@dataclass(frozen=True)
class PointResult:
    point: str
    light: Light
    reason_zh: str
    reason_en: str
    due: str | None = None


class Judge:
    """Turns a clock, its anchor and the act into a Signal, memoised for one pass (one 'now')."""

    def __init__(self, now: datetime, clocks: StatutoryClocks | None = None,
                 thresholds: WarningThresholds | None = None, accelerator: int = 1,
                 minimum_bids: dict[str, int] | None = None):
        self.now = now
        self.today = beijing_day(now)
        self.clocks = clocks or StatutoryClocks()
        self.thresholds = thresholds or WarningThresholds()
        self.accelerator = max(1, int(accelerator))
        self._minimum = {method: replace(self.clocks, minimum_bids=n) for method, n in (minimum_bids or {}).items()}
        self._memo: dict[tuple, Signal] = {}
        self._validity: dict[int, Clock] = {}

    def for_method(self, method: str) -> StatutoryClocks:
        """The clocks with the minimum number of bids configured for this procurement method."""
        return self._minimum.get(method, self.clocks)

    def validity(self, days: int) -> Clock:
        """The bid validity period (投标有效期, 实施条例第25条) as a WITHIN clock from the deadline."""
        if days not in self._validity:
            self._validity[days] = Clock(
                f"bid_validity_{days}", days, DayKind.CALENDAR, ClockKind.WITHIN, "投标有效期", "Bid validity",
                f"在投标截止后{days}日的投标有效期内完成", f"done within the {days}-day bid validity",
                "招标投标法实施条例第25条", rolls_past_rest_days=False)
        return self._validity[days]

    def clock(self, clock: Clock, anchor: datetime, *, act_at: datetime | None = None,
              planned_at: datetime | None = None) -> Signal:
        if self.accelerator > 1:
            return self._compressed(clock, anchor, act_at, planned_at)
        key = (clock.code, beijing_day(anchor), act_at and beijing_day(act_at), planned_at and beijing_day(planned_at))
        signal = self._memo.get(key)
        if signal is None:
            signal = evaluate_clock(clock, key[1], self.today, act_at=key[2], planned_at=key[3],  # type: ignore[arg-type]
                                    thresholds=self.thresholds)
            self._memo[key] = signal
        return signal

    def by_day(self, due: date, done_at: datetime | None, what_zh: str, what_en: str) -> Signal:
        if self.accelerator > 1:
            end = datetime(due.year, due.month, due.day, tzinfo=UTC) + timedelta(days=1) - _BEIJING
            return self._within(end, done_at, what_zh, what_en)
        return evaluate_deadline(due, self.today, what_zh=what_zh, what_en=what_en,  # type: ignore[arg-type]
                                 done_at=done_at and beijing_day(done_at), thresholds=self.thresholds)

    # -- the accelerated pace: every interval divided by the factor, instants instead of days ----------------
    def _span(self, days: int) -> timedelta:
        return timedelta(days=days) / self.accelerator

    def _compressed(self, clock: Clock, anchor: datetime, act_at, planned_at) -> Signal:
        what_zh, what_en = f"{clock.title_zh}（{clock.rule_zh}）", f"{clock.title_en} ({clock.rule_en})"
        if clock.kind is ClockKind.WITHIN:
            return self._within(anchor + self._span(clock.days), act_at, what_zh, what_en)
        if clock.kind is ClockKind.AT_LEAST_AFTER:
            earliest = anchor + self._span(clock.days)
            moment = act_at or planned_at
            if moment is not None and moment < earliest:
                return Signal(Light.RED, f"{what_zh}：{format_local(moment)}早于最早允许时间{format_local(earliest)}",
                              f"{what_en}: {format_local(moment)} is before the earliest {format_local(earliest)}")
            return Signal(Light.GREEN, f"{what_zh}：不早于{format_local(earliest)}",
                          f"{what_en}: not before {format_local(earliest)}")
        latest = anchor - self._span(clock.days)
        if act_at is not None and act_at > latest:
            return Signal(Light.RED, f"{what_zh}：{format_local(act_at)}晚于最迟时间{format_local(latest)}",
                          f"{what_en}: {format_local(act_at)} is after the latest {format_local(latest)}")
        return Signal(Light.GREEN, f"{what_zh}：不晚于{format_local(latest)}", f"{what_en}: by {format_local(latest)}")

    def _within(self, due: datetime, done_at: datetime | None, what_zh: str, what_en: str) -> Signal:
        shown = format_local(due)
        if done_at is not None:
            if done_at <= due:
                return Signal(Light.GREEN, f"{what_zh}：已完成，期限{shown}", f"{what_en}: done, due {shown}")
            return Signal(Light.RED, f"{what_zh}：完成时间晚于期限{shown}", f"{what_en}: done after the due time {shown}")
        if self.now > due:
            return Signal(Light.RED, f"{what_zh}：已逾期（期限{shown}）", f"{what_en}: overdue (due {shown})")
        left = due - self.now
        light = Light.YELLOW if left <= self._span(self.thresholds.yellow_working_days) else Light.GREEN
        return Signal(light, f"{what_zh}：期限{shown}（演示加速×{self.accelerator}）",
                      f"{what_en}: due {shown} (accelerated ×{self.accelerator})")


def _result(point: str, signal: Signal, prefix_zh: str = "", prefix_en: str = "") -> PointResult:
    return PointResult(point, signal.light, prefix_zh + signal.reason_zh, prefix_en + signal.reason_en,
                       signal.due.isoformat() if signal.due else None)


def _worst(point: str, results: list[tuple[Signal, str, str]]) -> PointResult | None:
    if not results:
        return None
    signal, zh, en = max(results, key=lambda item: _RANK[item[0].light])
    return _result(point, signal, zh, en)


# -- the points, in the order of the stages ------------------------------------------------------------------

def registration(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.project_state == "cancelled" or f.section_state == "cancelled":
        return None
    if f.method == "invited" and f.project_state != "draft" and f.invitees < j.clocks.minimum_bids:
        return PointResult("registration", Light.RED,
                           f"邀请招标仅邀请了{f.invitees}个投标人，应不少于{j.clocks.minimum_bids}个（招标投标法第17条）",
                           f"an invitation tender invited {f.invitees} bidders; at least {j.clocks.minimum_bids} "
                           f"are required")
    signal = j.by_day(beijing_day(f.notice_at), f.published_at, "招标公告按计划发布", "Notice published as scheduled")
    return _result("registration", signal)


def bid_preparation(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.method not in ("open", "invited") or f.section_state == "cancelled":
        return None
    return _result("bid_preparation", j.clock(j.clocks.bid_preparation, f.issue_start, planned_at=f.deadline))


def document_issue(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.section_state == "cancelled":
        return None
    return _result("document_issue", j.clock(j.clocks.document_issue_period, f.issue_start, planned_at=f.issue_end))


def clarification(f: SectionFacts, j: Judge) -> PointResult | None:
    found = []
    for c in f.clarifications:
        signal = j.clock(j.clocks.clarification_lead, c.deadline_after, act_at=c.issued_at)
        if signal.light is Light.RED and c.decision == "no_effect":
            signal = Signal(Light.GREEN, signal.reason_zh + "；招标人已记录不影响投标文件编制的理由",
                            signal.reason_en + "; the reason why bid preparation is unaffected is on record", signal.due)
        found.append((signal, f"第{c.number}号澄清：", f"clarification {c.number}: "))
    return _worst("clarification", found)


def objection(f: SectionFacts, j: Judge) -> PointResult | None:
    labels = {"documents": ("对招标文件的异议", "objection to the documents"),
              "result": ("对评标结果的异议", "objection to the result")}
    found = []
    for o in f.objections:
        zh, en = labels.get(o.subject, ("异议", "objection"))
        found.append((j.clock(j.clocks.objection_answer, o.raised_at, act_at=o.answered_at), f"{zh}：", f"{en}: "))
    return _worst("objection", found)


def deadline(f: SectionFacts, j: Judge) -> PointResult | None:
    if j.now < f.deadline or f.section_state in ("draft", "cancelled"):
        return None
    return _result("deadline", evaluate_bid_count(f.bids, j.for_method(f.method)))


def opening(f: SectionFacts, j: Judge) -> PointResult | None:
    if j.now < f.deadline or f.section_state in ("draft", "cancelled", "bidding") or f.opening_state == "failed":
        return None
    return _result("opening", j.by_day(beijing_day(f.deadline), f.opening_closed_at,
                                       "开标并公布开标记录（开标当日）", "Opening held and its record published (same day)"))


_AFTER_OPENING = ("evaluation", "publicity", "awarded", "contracted", "closed")


def evaluation(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.section_state not in _AFTER_OPENING:
        return None
    return _result("evaluation", j.clock(j.validity(f.bid_validity_days), f.deadline, act_at=f.report_at),
                   "评标报告：", "evaluation report: ")


def collusion(f: SectionFacts, j: Judge) -> PointResult | None:
    if not f.clues_unreviewed:
        return None
    return PointResult("collusion", Light.RED, "串标分析发现疑似串通投标线索，待监督人员核查（实施条例第40条）",
                       "the bid-rigging analysis found suspected collusion; a supervisor must review the clues")


def candidate_publicity(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.report_at is None:
        return None
    found = [(j.clock(j.clocks.candidate_publicity_start, f.report_at, act_at=f.publicity_started_at), "", "")]
    if f.publicity_started_at is not None and f.publicity_ends_at is not None:
        found.append((j.clock(j.clocks.candidate_publicity_period, f.publicity_started_at,
                              planned_at=f.publicity_ends_at), "", ""))
    return _worst("candidate_publicity", found)


def complaint(f: SectionFacts, j: Judge) -> PointResult | None:
    found = []
    for n, c in enumerate(f.complaints, start=1):
        found.append((j.clock(j.clocks.complaint_acceptance, c.filed_at, act_at=c.accepted_at),
                      f"第{n}件投诉：", f"complaint {n}: "))
        if c.state in ("accepted", "upheld", "dismissed") and c.accepted_at is not None:
            found.append((j.clock(j.clocks.complaint_decision, c.accepted_at, act_at=c.decided_at),
                          f"第{n}件投诉：", f"complaint {n}: "))
    return _worst("complaint", found)


def award(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.report_at is None:
        return None
    if f.government_procurement:
        return _result("award", j.clock(j.clocks.gp_winner_confirmation, f.report_at, act_at=f.awarded_at))
    return _result("award", j.clock(j.validity(f.bid_validity_days), f.deadline, act_at=f.awarded_at),
                   "定标：", "award: ")


def result_notice(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.awarded_at is None:
        return None
    if f.government_procurement:
        return _result("result_notice", j.clock(j.clocks.gp_result_notice, f.awarded_at, act_at=f.notice_issued_at))
    return _result("result_notice", j.clock(j.validity(f.bid_validity_days), f.deadline, act_at=f.notice_issued_at),
                   "中标通知书：", "award notice: ")


def written_report(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.awarded_at is None:
        return None
    return _result("written_report", j.clock(j.clocks.report_to_supervisor, f.awarded_at, act_at=f.report_filed_at))


def contract(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.notice_issued_at is None:
        return None
    return _result("contract", j.clock(j.clocks.contract_signing, f.notice_issued_at, act_at=f.contract_signed_at))


def bond_release(f: SectionFacts, j: Judge) -> PointResult | None:
    if f.contract_signed_at is None or f.securities_held is None:
        return None
    released = (f.securities_released_at or f.contract_signed_at) if f.securities_held == 0 else None
    return _result("bond_release", j.clock(j.clocks.bond_refund, f.contract_signed_at, act_at=released))


@dataclass(frozen=True)
class Point:
    code: str
    stage_zh: str
    title_zh: str
    title_en: str
    rule: Callable[[SectionFacts, Judge], PointResult | None]


POINTS: tuple[Point, ...] = (
    Point("registration", "项目登记", "招标公告按计划发布", "notice published as scheduled", registration),
    Point("bid_preparation", "公告发布", "投标准备期不少于20日", "bid preparation ≥ 20 days", bid_preparation),
    Point("document_issue", "文件发售", "招标文件发售期不少于5日", "document issue ≥ 5 days", document_issue),
    Point("clarification", "澄清修改", "澄清在截止前15日发出", "clarification ≥ 15 days before the deadline",
          clarification),
    Point("objection", "异议", "异议3日内答复", "objection answered within 3 days", objection),
    Point("deadline", "投标截止", "投标人不少于3个", "at least 3 bids", deadline),
    Point("opening", "开标", "开标记录当日公布", "opening record published the same day", opening),
    Point("evaluation", "评标", "投标有效期内完成评标", "evaluation within the bid validity", evaluation),
    Point("collusion", "评标", "串标线索核查", "bid-rigging clues reviewed", collusion),
    Point("candidate_publicity", "候选人公示", "3日内公示且不少于3日", "publicity within 3 days, for ≥ 3 days",
          candidate_publicity),
    Point("complaint", "投诉", "投诉3个工作日内受理、30个工作日内处理", "complaint accepted in 3 and decided in 30 "
          "working days", complaint),
    Point("award", "定标", "按期确定中标人", "winner chosen in time", award),
    Point("result_notice", "定标", "按期发出中标通知书", "award notice issued in time", result_notice),
    Point("written_report", "定标", "15日内提交书面报告", "written report within 15 days", written_report),
    Point("contract", "合同", "30日内订立合同", "contract within 30 days of the notice", contract),
    Point("bond_release", "保证金退还", "签约后5日内退还保证金", "bid security released within 5 days of the contract",
          bond_release),
)

POINTS_BY_CODE = {p.code: p for p in POINTS}


def evaluate(facts: SectionFacts, judge: Judge) -> list[PointResult]:
    """Every applicable point of one section."""
    out = []
    for point in POINTS:
        result = point.rule(facts, judge)
        if result is not None:
            out.append(result)
    return out
