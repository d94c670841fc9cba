"""Bid security in the demo (journey step 3): two issuers with certified keys and products, and the waiver of
二标段 (government-invested works under 10M CNY).

The issuers' keys are made as a bank's system would make them (demo/keys.py) under instance/demo-keys/<user>/,
so the simulated banks can start at once::

    flask --app wsgi issuer simulate --username issuer_bank --home instance/demo-keys/issuer_bank
    flask --app wsgi issuer simulate --username issuer_insurer --home instance/demo-keys/issuer_insurer \\
        --max-amount 200000 --prefix PICC
    flask --app wsgi issuer deliver --loop

(password: the demo password; the first is a bank guarantee issuer, the second a surety insurer.)
"""
from __future__ import annotations

import sqlalchemy as sa

from core.accounts import User
from core.db import db
from guarantees.issuers import create_product
from guarantees.rules import GOVERNMENT_WORKS_UNDER_10M
from guarantees.waivers import grant_waiver
from trading.models import Project

PRODUCTS = {
    "issuer_bank": dict(code="CCB-TBBH", name="建行投标保函（电子）", form="bank_guarantee", premium_rate="0.0015",
                        minimum_premium="200", min_amount="1000", max_amount="5000000", max_validity_days=400,
                        supports_cipher=True),
    "issuer_insurer": dict(code="PICC-TBBX", name="投标保证保险", form="surety_insurance", premium_rate="0.0010",
                           minimum_premium="150", min_amount="1000", max_amount="3000000", max_validity_days=365,
                           supports_cipher=True),
}


def seed_security() -> None:
    from demo.keys import enrol_holder
    from demo.seed import DEMO_PASSWORD, DEMO_SERVER, WORKS_CODE

    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_([*PRODUCTS, "agent"])))}
    for username, product in PRODUCTS.items():
        enrol_holder(users[username], for_organisation=True, password=DEMO_PASSWORD, server=DEMO_SERVER)
        create_product(users[username], **product)
    works = db.session.scalar(sa.select(Project).where(Project.code == WORKS_CODE))
    grant_waiver(works.sections[1], users["agent"], GOVERNMENT_WORKS_UNDER_10M.key)
