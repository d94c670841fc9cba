"""验真 against the platform's records: the trusted issuer certificates, the registered guarantees, deposits.

``verify_for_section(section, organisation)`` is what the opening hall and the bid pages call: it answers what
the bidder's bid security rests on (a guarantee, a cash deposit, a waiver) and runs every check on it, without
changing anything. :func:`record_verification` runs it and keeps the result (at submission, at the opening).
"""
from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509

from core import audit
from core.accounts import Organisation, OrgKind
from core.clock import local, now
from core.db import db
from core.pki import CERTIFICATE_PROBLEMS, Certificate, Purpose, platform, revoked_serials
from crypto import certificates as x509ca
from crypto.canonical import canonical_json
from guarantees import deposits
from guarantees.checks import Expected, Registered, VerificationReport, check_guarantee
from guarantees.models import (
    GUARANTEE_STATES,
    LIVE_STATES,
    SECURING_STATES,
    Guarantee,
    GuaranteeState,
    SecurityVerification,
    VerificationStage,
)
from guarantees.rules import minimum_valid_until
from guarantees.terms import unseal_application_key
from guarantees.waivers import Requirement, security_requirement
from trading.models import Section


class PlatformTrust:
    """Issuer certificates as the platform CA issued them, checked once per certificate for one moment."""

    def __init__(self, at: datetime | None = None):
        self.at = at or now()
        self.ca = platform().ca.certificate
        self.revoked = revoked_serials()
        self._certificates: dict[str, tuple[x509.Certificate, str] | None] = {}
        self._problems: dict[str, str | None] = {}

    def certificate_for(self, fingerprint: str) -> tuple[x509.Certificate, str] | None:
        if fingerprint not in self._certificates:
            row = db.session.execute(
                sa.select(Certificate.pem, Organisation.credit_code)
                .join(Organisation, Organisation.id == Certificate.organisation_id)
                .where(Certificate.fingerprint == fingerprint, Certificate.purpose == Purpose.SIGNING,
                       Organisation.kind == OrgKind.ISSUER)).first()
            self._certificates[fingerprint] = None if row is None else (
                x509ca.load_certificate(row.pem.encode()), row.credit_code)
        return self._certificates[fingerprint]

    def problem_with(self, certificate: x509.Certificate) -> str | None:
        key = format(certificate.serial_number, "x")
        if key not in self._problems:
            try:
                x509ca.verify_certificate(certificate, self.ca, revoked_serials=self.revoked, at=self.at,
                                          purpose=x509ca.Purpose.SIGNING)
                self._problems[key] = None
            except x509ca.CertificateError as exc:
                label = CERTIFICATE_PROBLEMS.get(getattr(exc, "code", ""), "证书不可用")
                self._problems[key] = f"{label} ({exc})"
        return self._problems[key]


def expected_for(section: Section, organisation: Organisation, at: datetime | None = None,
                 requirement: Requirement | None = None) -> Expected:
    project, moment = section.project, at or now()
    requirement = requirement or security_requirement(section)
    return Expected(project_code=project.code, section_code=section.code, beneficiary_name=project.tenderee.name,
                    beneficiary_credit_code=project.tenderee.credit_code,
                    principal_credit_code=organisation.credit_code, amount=requirement.amount,
                    valid_until_min=minimum_valid_until(section), deadline=section.deadline,
                    deadline_date=local(section.deadline).date(), today=local(moment).date())


def live_guarantees(section_id: int, organisation_id: int) -> list[Guarantee]:
    return db.session.scalars(sa.select(Guarantee).where(
        Guarantee.section_id == section_id, Guarantee.organisation_id == organisation_id,
        Guarantee.state.in_(LIVE_STATES)).order_by(Guarantee.id)).all()


def securing_guarantee(section_id: int, organisation_id: int) -> Guarantee | None:
    """The bidder's issued guarantee for the section (issued, verified, in use or under a claim), if any."""
    return next((g for g in live_guarantees(section_id, organisation_id)
                 if g.state in SECURING_STATES or g.state is GuaranteeState.CLAIMED), None)


def registered_of(guarantee: Guarantee, section: Section, organisation: Organisation,
                  live: list[Guarantee] | None = None) -> Registered:
    """The registry's facts; ``live`` (the bidder's live guarantees in the section) saves a query if known."""
    bound = guarantee.section_id == section.id and guarantee.organisation_id == organisation.id
    live = live if live is not None else live_guarantees(section.id, organisation.id)
    others = [g for g in live if g.id != guarantee.id]
    return Registered(document_hash=guarantee.document_hash or "", state=guarantee.state.value,
                      state_label=guarantee.state_label, received_at=guarantee.received_at or guarantee.applied_at,
                      bound_here=bound, other_live=len(others))


def terms_key_of(guarantee: Guarantee) -> bytes | None:
    if not guarantee.sealed_key:
        return None
    return unseal_application_key(guarantee.sealed_key, guarantee.application_no)


