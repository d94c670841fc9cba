"""The foundation's two journeys, walked in Chromium: register and download; amendment and notice."""
from pathlib import Path

from core.accounts import Role
from core.validators import make_credit_code
from tests.browser.sealing_pages import sign_in


def test_a_bidder_registers_logs_in_and_downloads_the_documents(app, factory, new_page, tmp_path, release):
    project = factory.project()
    section = project.sections[0]
    project_name, section_name, document_id = project.name, section.name, section.current_documents[0].id
    release()
    page = new_page()
    page.goto("/register")
    page.fill("#f-org_name", "福建浏览器测试建设有限公司")
    page.fill("#f-credit_code", make_credit_code("91350902MA2Y07771"))
    page.select_option("#f-region_code", "350902")
    page.fill("#f-legal_representative", "林某")
    page.fill("#f-username", "browserbidder")
    page.fill("#f-display_name", "林经理")
    page.fill("#f-password", "a-long-password-2")
    page.click("main button[type=submit]")
    page.wait_for_url("**/workspace")
    page.click("form[action='/logout'] button")
    sign_in(page, "browserbidder", "a-long-password-2")
    page.goto("/")
    page.click(f"text={project_name}")
    page.click(f"text={section_name}")
    page.wait_for_function("() => document.querySelector('[data-server-clock] time').textContent !== '--:--:--'")
    with page.expect_download() as info:
        page.click(f"[data-document='{document_id}']")
    saved = tmp_path / "doc.pdf"
    info.value.save_as(saved)
    assert Path(saved).read_bytes() == b"%PDF-1.4 test"
    page.goto("/workspace")
    assert section_name in page.content()


def test_the_agent_publishes_an_amendment_and_the_bidder_sees_the_notice(app, factory, new_page, release):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    bidder = factory.user(Role.BIDDER)
    agent_name, bidder_name, section_id = agent.username, bidder.username, section.id
    document_id = section.current_documents[0].id
    release()
    bidder_page = new_page()
    sign_in(bidder_page, bidder_name)
    bidder_page.goto(f"/sections/{section_id}")
    with bidder_page.expect_download():
        bidder_page.click(f"[data-document='{document_id}']")

    agent_page = new_page()
    sign_in(agent_page, agent_name)
    agent_page.goto(f"/sections/{section_id}")
    agent_page.click("text=发布澄清/修改")
    agent_page.fill("#f-title", "关于工期要求的修改")
    agent_page.fill("#f-body", "工期由365日历天调整为330日历天。")
    agent_page.click("button[type=submit].primary")
    agent_page.wait_for_url(f"**/sections/{section_id}")
    assert "关于工期要求的修改" in agent_page.content()

    bidder_page.goto("/notifications")
    notice = bidder_page.locator(".notifications li.unread").first
    assert "澄清/修改通知" in notice.inner_text() and "关于工期要求的修改" in notice.inner_text()
    notice.locator("a").click()
    assert "工期由365日历天调整为330日历天" in bidder_page.content()
