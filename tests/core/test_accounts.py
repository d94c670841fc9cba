"""Registration, sign-in, the second factor, rate limiting, tokens."""
import pyotp
import sqlalchemy as sa

from core.accounts import Organisation, Role, User
from core.audit import AuditEvent
from core.db import db
from core.validators import make_credit_code
from tests.factories import PASSWORD


def _registration(**changes):
    data = {"org_name": "福建测试建设有限公司", "credit_code": make_credit_code("91350902MA2Y09991"),
            "region_code": "350902", "legal_representative": "张三", "username": "fjtest",
            "display_name": "张经理", "password": "a-long-password-1", "email": "a@example.com"}
    data.update(changes)
    return data


def test_a_bidder_registers_and_is_signed_in(client):
    response = client.post("/register", data=_registration())
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.username == "fjtest"))
    assert user.role is Role.BIDDER and user.organisation.name == "福建测试建设有限公司"
    assert user.password_hash.startswith("$argon2")
    assert client.get("/workspace").status_code == 200
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert {"organisation.created", "user.created"} <= set(actions)


def test_an_invalid_credit_code_is_named_in_the_page_and_nothing_is_saved(client):
    bad = make_credit_code("91350902MA2Y09991")[:17] + "0"
    response = client.post("/register", data=_registration(credit_code=bad))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "校验位错误" in page and 'id="e-credit_code"' in page
    assert db.session.scalar(sa.select(sa.func.count(Organisation.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_wrong_password_is_refused_and_audited(client, factory):
    user = factory.user(Role.BIDDER)
    assert client.post("/login", data={"username": user.username, "password": "nope-nope-nope"}).status_code == 401
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.login_failed")) is not None
    assert client.get("/workspace").status_code == 302


def test_supervisors_must_present_a_second_factor(client, factory):
    supervisor = factory.user(Role.SUPERVISOR)
    response = client.post("/login", data={"username": supervisor.username, "password": PASSWORD})
    assert "/login/second-factor" in response.headers["Location"]
    assert client.get("/admin/audit").status_code == 302  # not yet
    code = pyotp.TOTP(supervisor.totp_secret()).now()
    assert client.post("/login/second-factor", data={"code": code}).status_code == 302
    assert client.get("/admin/audit").status_code == 200
    # the same code cannot be replayed in another session
    other = client.application.test_client()
    other.post("/login", data={"username": supervisor.username, "password": PASSWORD})
    assert other.post("/login/second-factor", data={"code": code}).status_code == 401


def test_a_supervisor_without_a_second_factor_must_enrol_first(client, factory):
    supervisor = factory.user(Role.SUPERVISOR, totp=False)
    response = client.post("/login", data={"username": supervisor.username, "password": PASSWORD})
    assert "/account/totp" in response.headers["Location"]
    page = client.get("/account/totp").get_data(as_text=True)
    with client.session_transaction() as session:
        secret = session["pending_totp_secret"]
    assert secret in page
    assert client.post("/account/totp", data={"code": "000000"}).status_code == 422
    assert client.post("/account/totp", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    db.session.expire_all()
    stored = db.session.get(User, supervisor.id)
    assert stored.has_totp and secret not in stored.totp_secret_sealed  # sealed at rest, not in clear
    assert client.get("/admin/audit").status_code == 200


def test_login_is_rate_limited(app, factory):
    from core.extensions import limiter

    user = factory.user(Role.BIDDER)
    client = app.test_client()
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.post("/login", data={"username": user.username, "password": "x" * 12}).status_code
                 for _ in range(4)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
        limiter.reset()
    assert codes == [401, 401, 401, 429]


def test_api_tokens_need_both_factors_for_supervisors(client, factory):
    supervisor = factory.user(Role.SUPERVISOR)
    refused = client.post("/api/v1/tokens", json={"username": supervisor.username, "password": PASSWORD})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "second_factor_required"
    headers = factory.token(client, supervisor)
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["role"] == "supervisor"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer bh_forged"}).status_code == 401


def test_csrf_tokens_protect_forms(app, factory):
    user = factory.user(Role.BIDDER)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        response = client.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_admin_changes_a_role_and_it_is_audited(client, factory):
    admin = factory.user(Role.ADMIN)
    target = factory.user(Role.BIDDER)
    agency = factory.org(kind=__import__("core.accounts", fromlist=["OrgKind"]).OrgKind.AGENCY)
    factory.login(client, admin)
    response = client.post(f"/admin/users/{target.id}/role", data={"role": "agent", "organisation_id": agency.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, target.id).role is Role.AGENT
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.role_changed"))
    assert event.details == {"before": "bidder", "after": "agent", "organisation_id": agency.id}


def test_csrf_guards_cookie_sessions_but_not_cookie_less_api_calls(app, factory):
    """bidtool and issuers call the API without a cookie; a browser session must send the CSRF token."""
    user = factory.user(Role.BIDDER)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        tool = app.test_client(use_cookies=False)
        token = tool.post("/api/v1/tokens", json={"username": user.username, "password": PASSWORD})
        assert token.status_code == 200
        assert tool.post("/api/v1/auth/challenge").status_code == 200
        browser = app.test_client()
        page = browser.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        assert browser.post("/login", data={"username": user.username, "password": PASSWORD,
                                             "csrf_token": csrf}).status_code == 302
        refused = browser.post("/api/v1/certificates/signing", json={"csr": "x"})
        assert refused.status_code == 400
        allowed = browser.post("/api/v1/certificates/signing", json={"csr": "x"}, headers={"X-CSRFToken": csrf})
        assert allowed.status_code == 422  # past CSRF: the request itself is then judged
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
