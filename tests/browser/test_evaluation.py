"""The evaluation room in Chromium: two experts score, one is flagged as an outlier and confirms with a reason,
the committee signs, and the agent generates and downloads the platform-signed report."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pyotp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core.clock import now
from core.db import db
from core.pki import platform
from tests.evaluation import evaluation_helpers as eh
from tests.factories import PASSWORD
from tests.browser.sealing_pages import sign_in

ITEM = "t_method_statement"


def _score_sheet(page, bidders, items, low_cell=None):
    """Type every subjective score (one step under the maximum, or 2 for ``low_cell``) as an expert does."""
    for bidder in bidders:
        for item in items:
            value = 2 if (bidder, item["id"]) == low_cell else item["max"] - item["step"]
            field = page.locator(f"#s-{bidder}-{item['id']}")
            field.fill(str(value))
            field.press("Tab")
            page.locator(f"[data-status='{bidder}-{item['id']}']").filter(has_text="已保存").wait_for()


def test_two_experts_score_one_confirms_an_outlier_and_the_agent_downloads_the_report(app, factory, new_page,
                                                                                        release, tmp_path):
    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    in_api, in_browser = [seats[0], seats[1], seats[4]], [seats[2], seats[3]]
    view = eh.state(world, chair)
    bidders = [b["id"] for b in view["bidders"]]
    items = [i for i in view["items"] if i["kind"] == "subjective"]
    eh.score_everyone(world, in_api)
    evaluation_id, agent_name = world.evaluation_id, world.agent.username
    names = [s.user.username for s in in_browser]
    release()

    errors = []
    pages = []
    for name in names:
        page = new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, name)
        page.goto(f"/evaluations/{evaluation_id}")
        page.locator("[data-role=connection]").filter(has_text="已连接").wait_for()
        page.locator(f"#s-{bidders[0]}-{ITEM}").wait_for()
        pages.append(page)
    normal, deviant = pages
    _score_sheet(normal, bidders, items)
    normal.click("[data-action=submit-sheet]")
    normal.get_by_text("评分表已提交").wait_for()

    _score_sheet(deviant, bidders, items, low_cell=(bidders[1], ITEM))
    flagged = deviant.locator("form[data-confirm]")
    flagged.first.wait_for()
    assert "偏离" in deviant.locator("[data-role=flags]").inner_text()
    assert deviant.locator(f"#s-{bidders[1]}-{ITEM}.flagged").count() == 1
    deviant.click("[data-action=submit-sheet]")
    deviant.locator("[data-role=error]").filter(has_text="偏离提示").wait_for()
    while flagged.count():
        form = flagged.first
        form.locator("input[name=note]").fill("该方案未考虑冬季施工，坚持原评分")
        form.locator("button[type=submit]").click()
        deviant.wait_for_timeout(300)
    deviant.click("[data-action=submit-sheet]")
    deviant.get_by_text("评分表已提交").wait_for()
    assert not errors, errors

    flags = eh.state(world, chair)["flags"]
    confirmed = [f for f in flags if f["state"] == "confirmed"]
    assert confirmed and all(f["note"] == "该方案未考虑冬季施工，坚持原评分" for f in confirmed)
    assert eh.api(world, chair, "POST", "/close").status_code == 200
    eh.sign_everyone(world, seats)
    release()

    agent = new_page()
    sign_in(agent, agent_name)
    agent.goto(f"/evaluations/{evaluation_id}/report")
    agent.click(f"button[data-api='/evaluations/{evaluation_id}/report']")
    agent.locator("[data-role=download]").wait_for()
    with agent.expect_download() as info:
        agent.click("[data-role=download]")
    saved = tmp_path / "report.pdf"
    info.value.save_as(saved)
    pdf = saved.read_bytes()
    assert pdf.startswith(b"%PDF")
    ca = asn1_x509.Certificate.load(platform().ca.certificate.public_bytes(serialization.Encoding.DER))
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    with ThreadPoolExecutor(1) as worker:  # pyHanko runs its own event loop; Playwright's is running here
        status = worker.submit(validate_pdf_signature, signature, ValidationContext(trust_roots=[ca])).result()
    assert status.bottom_line


def test_an_expert_signs_in_at_the_seat_declares_votes_chats_and_reads_the_bids(app, factory, new_page, release):
    world = eh.build(app, factory, prices=(920, 950, 980))
    seats = eh.seated_members(world)
    last = seats[-2]  # an expert, in the browser
    for seat in seats:
        if seat is not last:
            assert eh.sign_in_by_certificate(world, seat).status_code == 200
            assert eh.declare(world, seat).status_code == 200
    secret = pyotp.random_base32()
    last.user.enable_totp(secret)
    username, evaluation_id = last.user.username, world.evaluation_id
    db.session.commit()
    release()

    page = new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, username, totp_secret=secret)
    page.goto(f"/evaluations/{evaluation_id}")
    page.locator("[data-role=connection]").filter(has_text="已连接").wait_for()
    page.fill("#seat-password", PASSWORD)
    page.fill("#seat-totp", pyotp.TOTP(secret).at(now() + timedelta(seconds=30)))
    page.click("#seat-totp ~ button[type=submit]")
    page.locator("form[data-role=declaration]").wait_for()
    assert "本人承诺" in page.content()
    page.click("form[data-role=declaration] button[type=submit]")
    page.locator("#candidate").wait_for()  # every seat declared: the committee elects its chair
    page.click("#candidate ~ button[type=submit]")
    page.get_by_text("您已投票").wait_for()
    page.fill("#chat-text", "各位专家好，开始评审")
    page.click("form[data-role=chat-form] button")
    page.locator("[data-role=messages] li").filter(has_text="各位专家好，开始评审").wait_for()
    page.goto(f"/evaluations/{evaluation_id}/modules/technical")
    assert page.locator(".bid-column").count() == 3
    page.locator(".bid-column iframe[data-kind=text]").first.wait_for(state="attached")  # the first file, opened
    text = page.frame_locator(".bid-column iframe[data-kind=text]").first.locator("body")
    assert "施工组织设计" in text.inner_text()
    page.locator(".bid-column button[data-viewer=pdf]").first.click()
    page.locator(".bid-column iframe[data-kind=pdf]").first.wait_for(state="attached")
    page.goto(f"/evaluations/{evaluation_id}/modules/qualification")
    image = page.locator(".bid-column img").first
    image.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())
    assert not errors, errors


def test_the_chair_proposes_an_arithmetic_correction_from_the_room(app, factory, new_page, release):
    """The room's correction form sends the bidder a clarification that states the correction."""
    import sqlalchemy as sa

    from evaluation.evaluation_models import PriceCorrection

    world, seats, chair = eh.to_scoring(app, factory, prices=(920, 950, 980))
    view = eh.state(world, chair)
    first = view["bidders"][0]
    evaluation_id, chair_name = world.evaluation_id, chair.user.username
    release()

    page = new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, chair_name)
    page.goto(f"/evaluations/{evaluation_id}")
    page.locator("[data-role=connection]").filter(has_text="已连接").wait_for()
    form = page.locator("form[data-role=price-correction]")
    form.locator("select[name=bidder]").select_option(str(first["id"]))
    form.locator("input[name=corrected_price]").fill("930.00")
    form.locator("input[name=reason]").fill("分项报价合计为930.00元，总价计算有误")
    form.locator("button[type=submit]").click()
    page.locator("[data-role=clarifications] p").filter(has_text="修正为 930.00 元").wait_for()
    assert not errors, errors
    correction = db.session.scalars(sa.select(PriceCorrection)).one()
    assert correction.state.value == "proposed" and str(correction.corrected_price) == "930.00"
    assert correction.bidder_id == first["id"] and "总价计算有误" in correction.reason
