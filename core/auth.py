"""Sign-in: password with an optional (for supervisors and admins, mandatory) TOTP second factor, and API tokens."""
from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user

from core import account_operations as ops
from core import audit
from core.accounts import ApiToken, User
from core.db import db, utcnow
from core.errors import DomainError
from core.extensions import limiter, login_manager
from core.permissions import public, signed_in

bp = Blueprint("auth", __name__)

TOKEN_LIFETIME = timedelta(days=30)


class _NoCookieForTokens(SecureCookieSessionInterface):
    """A request authenticated by a bearer token gets no session cookie: the token is its only credential."""

    def save_session(self, app, session, response):
        if g.get("authenticated_by_token"):
            return None
        return super().save_session(app, session, response)


def token_user(header: str) -> User | None:
    if not header.startswith("Bearer "):
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.digest(header[7:].strip())))
    if token is None or token.revoked_at is not None or token.expires_at <= utcnow() or not token.user.active:
        return None
    return token.user


def init_app(app) -> None:
    app.session_interface = _NoCookieForTokens()

    @app.before_request
    def _bearer_only():
        # A bearer header is the whole credential: a bad token is refused even beside a session cookie.
        # (Clear what a previous request left in ``g``: tests share one app context across requests.)
        g.pop("_login_user", None)
        g.pop("authenticated_by_token", None)
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = token_user(header)
            if user is None:
                abort(401, description="令牌无效或已过期 (invalid or expired token)")
            g.authenticated_by_token = True
            g._login_user = user

    @login_manager.user_loader
    def _load(user_id: str):
        return db.session.get(User, int(user_id))



def _safe_next(default: str) -> str:
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    return target if target.startswith("/") and not parts.netloc and not target.startswith("//") else default


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or not user.active or not user.check_password(request.form.get("password", "")):
            audit.record("user.login_failed", object_type="users", object_id=user.id if user else None, username=username)
            db.session.commit()
            flash("用户名或密码错误 (wrong username or password)", "error")
            return render_template("auth/login.html", username=username), 401
        login_user(user)
        session["second_factor"] = False
        audit.record("user.login", user, actor=user, method="password")
        db.session.commit()
        if user.has_totp:
            return redirect(url_for("auth.second_factor", next=_safe_next("")))
        if user.needs_totp:
            return redirect(url_for("auth.totp_setup", next=_safe_next("")))
        return redirect(_safe_next(url_for("trading.workspace")))
    return render_template("auth/login.html", username="")


@bp.route("/login/second-factor", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@public
def second_factor():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if not current_user.has_totp:
        return redirect(url_for("auth.totp_setup", next=_safe_next("")))
    if request.method == "POST":
        if current_user.check_totp(request.form.get("code", "")):
            session["second_factor"] = True
            audit.record("user.second_factor", current_user._get_current_object(), actor=current_user)
            db.session.commit()
            return redirect(_safe_next(url_for("trading.workspace")))
        db.session.commit()
        flash("动态口令错误或已使用 (wrong or reused one-time code)", "error")
        return render_template("auth/second_factor.html"), 401
    return render_template("auth/second_factor.html")


@bp.route("/account/totp", methods=["GET", "POST"])
@public
def totp_setup():
    """Enrol a TOTP authenticator. Reachable before the second factor, since enrolling is how one gets it."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.has_totp and not session.get("second_factor"):
        return redirect(url_for("auth.second_factor"))
    error = None
    if request.method == "POST":
        secret = session.get("pending_totp_secret")
        try:
            if not secret:
                raise DomainError("请刷新页面重新开始 (start again)", field="code")
            ops.enrol_totp(current_user._get_current_object(), secret, request.form.get("code", ""))
            db.session.commit()
            session.pop("pending_totp_secret", None)
            session["second_factor"] = True
            flash("动态口令已启用 (two-factor sign-in enabled)", "success")
            return redirect(_safe_next(url_for("trading.workspace")))
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    secret = session.setdefault("pending_totp_secret", ops.new_totp_secret())
    uri = pyotp.TOTP(secret).provisioning_uri(name=current_user.username, issuer_name="bidhall")
    return render_template("auth/totp_setup.html", secret=secret, uri=uri, error=error), (422 if error else 200)


@bp.route("/logout", methods=["POST"])
@signed_in
def logout():
    audit.record("user.logout", current_user._get_current_object(), actor=current_user)
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("trading.notices"))


@bp.route("/register", methods=["GET", "POST"])
@public
def register():
    """A bidder organisation registers with its first member user."""
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        try:
            user = ops.register_bidder(
                org_name=form.get("org_name", ""), credit_code=form.get("credit_code", ""),
                region_code=form.get("region_code", ""), legal_representative=form.get("legal_representative", ""),
                username=form.get("username", ""), display_name=form.get("display_name", ""),
                password=form.get("password", ""), email=form.get("email") or None,
            )
            db.session.commit()
            login_user(user)
            session["second_factor"] = False
            flash("注册成功 (registered)", "success")
            return redirect(url_for("trading.workspace"))
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    from core.validators import regions

    return render_template("auth/register.html", form=form, errors=errors, regions=regions()), (422 if errors else 200)


@bp.route("/lang/<code>", methods=["POST"])
@public
def switch_language(code: str):
    session["lang"] = "en" if code == "en" else "zh"
    return redirect(_safe_next(url_for("trading.notices")))


def issue_token(user: User, label: str = "api") -> str:
    token = "bh_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=ApiToken.digest(token), label=label[:100],
                            expires_at=utcnow() + TOKEN_LIFETIME))
    audit.record("api_token.issued", user, actor=user, label=label[:100])
    return token
