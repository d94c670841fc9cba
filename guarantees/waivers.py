"""What a section asks as bid security, and waivers (免收投标保证金) granted under a configured rule."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.clock import now
from core.db import db
from core.errors import RuleViolation, ValidationError
from guarantees.models import Guarantee
from guarantees.records import DepositSlip, SecurityWaiver
from guarantees.rules import rules
from trading.models import Section, SectionState


@dataclass(frozen=True)
class Requirement:
    amount: Decimal
    waived: bool
    description: str

    @property
    def required(self) -> bool:
        return self.amount > 0 and not self.waived


def security_requirement(section: Section) -> Requirement:
    waiver = db.session.scalar(sa.select(SecurityWaiver).where(SecurityWaiver.section_id == section.id))
    if waiver is not None:
        return Requirement(Decimal("0.00"), True, waiver.description)
    if section.bid_security_amount <= 0:
        return Requirement(Decimal("0.00"), False, "招标文件未要求提交投标保证金 (the tender asks no bid security)")
    return Requirement(section.bid_security_amount, False,
                       f"投标保证金 {section.bid_security_amount:,.2f} 元 (bid security required)")


def grant_waiver(section: Section, agent: User, rule_key: str) -> SecurityWaiver:
    """Waive the section's bid security under ``rule_key``; the rule names every condition the section fails."""
    rule = rules().waiver_rules.get((rule_key or "").strip())
    if rule is None:
        raise ValidationError(f"未知的免收规则 {rule_key!r} (unknown waiver rule)", field="rule_key")
    if section.state not in (SectionState.DRAFT, SectionState.BIDDING) or now() >= section.deadline:
        raise RuleViolation("投标截止后不能再免收投标保证金 (a waiver must be granted before the deadline)")
    if db.session.scalar(sa.select(SecurityWaiver.id).where(SecurityWaiver.section_id == section.id)):
        raise ValidationError("本标段已免收投标保证金 (already waived)", field="rule_key")
    breaches = rule.breaches(section)
    if breaches:
        raise RuleViolation(f"不符合“{rule.description}”：{'；'.join(breaches)}", code="waiver_not_applicable",
                            field="rule_key")
    posted = db.session.scalar(sa.select(sa.func.count(Guarantee.id)).where(Guarantee.section_id == section.id)) or 0
    posted += db.session.scalar(sa.select(sa.func.count(DepositSlip.id)).where(DepositSlip.section_id == section.id)) or 0
    if posted:
        raise RuleViolation("已有投标人申请保函或缴纳保证金，不能再免收 (bidders already posted security)",
                            field="rule_key")
    waiver = SecurityWaiver(section_id=section.id, rule_key=rule.key, description=rule.description,
                            waived_amount=section.bid_security_amount, granted_by_id=agent.id)
    db.session.add(waiver)
    db.session.flush()
    audit.record("security.waived", waiver, actor=agent, section_id=section.id, rule=rule.key,
                 waived_amount=str(section.bid_security_amount))
    return waiver
