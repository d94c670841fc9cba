"""Waivers: a configured rule (government-invested works below 10M CNY) names each condition a section fails."""
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import db
from core.errors import RuleViolation
from guarantees.records import SecurityWaiver
from guarantees.rules import GOVERNMENT_WORKS_UNDER_10M, SecurityRules, WaiverRule
from guarantees.verification import verify_for_section
from guarantees.waivers import grant_waiver, security_requirement
from tests.guarantees.conftest import apply


def test_an_eligible_section_is_waived_and_verification_passes_on_the_waiver(client, factory, market):
    project = market.section.project
    project.government_invested = True
    db.session.commit()
    factory.login(client, market.agent)
    response = client.post(f"/sections/{market.section.id}/security/waiver", data={"rule_key": GOVERNMENT_WORKS_UNDER_10M.key})
    assert response.status_code == 302
    requirement = security_requirement(market.section)
    assert requirement.waived and not requirement.required and requirement.amount == 0
    report = verify_for_section(market.section, market.bidder.organisation)
    assert report.ok and report.basis == "waived"
    refused = client.post(f"/api/v1/sections/{market.section.id}/guarantee-applications",
                          json={"product_id": market.issuer.product.id}, headers=market.bidder_headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "security_not_required"


def test_an_ineligible_section_is_refused_naming_each_condition(market):
    with pytest.raises(RuleViolation) as refused:
        grant_waiver(market.section, market.agent, GOVERNMENT_WORKS_UNDER_10M.key)
    assert "government-invested" in refused.value.message
    market.section.project.government_invested = True
    market.section.ceiling_price = Decimal("10000000.00")
    with pytest.raises(RuleViolation) as refused:
        grant_waiver(market.section, market.agent, GOVERNMENT_WORKS_UNDER_10M.key)
    assert "below 10,000,000" in refused.value.message and "government" not in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count(SecurityWaiver.id))) == 0


def test_the_rule_is_configurable_and_posted_security_blocks_a_waiver(app, market):
    goods_rule = WaiverRule(key="small_sections", description="标段限价低于2000万元免收", ceiling_below=Decimal("20000000"))
    app.config["GUARANTEE_RULES"] = SecurityRules(waiver_rules={goods_rule.key: goods_rule})
    try:
        apply(market)
        with pytest.raises(RuleViolation) as refused:
            grant_waiver(market.section, market.agent, "small_sections")
        assert "already posted" in refused.value.message
    finally:
        app.config.pop("GUARANTEE_RULES")
