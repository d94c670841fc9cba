"""The figures behind the supervisors' dashboards, each read with one or two aggregate queries.

- projects by stage: sections per state;
- warnings by type: open warnings per supervision point, red and yellow;
- the savings rate (节支率): 1 − award amount / budget, over projects whose every live section is awarded, and
  1 − award / ceiling price per awarded section;
- guarantee use and the funds freed: guarantees and cash deposits held, released and refunded (with interest);
- expert use: expert invitations by outcome, and draws per month.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from core import clock
from core.db import db
from supervision.award_models import Award
from supervision.charts import Series, bar_chart
from supervision.facts import guarantees_installed
from supervision.models import SupervisionWarning, WarningLight, WarningState
from supervision.points import POINTS
from trading.models import SECTION_STATES, Project, Section, SectionState


@dataclass
class Figure:
    """One chart and the table of its figures (headers and rows) for those who do not read charts."""

    chart: object
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def sections_by_stage() -> Figure:
    counts = dict(db.session.execute(sa.select(Section.state, sa.func.count(Section.id)).group_by(Section.state)).all())
    states = [s for s in SectionState if counts.get(s)]
    labels = [SECTION_STATES.labels[s] for s in states]
    values = [float(counts[s]) for s in states]
    chart = bar_chart("chart-stages", "各阶段标段数 (sections by stage)", labels, [Series("标段", "blue", values)],
                      unit="个")
    return Figure(chart, ["阶段", "标段数"], [[label, str(int(v))] for label, v in zip(labels, values)])


def warnings_by_point() -> Figure:
    rows = db.session.execute(sa.select(SupervisionWarning.point, SupervisionWarning.light, sa.func.count())
                              .where(SupervisionWarning.state == WarningState.OPEN)
                              .group_by(SupervisionWarning.point, SupervisionWarning.light)).all()
    counts: dict[str, dict[WarningLight, int]] = defaultdict(dict)
    for point, light, count in rows:
        counts[point][light] = count
    points = [p for p in POINTS if p.code in counts]
    labels = [p.title_zh for p in points]
    red = [float(counts[p.code].get(WarningLight.RED, 0)) for p in points]
    yellow = [float(counts[p.code].get(WarningLight.YELLOW, 0)) for p in points]
    chart = bar_chart("chart-warnings", "各类预警（处理中）(open warnings by type)", labels,
                      [Series("红灯", "red", red), Series("黄灯", "yellow", yellow)], unit="个")
    return Figure(chart, ["监督点", "红灯", "黄灯"],
                  [[label, str(int(r)), str(int(y))] for label, r, y in zip(labels, red, yellow)])


def savings() -> Figure:
    rows = db.session.execute(sa.select(Section.project_id, Section.code, Section.name, Section.ceiling_price,
                                        Award.amount, Award.decided_at).join(Award, Award.section_id == Section.id)
                              .order_by(Award.decided_at.desc())).all()
    awarded: dict[int, Decimal] = defaultdict(Decimal)
    for project_id, *_rest, amount, _at in rows:
        awarded[project_id] += amount
    live = defaultdict(int)
    for project_id, state in db.session.execute(sa.select(Section.project_id, Section.state)):
        if state not in (SectionState.CANCELLED, SectionState.FAILED):
            live[project_id] += 1
    per_project = defaultdict(int)
    for project_id, *_ in rows:
        per_project[project_id] += 1
    complete = [pid for pid in awarded if per_project[pid] == live[pid]]
    budgets = dict(db.session.execute(sa.select(Project.id, Project.budget).where(Project.id.in_(complete))).all()) \
        if complete else {}
    total_budget = sum(budgets.values(), Decimal(0))
    total_award = sum((awarded[pid] for pid in complete), Decimal(0))
    overall = float(1 - total_award / total_budget) * 100 if total_budget else None
    recent = rows[:12]
    labels = [f"{code[-6:]} {name}"[:18] for _p, code, name, *_ in recent]
    rates = [float(1 - amount / ceiling) * 100 if ceiling else 0.0 for *_x, ceiling, amount, _at in recent]
    chart = bar_chart("chart-savings", "节支率：中标金额相对最高投标限价 (savings against the ceiling)", labels,
                      [Series("节支率", "green", rates)], unit="%", maximum=max([100.0, *rates]) if rates else 100)
    note = (f"全部标段已定标的项目：预算合计 ¥{total_budget:,.2f}，中标金额合计 ¥{total_award:,.2f}，"
            f"节支率 {overall:.2f}% (savings against the budget)" if overall is not None
            else "尚无全部标段已定标的项目 (no fully awarded project yet)")
    return Figure(chart, ["标段", "最高投标限价", "中标金额", "节支率"],
                  [[label, f"¥{ceiling:,.2f}", f"¥{amount:,.2f}", f"{rate:.2f}%"]
                   for label, (*_x, ceiling, amount, _at), rate in zip(labels, recent, rates)], note)


def guarantee_use() -> Figure | None:
    if not guarantees_installed():
        return None
    from guarantees.models import SECURING_STATES, Guarantee, GuaranteeState
    from guarantees.records import Deposit, DepositRefund, DepositState

    def total(query) -> Decimal:
        return Decimal(db.session.scalar(query) or 0)

    held = total(sa.select(sa.func.sum(Guarantee.amount)).where(Guarantee.state.in_(SECURING_STATES)))
    released = total(sa.select(sa.func.sum(Guarantee.amount)).where(Guarantee.state == GuaranteeState.RELEASED))
    deposits_held = total(sa.select(sa.func.sum(Deposit.amount)).where(Deposit.state == DepositState.RECEIVED))
    refunded = total(sa.select(sa.func.sum(DepositRefund.total)))
    interest = total(sa.select(sa.func.sum(DepositRefund.interest)))
    labels = ["电子保函", "现金保证金"]
    chart = bar_chart("chart-guarantees", "投标保证金：占用与释放 (bid security held and freed)", labels,
                      [Series("占用中", "grey", [float(held), float(deposits_held)]),
                       Series("已释放/退还", "teal", [float(released), float(refunded)])], unit="元")
    freed = released + refunded
    return Figure(chart, ["形式", "占用中", "已释放/退还"],
                  [["电子保函", f"¥{held:,.2f}", f"¥{released:,.2f}"],
                   ["现金保证金", f"¥{deposits_held:,.2f}", f"¥{refunded:,.2f}（含利息 ¥{interest:,.2f}）"]],
                  f"已释放资金合计 ¥{freed:,.2f} (funds freed)")


def expert_use() -> Figure | None:
    try:
        from evaluation.draw_models import ASSIGNMENT_STATES, Draw, DrawAssignment
    except ImportError:
        return None
    counts = dict(db.session.execute(sa.select(DrawAssignment.status, sa.func.count(DrawAssignment.id))
                                     .group_by(DrawAssignment.status)).all())
    statuses = [s for s in ASSIGNMENT_STATES.labels if counts.get(s)]
    labels = [ASSIGNMENT_STATES.labels[s] for s in statuses]
    values = [float(counts[s]) for s in statuses]
    months: dict[str, int] = defaultdict(int)
    for (created,) in db.session.execute(sa.select(Draw.created_at)):
        months[clock.local(created).strftime("%Y-%m")] += 1
    chart = bar_chart("chart-experts", "专家邀请结果 (expert invitations by outcome)", labels,
                      [Series("人次", "purple", values)], unit="人次")
    note = "；".join(f"{m}：{n}次抽取" for m, n in sorted(months.items())[-12:]) or "尚无专家抽取 (no draws yet)"
    return Figure(chart, ["结果", "人次"], [[label, str(int(v))] for label, v in zip(labels, values)], note)


def all_figures() -> list[tuple[str, Figure]]:
    figures = [("按阶段统计的项目 (projects by stage)", sections_by_stage()),
               ("按类型统计的预警 (warnings by type)", warnings_by_point()),
               ("节支率 (savings rate)", savings())]
    guarantees = guarantee_use()
    if guarantees is not None:
        figures.append(("保证金占用与释放 (guarantee use and funds freed)", guarantees))
    experts = expert_use()
    if experts is not None:
        figures.append(("专家使用 (expert use)", experts))
    return figures
