"""A supervisor sees a red warning and the bid-rigging clue behind it, and closes the warning with a reason."""
import sqlalchemy as sa

from core.accounts import Role
from core.db import db
from supervision.collusion_evidence import run_analysis
from supervision.models import SupervisionWarning, WarningState
from tests.supervision.opened import BidSpec, fingerprint, open_section
from tests.browser.sealing_pages import sign_in


def test_a_supervisor_closes_a_red_warning_after_seeing_the_clue(app, factory, monkeypatch, new_page, release):
    shared = fingerprint("one desk")
    opened = open_section(app, factory, monkeypatch, [BidSpec("8100000.00", "甲", fingerprint=shared),
                                                      BidSpec("8300000.00", "乙", fingerprint=shared),
                                                      BidSpec("7400000.00", "丙")])
    supervisor = factory.user(Role.SUPERVISOR)
    run_analysis(opened.section, supervisor)
    db.session.commit()
    warning = db.session.scalar(sa.select(SupervisionWarning).where(SupervisionWarning.point == "collusion"))
    warning_id, section_name = warning.id, opened.section.name
    names = [b.user.organisation.name for b in opened.bidders[:2]]
    username, secret = supervisor.username, supervisor.totp_secret()
    release()

    page = new_page()
    sign_in(page, username, totp_secret=secret)
    page.click("header nav >> text=监督预警")
    row = page.locator(f"tr[data-warning='{warning_id}']")
    assert row.get_attribute("data-light") == "red"
    assert "红灯" in row.inner_text() and "串标" in row.inner_text()
    row.locator("a", has_text=section_name).click()
    page.click("text=查看线索")
    clues = page.locator("#clues").inner_text()
    assert "机器码相同" in clues and all(name in clues for name in names)
    page.goto(f"/supervision/warnings/{warning_id}")
    page.click("button:has-text('关闭预警')")
    assert "关闭预警须填写理由" in page.locator(".flash.error").inner_text()
    page.fill("#close-reason", "已约谈两家投标人，线索移交稽查")
    page.click("button:has-text('关闭预警')")
    assert "已约谈两家投标人" in page.locator("[data-close-reason]").inner_text()
    assert page.locator("[data-state]").get_attribute("data-state") == "closed"
    db.session.expire_all()
    closed = db.session.get(SupervisionWarning, warning_id)
    assert closed.state is WarningState.CLOSED and closed.close_reason.startswith("已约谈")
    db.session.remove()
