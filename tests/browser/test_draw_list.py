"""In Chromium: a supervisor whose encryption key was made in this browser opens the sealed expert list in the
draw page before the evaluation starts; the page the server sent held no name."""

from core.accounts import OrgKind, Role, User
from core.db import db
from evaluation import draw_operations as ops
from evaluation.draw_confirmations import committee_of
from evaluation.draw_models import Draw
from tests.browser.sealing_pages import enrol_in_page, sign_in
from tests.evaluation import draw_helpers as h


def test_a_supervisor_opens_the_sealed_list_with_the_key_in_this_browser(app, factory, new_page, release):
    agent = factory.user(Role.AGENT)
    section = factory.project(agent).sections[0]
    authority = factory.org(OrgKind.SUPERVISORY_AUTHORITY, region="350900")
    supervisor = factory.user(Role.SUPERVISOR, organisation=authority)
    venue = h.venue("NDGGZY-01", "350900", 9)
    h.pool({("A0401", "350902"): 8, ("B0101", "350902"): 3}, factory)
    draw = h.request(section, agent, [venue], supervisor_org=authority)
    ops.commit_draw(draw, actor=agent, bidders=None)
    ops.contribute(draw, supervisor, "监督人员随机串 0577")
    db.session.commit()
    ids = {"draw": draw.id, "agent": agent.id, "supervisor": supervisor.id}
    username, secret = supervisor.username, supervisor.totp_secret()
    release()

    errors = []

    def signed_in_page():
        page = new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        def reusable_code():
            user = db.session.get(User, ids["supervisor"])
            user.totp_last_step = None  # the same code may sign in twice in this test
            db.session.commit()
            release()

        sign_in(page, username, totp_secret=secret, before_code=reusable_code)
        return page

    page = signed_in_page()
    enrol_in_page(page)  # the supervisor's personal keys, made here and non-extractable

    draw = db.session.get(Draw, ids["draw"])
    ops.reveal(draw, actor=db.session.get(User, ids["agent"]))  # sealed to the certificate just issued
    db.session.commit()
    # The test holds no key of this browser: the evaluation service tells it what the page must show.
    names = {e.code: e.name for _a, e in committee_of(draw)}
    release()

    page.goto(f"/draws/{ids['draw']}")
    page.wait_for_selector("#sealed-list[data-ready=true]")
    content = page.content()
    assert not [s for s in [*names, *names.values()] if s in content]  # the server sent no name
    page.click("[data-action=open-sealed-list]")
    page.wait_for_selector("#sealed-list [data-role=status][data-kind=success]", timeout=20000)
    table = page.inner_text("[data-sealed-committee]")
    assert all(code in table and name in table for code, name in names.items()), table
    assert page.locator("[data-sealed-committee] tbody tr").count() == 6
    assert "待确认" in table and not errors

    # Another browser profile of the same supervisor holds no key: it is told so, and shows nothing.
    elsewhere = signed_in_page()
    elsewhere.goto(f"/draws/{ids['draw']}")
    elsewhere.wait_for_selector("#sealed-list[data-ready=true]")
    elsewhere.click("[data-action=open-sealed-list]")
    elsewhere.wait_for_selector("#sealed-list [data-role=status][data-kind=error]")
    assert "no key in this browser" in elsewhere.inner_text("#sealed-list [data-role=status]")
    assert elsewhere.locator("[data-sealed-committee]").count() == 0 and not errors
