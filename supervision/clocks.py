"""Statutory clocks (法定时限) as configurable data, and the traffic light that judges them.

Each supervision point is a rule over a project's recorded times: a clock (how many days, calendar or
working, counted from which event, in which direction) and an evaluator that turns the clock, the anchor
event, 'now' and the gated act into green / yellow / red with a reason in Chinese and English. The legal
values are the defaults of :class:`StatutoryClocks`; each names its article. rules.md §5 marks them
*recalled*: they are data here so a deployment can correct one without touching code
(``StatutoryClocks().with_days(contract_signing=30)``). The colour thresholds are *inferred* (rules.md §5):
yellow when at most one working day is left, red when overdue or a gate is broken.

Counting follows 民法典第201条 (the anchor day is not counted) and, for "within N days" periods in calendar
days, 第203条 (a last day that is a rest day moves to the next working day). Times are aware datetimes;
days are counted in Beijing time.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from supervision.calendar import WorkingCalendar, default_calendar

BEIJING = ZoneInfo("Asia/Shanghai")


class DayKind(StrEnum):
    CALENDAR = "calendar"  # 日 (自然日)
    WORKING = "working"  # 工作日


class ClockKind(StrEnum):
    WITHIN = "within"  # the act is due within N days after the anchor
    AT_LEAST_AFTER = "at_least_after"  # the act may not come earlier than N days after the anchor
    AT_LEAST_BEFORE = "at_least_before"  # the act, if it happens, must come N days or more before the anchor


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class Clock:
    """One statutory time limit. ``rule_zh``/``rule_en`` complete the sentence "the act must come …"."""

    code: str
    days: int
    unit: DayKind
    kind: ClockKind
    title_zh: str
    title_en: str
    rule_zh: str
    rule_en: str
    source: str
    rolls_past_rest_days: bool = True

    def unit_zh(self) -> str:
        return "个工作日" if self.unit is DayKind.WORKING else "日"

    def unit_en(self) -> str:
        return "working day(s)" if self.unit is DayKind.WORKING else "day(s)"


def _clock(
    code: str, days: int, unit: str, kind: str, title_zh: str, title_en: str, rule_zh: str, rule_en: str, source: str
) -> Clock:
    """A legal default; frozen, so one instance can safely be the default of every StatutoryClocks."""
    return Clock(code, days, DayKind(unit), ClockKind(kind), title_zh, title_en, rule_zh, rule_en, source)


@dataclass(frozen=True)
class StatutoryClocks:
    """The legal time limits of rules.md §5, each with its source. Override with :meth:`with_days`."""

    bid_preparation: Clock = _clock(
        "bid_preparation", 20, "calendar", "at_least_after", "投标截止时间", "Bid deadline",
        "自招标文件开始发出之日起不少于20日", "at least 20 days after the tender documents are first issued",
        "招标投标法第24条; 政府采购法第35条 (公开招标)")
    document_issue_period: Clock = _clock(
        "document_issue_period", 5, "calendar", "at_least_after", "招标文件发售期", "Document issue period",
        "发售期不少于5日", "the issue period lasts at least 5 days",
        "招标投标法实施条例第16条")
    clarification_lead: Clock = _clock(
        "clarification_lead", 15, "calendar", "at_least_before", "影响投标文件编制的澄清或修改",
        "Clarification affecting bid preparation",
        "在投标截止时间至少15日前发出，不足15日的应顺延截止时间",
        "issued at least 15 days before the bid deadline, or the deadline is postponed",
        "招标投标法第23条; 招标投标法实施条例第21条")
    objection_to_documents_lead: Clock = _clock(
        "objection_to_documents_lead", 10, "calendar", "at_least_before", "对招标文件的异议",
        "Objection to the tender documents", "在投标截止时间10日前提出", "raised 10 days or more before the bid deadline",
        "招标投标法实施条例第22条")
    objection_answer: Clock = _clock(
        "objection_answer", 3, "calendar", "within", "异议答复", "Answer to an objection",
        "自收到异议之日起3日内答复", "answered within 3 days of receipt",
        "招标投标法实施条例第22条、第54条")
    candidate_publicity_start: Clock = _clock(
        "candidate_publicity_start", 3, "calendar", "within", "中标候选人公示", "Candidate publicity",
        "自收到评标报告之日起3日内公示", "published within 3 days of receiving the evaluation report",
        "招标投标法实施条例第54条")
    candidate_publicity_period: Clock = _clock(
        "candidate_publicity_period", 3, "calendar", "at_least_after", "中标候选人公示期", "Candidate publicity period",
        "公示期不少于3日", "the publicity lasts at least 3 days", "招标投标法实施条例第54条")
    report_to_supervisor: Clock = _clock(
        "report_to_supervisor", 15, "calendar", "within", "招标投标情况书面报告", "Written report to the supervisor",
        "自确定中标人之日起15日内提交", "submitted within 15 days of choosing the winner", "招标投标法第47条")
    contract_signing: Clock = _clock(
        "contract_signing", 30, "calendar", "within", "订立书面合同", "Contract signing",
        "自中标通知书发出之日起30日内", "within 30 days of the award notice", "招标投标法第46条; 政府采购法第46条")
    bond_refund: Clock = _clock(
        "bond_refund", 5, "calendar", "within", "退还投标保证金", "Bid security refund",
        "书面合同签订后5日内退还", "refunded within 5 days of signing the contract", "招标投标法实施条例第57条")
    complaint_filing: Clock = _clock(
        "complaint_filing", 10, "calendar", "within", "投诉", "Complaint",
        "自知道或应当知道之日起10日内提出", "filed within 10 days of knowing the facts", "招标投标法实施条例第60条")
    complaint_acceptance: Clock = _clock(
        "complaint_acceptance", 3, "working", "within", "投诉受理决定", "Decision to accept a complaint",
        "自收到投诉之日起3个工作日内决定是否受理", "decided within 3 working days of receipt",
        "招标投标法实施条例第61条")
    complaint_decision: Clock = _clock(
        "complaint_decision", 30, "working", "within", "投诉处理决定", "Decision on a complaint",
        "自受理投诉之日起30个工作日内作出书面处理决定", "decided in writing within 30 working days of acceptance",
        "招标投标法实施条例第61条")
    gp_winner_confirmation: Clock = _clock(
        "gp_winner_confirmation", 5, "working", "within", "确定中标（成交）供应商", "Winner confirmed (procurement)",
        "自收到评审报告之日起5个工作日内确定", "confirmed within 5 working days of receiving the report",
        "政府采购法实施条例第43条")
    gp_result_notice: Clock = _clock(
        "gp_result_notice", 2, "working", "within", "中标（成交）结果公告", "Result notice (procurement)",
        "自中标（成交）供应商确定之日起2个工作日内发出通知书并公告",
        "award notice sent and result published within 2 working days of confirming the winner",
        "政府采购法实施条例第43条")
    gp_challenge_window: Clock = _clock(
        "gp_challenge_window", 7, "working", "within", "供应商质疑", "Supplier challenge",
        "自知道或应知其权益受到损害之日起7个工作日内提出", "raised within 7 working days of knowing of the harm",
        "政府采购法第52条")
    gp_challenge_answer: Clock = _clock(
        "gp_challenge_answer", 7, "working", "within", "质疑答复", "Answer to a challenge",
        "收到书面质疑后7个工作日内答复", "answered within 7 working days of receipt", "政府采购法第53条")
    minimum_bids: int = 3
    minimum_bids_source: str = "招标投标法第28条; 招标投标法实施条例第44条 (投标人少于3个的，不得开标，应当重新招标)"

    def all(self) -> tuple[Clock, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Clock))

    def with_days(self, **days: int) -> StatutoryClocks:
        """A copy with some durations changed, e.g. by a province's stricter rule or the deployment config."""
        changes = {}
        for name, value in days.items():
            current = getattr(self, name, None)
            if not isinstance(current, Clock):
                raise KeyError(f"no statutory clock named {name!r}")
            if value < 0:
                raise ValueError(f"clock {name!r} cannot have a negative duration")
            changes[name] = replace(current, days=value)
        return replace(self, **changes)


