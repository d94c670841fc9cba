"""Organisation and user administration, and the audit-log browser for supervisors."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from core import account_operations as ops
from core.accounts import ORG_KIND_LABELS, ROLE_LABELS, Organisation, OrgKind, Role, User
from core.audit import AuditEvent
from core.clock import parse_local
from core.db import db
from core.errors import DomainError
from core.permissions import admins_only, roles

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROUTES = [
    ("/organisations", "organisations", ["GET", "POST"]),
    ("/users", "users", ["GET", "POST"]),
    ("/users/<int:user_id>/role", "change_role", ["POST"]),
    ("/users/<int:user_id>/active", "set_active", ["POST"]),
    ("/audit", "audit_log", ["GET"]),
]


@admins_only
def organisations():
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        try:
            kind = OrgKind(form.get("kind", ""))
        except ValueError:
            kind = None
            errors["kind"] = "请选择单位类型 (choose a kind)"
        if kind:
            try:
                ops.create_organisation(name=form.get("name", ""), kind=kind, credit_code=form.get("credit_code", ""),
                                        region_code=form.get("region_code", ""),
                                        legal_representative=form.get("legal_representative") or None,
                                        actor=current_user)
                db.session.commit()
                flash("单位已添加 (organisation added)", "success")
                return redirect(url_for("admin.organisations"))
            except DomainError as exc:
                db.session.rollback()
                errors[exc.field or "_"] = exc.message
    rows = db.session.scalars(sa.select(Organisation).order_by(Organisation.kind, Organisation.name)).all()
    from core.validators import regions

    return render_template("admin/organisations.html", organisations=rows, errors=errors, form=request.form,
                           kinds=ORG_KIND_LABELS, regions=regions()), (422 if errors else 200)


@admins_only
def users():
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        try:
            role = Role(form.get("role", ""))
            org = db.session.get(Organisation, int(form.get("organisation_id") or 0)) if form.get("organisation_id") else None
            ops.create_user(username=form.get("username", ""), display_name=form.get("display_name", ""),
                            password=form.get("password", ""), role=role, organisation=org,
                            email=form.get("email") or None, actor=current_user)
            db.session.commit()
            flash("用户已添加 (user added)", "success")
            return redirect(url_for("admin.users"))
        except ValueError:
            errors["role"] = "请选择角色 (choose a role)"
        except DomainError as exc:
            db.session.rollback()
            errors[exc.field or "_"] = exc.message
    rows = db.session.scalars(sa.select(User).order_by(User.role, User.username)).all()
    orgs = db.session.scalars(sa.select(Organisation).order_by(Organisation.name)).all()
    return render_template("admin/users.html", users=rows, organisations=orgs, roles=ROLE_LABELS, errors=errors,
                           form=request.form), (422 if errors else 200)


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@admins_only
def change_role(user_id: int):
    user = _user(user_id)
    try:
        org = db.session.get(Organisation, int(request.form.get("organisation_id") or 0))
        ops.change_role(user, Role(request.form.get("role", "")), org, actor=current_user)
        db.session.commit()
        flash("角色已变更 (role changed)", "success")
    except (DomainError, ValueError) as exc:
        db.session.rollback()
        flash(getattr(exc, "message", "角色无效 (invalid role)"), "error")
    return redirect(url_for("admin.users"))


@admins_only
def set_active(user_id: int):
    user = _user(user_id)
    if user.id == current_user.id:
        flash("不能停用自己的账号 (you cannot deactivate yourself)", "error")
        return redirect(url_for("admin.users"))
    ops.set_active(user, request.form.get("active") == "1", actor=current_user)
    db.session.commit()
    return redirect(url_for("admin.users"))


@roles(Role.SUPERVISOR, Role.ADMIN)
def audit_log():
    """Browse and filter the audit log: by action, actor, object and time (Beijing time)."""
    args = request.args
    query = sa.select(AuditEvent)
    if args.get("action"):
        query = query.where(AuditEvent.action.startswith(args["action"].strip()))
    if args.get("actor"):
        query = query.where(AuditEvent.actor == args["actor"].strip())
    if args.get("object_type"):
        query = query.where(AuditEvent.object_type == args["object_type"].strip())
    if args.get("object_id"):
        query = query.where(AuditEvent.object_id == args["object_id"].strip())
    error = None
    try:
        if args.get("since"):
            query = query.where(AuditEvent.at >= parse_local(args["since"]))
        if args.get("until"):
            query = query.where(AuditEvent.at < parse_local(args["until"]) + timedelta(minutes=1))
    except ValueError as exc:
        error = str(exc)
    page = max(1, int(args.get("page", 1) or 1))
    rows = db.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(100).offset((page - 1) * 100)).all()
    actions = db.session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)).all()
    filters = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("admin/audit.html", events=rows, args=args, page=page, actions=actions, error=error,
                           filters=filters)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
