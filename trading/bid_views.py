"""Pages for sealing bids in the browser: the holder's keys and certificates, and certificate sign-in.

The keys are generated and kept in the browser (non-extractable WebCrypto keys in IndexedDB, static/js/keys.js);
these views only render pages, and everything they do goes through the certificate and bid APIs
(core/pki_api.py, trading/bid_api.py). The bidder's "我的投标" panel is part of the section page
(templates/trading/bid_panel.html, included by trading/section.html).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from core.accounts import Role
from core.permissions import public, signed_in

bp = Blueprint("bids", __name__)

ROUTES = [
    ("/certificates", "certificates", ["GET"]),
    ("/login/certificate", "certificate_login", ["GET"]),
]


@signed_in
def certificates():
    """数字证书: generate keys in this browser, obtain the dual certificates, list and revoke them.

    Bidders act for their organisation (the envelope's signer must be the organisation's certificate);
    opening officers and other staff hold personal certificates (their escrow shares are wrapped to them).
    """
    organisation = current_user.organisation
    return render_template("auth/certificates.html", organisation=organisation,
                           default_for_organisation=organisation is not None and current_user.is_(Role.BIDDER))


@public
def certificate_login():
    """用证书登录: answer a one-time challenge with the signing key held in this browser (the CA-lock path)."""
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith(("//", "/\\")) or urlsplit(target).netloc:
        target = url_for("trading.workspace")
    if current_user.is_authenticated:
        return redirect(target)
    return render_template("auth/certificate_login.html", next_url=target)


for _rule, _endpoint, _methods in ROUTES:
    bp.add_url_rule(_rule, endpoint=_endpoint, view_func=globals()[_endpoint], methods=_methods)