@dataclass(frozen=True)
class WarningThresholds:
    """When a running clock turns yellow. Inferred (rules.md §5): at most one working day left."""

    yellow_working_days: int = 1


@dataclass(frozen=True)
class Signal:
    """The colour of one supervision point, with its reason and the day it turns on."""

    light: Light
    reason_zh: str
    reason_en: str
    due: date | None = None
    working_days_left: int | None = None
    calendar_covered: bool = True


def local_date(moment: datetime | date) -> date:
    """The Beijing calendar date of a moment; a plain date is taken as already local."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: store and pass times as timezone-aware (UTC) datetimes")
        return moment.astimezone(BEIJING).date()
    return moment


def clock_due(clock: Clock, anchor: datetime | date, calendar: WorkingCalendar | None = None) -> date:
    """The last day a WITHIN clock allows (inclusive, to 24:00 Beijing time, 民法典第203条)."""
    calendar = calendar or default_calendar()
    start = local_date(anchor)
    if clock.unit is DayKind.WORKING:
        return calendar.add_working_days(start, clock.days)
    if clock.rolls_past_rest_days:
        return calendar.period_end(start, clock.days)
    return start + timedelta(days=clock.days)


def clock_earliest(clock: Clock, anchor: datetime | date, calendar: WorkingCalendar | None = None) -> date:
    """The first day an AT_LEAST_AFTER clock allows the act on (the period's last day counts, 招标投标法第24条)."""
    calendar = calendar or default_calendar()
    start = local_date(anchor)
    if clock.unit is DayKind.WORKING:
        return calendar.add_working_days(start, clock.days)
    return start + timedelta(days=clock.days)


def clock_latest(clock: Clock, anchor: datetime | date, calendar: WorkingCalendar | None = None) -> date:
    """The last day an AT_LEAST_BEFORE clock allows the act on, counting back from the anchor."""
    calendar = calendar or default_calendar()
    reference = local_date(anchor)
    if clock.unit is DayKind.WORKING:
        return calendar.add_working_days(reference, -clock.days)
    return reference - timedelta(days=clock.days)


_FALLBACK_ZH = "（该年度节假日安排未收录，按周一至周五计算工作日）"
_FALLBACK_EN = " (holidays of that year not on file; Monday-Friday assumed)"


def _covered(calendar: WorkingCalendar, *days: date) -> bool:
    return all(calendar.covers(day) for day in days)


def evaluate_deadline(
    due: date,
    now: datetime,
    *,
    what_zh: str,
    what_en: str,
    done_at: datetime | None = None,
    thresholds: WarningThresholds = WarningThresholds(),
    calendar: WorkingCalendar | None = None,
) -> Signal:
    """Judge an act due by the end of ``due``: red if late or overdue, yellow near the end, else green."""
    calendar = calendar or default_calendar()
    today = local_date(now)
    if done_at is not None:
        done = local_date(done_at)
        if done <= due:
            return Signal(Light.GREEN, f"{what_zh}：已于{done}完成，期限{due}", f"{what_en}: done on {done}, due {due}", due)
        late = (done - due).days
        return Signal(
            Light.RED,
            f"{what_zh}：于{done}完成，超过期限{due}共{late}日",
            f"{what_en}: done on {done}, {late} day(s) after the due date {due}",
            due,
        )
    if today > due:
        late = (today - due).days
        return Signal(
            Light.RED, f"{what_zh}：已逾期{late}日（期限{due}）", f"{what_en}: overdue by {late} day(s) (due {due})", due, 0
        )
    left = calendar.working_days_between(today, due)
    covered = _covered(calendar, today, due)
    note_zh, note_en = ("", "") if covered else (_FALLBACK_ZH, _FALLBACK_EN)
    light = Light.YELLOW if left <= thresholds.yellow_working_days else Light.GREEN
    return Signal(
        light,
        f"{what_zh}：期限{due}，剩余{left}个工作日{note_zh}",
        f"{what_en}: due {due}, {left} working day(s) left{note_en}",
        due,
        left,
        covered,
    )


def evaluate_not_before(
    earliest: date,
    *,
    what_zh: str,
    what_en: str,
    act_at: datetime | None = None,
    planned_at: datetime | None = None,
) -> Signal:
    """Judge an act gated by a minimum period: red if it happened, or is scheduled, before ``earliest``."""
    for moment, verb_zh, verb_en in ((act_at, "发生于", "happened on"), (planned_at, "计划于", "is scheduled for")):
        if moment is None:
            continue
        day = local_date(moment)
        if day < earliest:
            short = (earliest - day).days
            return Signal(
                Light.RED,
                f"{what_zh}：{verb_zh}{day}，早于最早允许日{earliest}（不足{short}日）",
                f"{what_en}: {verb_en} {day}, before the earliest allowed day {earliest} ({short} day(s) short)",
                earliest,
            )
        return Signal(
            Light.GREEN,
            f"{what_zh}：{verb_zh}{day}，不早于{earliest}",
            f"{what_en}: {verb_en} {day}, not before {earliest}",
            earliest,
        )
    return Signal(Light.GREEN, f"{what_zh}：不得早于{earliest}", f"{what_en}: not before {earliest}", earliest)


def evaluate_not_after(latest: date, *, what_zh: str, what_en: str, act_at: datetime | None = None) -> Signal:
    """Judge an optional act that, if it happens, must come by ``latest`` (a lead time before an event)."""
    if act_at is None:
        return Signal(Light.GREEN, f"{what_zh}：如有，应不晚于{latest}", f"{what_en}: if any, by {latest}", latest)
    day = local_date(act_at)
    if day <= latest:
        return Signal(Light.GREEN, f"{what_zh}：{day}，不晚于{latest}", f"{what_en}: on {day}, by {latest}", latest)
    late = (day - latest).days
    return Signal(
        Light.RED,
        f"{what_zh}：{day}，晚于最迟日{latest}共{late}日",
        f"{what_en}: on {day}, {late} day(s) after the latest allowed day {latest}",
        latest,
    )


def evaluate_clock(
    clock: Clock,
    anchor: datetime | date,
    now: datetime,
    *,
    act_at: datetime | None = None,
    planned_at: datetime | None = None,
    thresholds: WarningThresholds = WarningThresholds(),
    calendar: WorkingCalendar | None = None,
) -> Signal:
    """The light of one supervision point.

    ``anchor`` is the event the clock counts from (for AT_LEAST_BEFORE clocks: counts back from, e.g. the bid
    deadline); ``act_at`` is when the gated act happened, if it has; ``planned_at`` is when it is scheduled
    (used by minimum-period clocks, so a bid deadline set too early is red as soon as it is published).
    """
    calendar = calendar or default_calendar()
    what_zh = f"{clock.title_zh}（{clock.rule_zh}）"
    what_en = f"{clock.title_en} ({clock.rule_en})"
    if clock.kind is ClockKind.WITHIN:
        due = clock_due(clock, anchor, calendar)
        return evaluate_deadline(
            due, now, what_zh=what_zh, what_en=what_en, done_at=act_at, thresholds=thresholds, calendar=calendar
        )
    if clock.kind is ClockKind.AT_LEAST_AFTER:
        earliest = clock_earliest(clock, anchor, calendar)
        return evaluate_not_before(earliest, what_zh=what_zh, what_en=what_en, act_at=act_at, planned_at=planned_at)
    latest = clock_latest(clock, anchor, calendar)
    return evaluate_not_after(latest, what_zh=what_zh, what_en=what_en, act_at=act_at)


def evaluate_bid_count(count: int, clocks: StatutoryClocks = StatutoryClocks()) -> Signal:
    """Fewer bids than the minimum at the deadline: the tender fails and is re-run (red)."""
    if count < clocks.minimum_bids:
        return Signal(
            Light.RED,
            f"投标人少于{clocks.minimum_bids}个（{count}个），不得开标，应当重新招标",
            f"Fewer than {clocks.minimum_bids} bids ({count}): the section may not be opened and must be re-tendered",
        )
    return Signal(Light.GREEN, f"投标人{count}个，满足开标条件", f"{count} bids: the section may be opened")
