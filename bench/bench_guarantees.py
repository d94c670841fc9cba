"""Verification (验真) throughput: 10,000 guarantees, signature and every check of rules.md §4 (issue 5).

    .venv/bin/python bench/bench_guarantees.py [--count 10000] [--sections 100]

Setup (not timed): a throwaway SQLite instance; the platform CA; three issuers whose keys are certified by
it; ``--sections`` sections of one tender with ``count / sections`` bidders each; one guarantee per bidder
and section, a quarter of them cipher guarantees, each a signed document registered as the issuer API
registers it (rows written directly: the issue path is not what is measured).

Timed, each over all guarantees:
1. ``signature only``: ``crypto.signing.verify_document`` against the issuer's certificate (the floor);
2. ``all checks, in memory``: ``guarantees.checks.check_guarantee`` with the section's expectations and the
   registry facts prepared beforehand (certificate chain and revocation included, cipher terms opened);
3. ``verify_for_section``: what the opening hall calls per bidder, reading the guarantee, the section, the
   tenderee and the registry from the database, one ``PlatformTrust`` for the run.
Figures are guarantees per second on this machine's one process (no parallelism).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(app, count: int, sections: int):
    from cryptography.hazmat.primitives import serialization

    from core import account_operations as accounts
    from core import pki
    from core.accounts import OrgKind, Role
    from core.clock import now
    from core.db import db
    from core.validators import make_credit_code
    from crypto import certificates as x509ca
    from crypto.canonical import canonical_json
    from crypto.signing import sign_document
    from evaluation.catalogue import method_titles
    from guarantees import protocol
    from guarantees.models import Guarantee, GuaranteeKind, GuaranteeProduct, GuaranteeState
    from guarantees.rules import minimum_valid_until
    from guarantees.terms import seal_application_key, terms_of
    from trading import operations as trading

    serial = iter(range(1, 10**6))

    def org(kind, name):
        return accounts.create_organisation(name=name, kind=kind, credit_code=make_credit_code(
            f"91350900MA{next(serial):07d}"), region_code="350902")

    agency, tenderee = org(OrgKind.AGENCY, "基准代理"), org(OrgKind.TENDEREE, "基准招标人")
    agent = accounts.create_user(username="agent", display_name="代理", password="x" * 12, role=Role.AGENT,
                                 organisation=agency)
    issuers = []
    for i in range(3):
        issuer = org(OrgKind.ISSUER, f"基准银行{i}")
        user = accounts.create_user(username=f"bank{i}", display_name="银行", password="x" * 12, role=Role.ISSUER,
                                    organisation=issuer)
        key = x509ca.generate_signing_key()
        csr = x509ca.create_signing_request(key, "bank").public_bytes(serialization.Encoding.PEM).decode()
        row = pki.issue_signing_certificate(user, csr, for_organisation=True)
        product = GuaranteeProduct(issuer_id=issuer.id, code="P", name="保函", form="bank_guarantee",
                                   premium_rate=Decimal("0.0015"), minimum_premium=Decimal("200"),
                                   min_amount=Decimal("1"), max_amount=Decimal("9999999"))
        db.session.add(product)
        db.session.flush()
        issuers.append((issuer, key, row.x509, product, user))
    bidders = [org(OrgKind.BIDDER, f"基准投标人{i}") for i in range(count // sections)]
    project = trading.create_project(agent=agent, tenderee=tenderee, code="E3509020001202611999", name="基准项目",
                                     type="works", method="open", budget="20000000", ceiling_price="19000000",
                                     region_code="350902")
    start = now() - timedelta(minutes=5)
    deadline = start + timedelta(days=25)
    schedule = trading.ScheduleInput(notice_at=start, issue_start=start, issue_end=start + timedelta(days=6),
                                     clarification_deadline=deadline - timedelta(days=16), deadline=deadline)
    method = next(iter(method_titles()))
    rows = []
    for number in range(1, sections + 1):
        section = trading.add_section(project, number=number, name=f"第{number}标段", ceiling_price="9000000",
                                      bid_security_amount="100000", bid_validity_days=90, evaluation_method=method,
                                      schedule=schedule)
        valid_until = minimum_valid_until(section) + timedelta(days=1)
        for index, bidder in enumerate(bidders):
            issuer, key, certificate, product, user = issuers[index % 3]
            application_no = f"BH{number:04d}{index:06d}"
            cipher = index % 4 == 0
            application = {"application_no": application_no, "kind": "cipher" if cipher else "plain",
                           "product": {"form": "bank_guarantee"},
                           "guarantor": {"name": issuer.name, "credit_code": issuer.credit_code},
                           "principal": {"name": bidder.name, "credit_code": bidder.credit_code},
                           "amount": "100000.00", "currency": "CNY"}
            sealed_key = None
            if cipher:
                terms_key = protocol.new_terms_key()
                application["sealed_terms"] = protocol.seal_terms(terms_of(section), terms_key, application_no)
                sealed_key = seal_application_key(terms_key, application_no)
            else:
                application["terms"] = terms_of(section)
            payload = protocol.guarantee_payload(application, guarantee_no=f"G{application_no}",
                                                 issued_at=datetime.now(timezone.utc), valid_from=date.today(),
                                                 valid_until=valid_until)
            document = sign_document(payload, key, certificate)
            digest = protocol.document_hash(document)
            rows.append(Guarantee(
                application_no=application_no, section_id=section.id, organisation_id=bidder.id, issuer_id=issuer.id,
                product_id=product.id, applicant_id=user.id, kind=GuaranteeKind(application["kind"]),
                state=GuaranteeState.VERIFIED, live=1, amount=Decimal("100000.00"), premium=Decimal("200.00"),
                valid_until_min=valid_until, application_document="{}", sealed_key=sealed_key,
                key_digest=application.get("sealed_terms", {}).get("key_digest"), guarantee_no=f"G{application_no}",
                issued_at=now(), received_at=now(), valid_from=date.today(), valid_until=valid_until,
                document=canonical_json(document).decode(), document_hash=digest,
                verification_code=protocol.verification_code(digest)))
        db.session.add_all(rows[-len(bidders):])
        db.session.flush()
    db.session.commit()
    return project


def timed(label: str, count: int, function) -> float:
    started = time.perf_counter()
    failures = function()
    seconds = time.perf_counter() - started
    print(f"{label:<28} {count:>6} guarantees in {seconds:6.2f} s = {count / seconds:8.0f} /s"
          f"{'' if not failures else f'  ({failures} failed!)'}", flush=True)
    return count / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--sections", type=int, default=100)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bidhall-bench-guarantees-"))
    os.environ.pop("BIDHALL_ACCELERATOR", None)
    try:
        from core import create_app
        from core.db import db

        app = create_app({"settings": {"instance_dir": instance, "database_url": f"sqlite:///{instance}/b.sqlite3",
                                       "storage_dir": instance / "storage", "secret_key": "bench-" + "x" * 40}})
        with app.app_context():
            import core.all_models  # noqa: F401

            db.create_all()
            started = time.perf_counter()
            project = build(app, args.count, args.sections)
            print(f"setup: {args.count} signed guarantees in {args.sections} sections, "
                  f"{time.perf_counter() - started:.1f} s (not timed below)", flush=True)
            run(project)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


def run(project) -> None:
    import sqlalchemy as sa

    from core.accounts import Organisation
    from core.db import db
    from crypto.signing import verify_document
    from guarantees.checks import check_guarantee
    from guarantees.models import Guarantee
    from guarantees.verification import PlatformTrust, expected_for, registered_of, terms_key_of, verify_for_section

    guarantees = db.session.scalars(sa.select(Guarantee).order_by(Guarantee.id)).all()
    sections = {s.id: s for s in project.sections}
    organisations = {o.id: o for o in db.session.scalars(sa.select(Organisation))}
    trust = PlatformTrust()
    documents = [json.loads(g.document) for g in guarantees]
    count = len(guarantees)

    def signatures():
        failed = 0
        for document in documents:
            certificate, _code = trust.certificate_for(document["signature"]["signer"])
            try:
                verify_document(document, certificate)
            except Exception:  # noqa: BLE001  (counted, shown)
                failed += 1
        return failed

    prepared = [(document, expected_for(sections[g.section_id], organisations[g.organisation_id]),
                 registered_of(g, sections[g.section_id], organisations[g.organisation_id]), terms_key_of(g))
                for g, document in zip(guarantees, documents)]

    def in_memory():
        return sum(not check_guarantee(d, e, trust=trust, registered=r, terms_key=k).ok for d, e, r, k in prepared)

    pairs = [(sections[g.section_id], organisations[g.organisation_id]) for g in guarantees]

    def database():
        run_trust = PlatformTrust()
        failed = sum(not verify_for_section(section, organisation, trust=run_trust).ok for section, organisation in pairs)
        db.session.rollback()
        return failed

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    timed("signature only", count, signatures)
    timed("all checks, in memory", count, in_memory)
    timed("verify_for_section (SQLite)", count, database)


if __name__ == "__main__":
    sys.exit(main())
