"""Issuers on the platform: their products, their callback URL, and the dashboard figures."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import sqlalchemy as sa

from core import audit
from core.accounts import Organisation, OrgKind, User
from core.clock import now
from core.db import db
from core.errors import ValidationError
from guarantees.models import (
    Claim,
    ClaimState,
    Guarantee,
    GuaranteeForm,
    GuaranteeProduct,
    GuaranteeState,
    IssuerProfile,
)

PRODUCT_CODE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")


def _decimal(value, field: str, *, low: Decimal = Decimal("0"), high: Decimal | None = None) -> Decimal:
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise ValidationError("请填写数字 (a number is required)", field=field) from None
    if not number.is_finite() or number < low or (high is not None and number > high):
        raise ValidationError(f"数值超出范围 {low}–{high if high is not None else '∞'} (out of range)", field=field)
    return number


def create_product(issuer_user: User, *, code: str, name: str, form: str, premium_rate, minimum_premium,
                   min_amount, max_amount, max_validity_days, supports_cipher: bool) -> GuaranteeProduct:
    issuer = issuer_user.organisation
    if issuer is None or issuer.kind is not OrgKind.ISSUER:
        raise ValidationError("只有担保机构可以发布保函产品 (only issuers offer products)")
    code = (code or "").strip()
    if not PRODUCT_CODE.match(code):
        raise ValidationError("产品代码为2–32位字母、数字、_ 或 - (product code)", field="code")
    if db.session.scalar(sa.select(GuaranteeProduct.id).where(GuaranteeProduct.issuer_id == issuer.id,
                                                               GuaranteeProduct.code == code)):
        raise ValidationError(f"产品代码 {code} 已存在 (duplicate product code)", field="code")
    if not (name or "").strip():
        raise ValidationError("请填写产品名称 (product name required)", field="name")
    try:
        product_form = GuaranteeForm(form)
    except ValueError:
        raise ValidationError("请选择保函类型 (choose the guarantee form)", field="form") from None
    rate = _decimal(premium_rate, "premium_rate", high=Decimal("0.1"))
    low, high = _decimal(min_amount, "min_amount"), _decimal(max_amount, "max_amount")
    if high <= low:
        raise ValidationError("最高担保金额应大于最低金额 (max amount must exceed min amount)", field="max_amount")
    try:
        days = int(max_validity_days)
    except (TypeError, ValueError):
        raise ValidationError("最长有效期应为整数天 (whole days)", field="max_validity_days") from None
    if not 30 <= days <= 1095:
        raise ValidationError("最长有效期应为30–1095天 (30–1095 days)", field="max_validity_days")
    product = GuaranteeProduct(issuer_id=issuer.id, code=code, name=name.strip()[:100], form=product_form,
                               premium_rate=rate, minimum_premium=_decimal(minimum_premium, "minimum_premium"),
                               min_amount=low, max_amount=high, max_validity_days=days,
                               supports_cipher=bool(supports_cipher))
    db.session.add(product)
    db.session.flush()
    audit.record("guarantee_product.created", product, actor=issuer_user, code=code, form=product_form.value,
                 premium_rate=str(rate), min_amount=str(low), max_amount=str(high), max_validity_days=days,
                 supports_cipher=product.supports_cipher)
    return product


def set_product_active(product: GuaranteeProduct, active: bool, user: User) -> None:
    product.active = bool(active)
    audit.record("guarantee_product.activated" if active else "guarantee_product.deactivated", product, actor=user)


def set_callback(issuer: Organisation, url: str, actor: User | None = None) -> IssuerProfile:
    """Where the platform posts release and claim notices (http or https)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 300:
        raise ValidationError("回调地址应为 http(s):// 开头的网址 (the callback must be an http(s) URL)",
                              field="callback_url")
    profile = db.session.get(IssuerProfile, issuer.id)
    if profile is None:
        profile = IssuerProfile(organisation_id=issuer.id)
        db.session.add(profile)
    profile.callback_url, profile.updated_at = url, now()
    audit.record("issuer.callback_set", object_type="organisations", object_id=issuer.id, actor=actor, url=url)
    return profile


def active_products() -> list[GuaranteeProduct]:
    return db.session.scalars(sa.select(GuaranteeProduct).join(Organisation, Organisation.id == GuaranteeProduct.issuer_id)
                              .where(GuaranteeProduct.active.is_(True))
                              .order_by(Organisation.name, GuaranteeProduct.code)).all()


@dataclass
class Dashboard:
    applications: int
    pending: int
    rejected: int
    issued: int
    in_use: int
    released: int
    claims: int
    claims_open: int
    claims_paid: int
    security_freed: Decimal
    premiums: Decimal
    by_state: dict[str, int]


ISSUED_STATES = (GuaranteeState.ISSUED, GuaranteeState.VERIFIED, GuaranteeState.IN_USE, GuaranteeState.RELEASED,
                 GuaranteeState.CLAIMED, GuaranteeState.PAID, GuaranteeState.REFUSED, GuaranteeState.EXPIRED,
                 GuaranteeState.SURRENDERED)


def dashboard(issuer_id: int | None = None) -> Dashboard:
    """One issuer's figures (or the platform's, with ``issuer_id=None``).

    Security freed (为投标企业释放资金) is what the seeds report: the total amount of bid security posted as a
    guarantee instead of cash, i.e. the amount of every guarantee ever issued.
    """
    where = [Guarantee.issuer_id == issuer_id] if issuer_id is not None else []
    counts = dict(db.session.execute(sa.select(Guarantee.state, sa.func.count(Guarantee.id)).where(*where)
                                     .group_by(Guarantee.state)).all())
    by_state = {state.value: counts.get(state, 0) for state in GuaranteeState}
    issued_where = where + [Guarantee.state.in_(ISSUED_STATES)]
    freed = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Guarantee.amount), 0)).where(*issued_where))
    premiums = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Guarantee.premium), 0)).where(*issued_where))
    claim_counts = dict(db.session.execute(sa.select(Claim.state, sa.func.count(Claim.id)).join(Guarantee)
                                           .where(*where).group_by(Claim.state)).all())
    return Dashboard(
        applications=sum(by_state.values()),
        pending=by_state["applied"] + by_state["approved"], rejected=by_state["rejected"],
        issued=sum(by_state[s.value] for s in ISSUED_STATES), in_use=by_state["in_use"],
        released=by_state["released"], claims=sum(claim_counts.values()),
        claims_open=claim_counts.get(ClaimState.FILED, 0), claims_paid=claim_counts.get(ClaimState.PAID, 0),
        security_freed=Decimal(freed).quantize(Decimal("0.01")), premiums=Decimal(premiums).quantize(Decimal("0.01")),
        by_state=by_state)
