"""The statutory clocks checked at publication (rules.md §1 and §5; CTS-EBS01-2016).

Each check returns the rule it breaks, named in the message, so the agent knows what to fix. The clocks are
configuration (``core.config.StatutoryClocks``) with the legal values as defaults, compressed by the deadline
accelerator like every other interval.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.clock import now, statutory
from core.config import StatutoryClocks
from trading.models import ProcurementMethod, Project, ProjectType, Section


@dataclass(frozen=True)
class Breach:
    rule: str
    message: str
    field: str | None = None


def schedule_breaches(section: Section) -> list[Breach]:
    """Order of the schedule: notice ≤ issue start < issue end ≤ deadline, clarifications before the deadline."""
    out = []
    if section.issue_start < section.notice_at:
        out.append(Breach("schedule.order", "文件发售开始时间不得早于公告发布时间 (document issue cannot start before the notice)",
                          "issue_start"))
    if section.issue_end <= section.issue_start:
        out.append(Breach("schedule.order", "文件发售截止时间应晚于开始时间 (issue end must be after issue start)", "issue_end"))
    if section.deadline < section.issue_end:
        out.append(Breach("schedule.order", "投标截止时间不得早于文件发售截止时间 (the bid deadline cannot precede the issue end)",
                          "deadline"))
    if not section.issue_start <= section.clarification_deadline < section.deadline:
        out.append(Breach("schedule.order", "澄清截止时间应在文件发售开始之后、投标截止之前 "
                          "(the clarification deadline must fall between issue start and the bid deadline)",
                          "clarification_deadline"))
    if not 1 <= section.decryption_minutes <= 24 * 60:
        out.append(Breach("schedule.decryption_window", "解密时限应为1至1440分钟 (decryption window: 1–1440 minutes)",
                          "decryption_minutes"))
    return out


def publication_breaches(project: Project, clocks: StatutoryClocks) -> list[Breach]:
    """Everything that blocks publishing ``project`` now, each naming its rule."""
    out: list[Breach] = []
    if not project.sections:
        out.append(Breach("project.sections", "项目至少需要一个标段 (a project needs at least one section)"))
    if project.method is ProcurementMethod.INVITED and len(project.invitations) < clocks.invitation_min_invitees:
        out.append(Breach("invitation.min_invitees",
                          f"邀请招标应邀请不少于{clocks.invitation_min_invitees}个投标人（CTS-EBS01-2016；招标投标法第17条），"
                          f"当前{len(project.invitations)}个 (an invitation tender names at least "
                          f"{clocks.invitation_min_invitees} invitees)"))
    moment = now()
    for section in project.sections:
        label = f"{section.code} "
        for breach in schedule_breaches(section):
            out.append(Breach(breach.rule, label + breach.message, breach.field))
        if section.deadline <= moment:
            out.append(Breach("schedule.deadline_past", label + "投标截止时间已过 (the bid deadline is in the past)", "deadline"))
        if project.type is ProjectType.WORKS and section.deadline - section.issue_start < statutory(
                clocks.works_issue_to_deadline_days):
            out.append(Breach("clock.issue_to_deadline",
                              label + f"自招标文件开始发出之日起至投标截止不得少于{clocks.works_issue_to_deadline_days}日"
                              f"（招标投标法第24条；CTS-EBS01-2016）(at least {clocks.works_issue_to_deadline_days} days from "
                              f"the start of document issue to the deadline)", "deadline"))
        if section.issue_end - section.issue_start < statutory(clocks.issue_window_days):
            out.append(Breach("clock.issue_window",
                              label + f"招标文件发售期不得少于{clocks.issue_window_days}日（招标投标法实施条例第16条）"
                              f"(the issue window is at least {clocks.issue_window_days} days)", "issue_end"))
        if not section.current_documents:
            out.append(Breach("documents.missing", label + "尚未上传招标文件 (no tender documents uploaded)"))
        if not section.price_form:
            out.append(Breach("price_form.missing", label + "尚未设置开标一览表 (no price form defined)"))
    return out