def verify_guarantee(guarantee: Guarantee, section: Section, organisation: Organisation, *,
                     at: datetime | None = None, trust: PlatformTrust | None = None,
                     document: dict | None = None, live: list[Guarantee] | None = None,
                     requirement: Requirement | None = None) -> VerificationReport:
    """Check a registered guarantee (or a ``document`` presented as it) for ``section`` and ``organisation``."""
    trust = trust or PlatformTrust(at)
    return check_guarantee(document if document is not None else json.loads(guarantee.document),
                           expected_for(section, organisation, trust.at, requirement), trust=trust,
                           registered=registered_of(guarantee, section, organisation, live),
                           terms_key=terms_key_of(guarantee))


def verify_for_section(section: Section, organisation: Organisation, *, at: datetime | None = None,
                       trust: PlatformTrust | None = None) -> VerificationReport:
    """Every check of rules.md §4 on what secures ``organisation``'s bid in ``section``; changes nothing."""
    requirement = security_requirement(section)
    if requirement.waived or not requirement.required:
        report = VerificationReport(basis="waived" if requirement.waived else "not_required")
        report.add(report.basis, True, requirement.description)
        return report
    live = live_guarantees(section.id, organisation.id)
    securing = next((g for g in live if g.state in SECURING_STATES or g.state is GuaranteeState.CLAIMED), None)
    if securing is not None:
        return verify_guarantee(securing, section, organisation, at=at, trust=trust, live=live,
                                requirement=requirement)
    if deposits.deposits_of(section.id, organisation.id):
        return deposits.deposit_report(section, organisation, at or now())
    report = VerificationReport(basis="missing")
    report.add("missing", False, f"保函申请“{live[0].state_label}”，尚未出函 (the guarantee is not issued yet)" if live
               else "未提交电子保函或保证金 (no guarantee and no deposit)")
    return report


def record_verification(section: Section, organisation: Organisation, stage: VerificationStage, *,
                        bid_id: int | None = None, at: datetime | None = None,
                        trust: PlatformTrust | None = None) -> tuple[VerificationReport, SecurityVerification]:
    """Verify, keep the result, and move a passing guarantee on: issued → verified; at the opening → in use."""
    report = verify_for_section(section, organisation, at=at, trust=trust)
    guarantee = securing_guarantee(section.id, organisation.id) if report.basis == "guarantee" else None
    row = SecurityVerification(section_id=section.id, organisation_id=organisation.id,
                               guarantee_id=guarantee.id if guarantee else None, bid_id=bid_id, stage=stage,
                               ok=report.ok, report=canonical_json(report.to_json()).decode(), at=at or now())
    db.session.add(row)
    audit.record("security.verified", object_type="sections", object_id=section.id, stage=stage.value,
                 organisation_id=organisation.id, basis=report.basis, ok=report.ok, failed=report.failed,
                 guarantee_no=report.guarantee_no)
    if guarantee is not None and report.ok:
        if guarantee.state is GuaranteeState.ISSUED:
            move(guarantee, GuaranteeState.VERIFIED, stage=stage.value)
        if stage is VerificationStage.OPENING and guarantee.state is GuaranteeState.VERIFIED:
            move(guarantee, GuaranteeState.IN_USE, stage=stage.value)
    return report, row


def move(guarantee: Guarantee, target: GuaranteeState, **data) -> None:
    """The one place a guarantee changes state: checked against the machine, and audited."""
    GUARANTEE_STATES.check(guarantee.state, target)
    previous = guarantee.state
    guarantee.state = target
    if target not in LIVE_STATES:
        guarantee.live = None
        guarantee.ended_at = now()
    audit.record(f"guarantee.{target.value}", guarantee, previous=previous.value, application_no=guarantee.application_no,
                 guarantee_no=guarantee.guarantee_no, **data)


def latest_verification(section_id: int, organisation_id: int) -> SecurityVerification | None:
    return db.session.scalar(sa.select(SecurityVerification).where(
        SecurityVerification.section_id == section_id, SecurityVerification.organisation_id == organisation_id)
        .order_by(SecurityVerification.id.desc()).limit(1))


def guarantee_status_for_bid(section_id: int, organisation_id: int) -> dict:
    """What the bid pages show beside a bid: the security's basis and state and the last verification."""
    section = db.session.get(Section, section_id)
    requirement = security_requirement(section)
    latest = latest_verification(section_id, organisation_id)
    guarantee = next(iter(live_guarantees(section_id, organisation_id)), None)
    status = {"required": requirement.required, "waived": requirement.waived, "amount": str(requirement.amount),
              "guarantee": None, "verification": None}
    if guarantee is not None:
        status["guarantee"] = {"id": guarantee.id, "application_no": guarantee.application_no,
                               "guarantee_no": guarantee.guarantee_no, "state": guarantee.state.value,
                               "state_label": guarantee.state_label, "kind": guarantee.kind.value,
                               "issuer": guarantee.issuer.name}
    if latest is not None:
        report = json.loads(latest.report)
        status["verification"] = {"ok": latest.ok, "stage": latest.stage.value, "stage_label": latest.stage_label,
                                  "at": latest.at.isoformat(), "basis": report["basis"], "failed": report["failed"],
                                  "checks": report["checks"]}
    return status
