"""Open data: every published section as an OCDS 1.1 release, in one release package, with the bid extension.

One contracting process per section (标段): each is bid, opened, awarded and contracted on its own, so its
``ocid`` is ``OCDS_PREFIX`` + the section code. What a release shows follows the stage: the tender while
bidding; bidders, bids and their read-out prices only after the opening (nothing of them before the deadline,
电子招标投标办法第29–30条); the award after the award notice; the contract once recorded. Organisations are
identified by their unified social credit code (scheme ``CN-USCC``).

The bundled schema (supervision/data/ocds, see SOURCE.md) validates the output: :func:`validate`.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from core import clock
from core.db import db
from supervision.award_models import Award, Contract
from trading.bids import Bid
from trading.models import (
    METHOD_LABELS,
    Clarification,
    DocumentKind,
    Project,
    ProjectState,
    Section,
    SectionState,
)
from trading.opening import BidDecryption, Opening, OpeningState

DATA = Path(__file__).parent / "data" / "ocds"
BID_EXTENSION = "https://raw.githubusercontent.com/open-contracting/ocds_bid_extension/v1.1.3/extension.json"
METHODS = {"open": "open", "invited": "selective", "consultation": "limited", "inquiry": "limited"}
STATUS = {SectionState.BIDDING: "active", SectionState.OPENING: "active", SectionState.EVALUATION: "active",
          SectionState.PUBLICITY: "active", SectionState.AWARDED: "complete", SectionState.CONTRACTED: "complete",
          SectionState.CLOSED: "complete", SectionState.FAILED: "unsuccessful", SectionState.CANCELLED: "cancelled"}
BID_STATUS = {"opened": "valid", "withdrawn": "withdrawn", "revoked": "disqualified", "failed": "disqualified"}


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _value(amount: Decimal | None) -> dict | None:
    return None if amount is None else {"amount": float(amount), "currency": "CNY"}


class _Parties:
    """The release's parties, one entry per organisation, roles merged."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    def add(self, org, role: str) -> dict:
        party_id = f"CN-USCC-{org.credit_code}"
        entry = self.entries.setdefault(party_id, {
            "id": party_id, "name": org.name, "roles": [],
            "identifier": {"scheme": "CN-USCC", "id": org.credit_code, "legalName": org.name},
            "address": {"region": org.region_code, "countryName": "中国"}})
        if role not in entry["roles"]:
            entry["roles"].append(role)
        return {"id": party_id, "name": org.name}


def section_release(section: Section, prefix: str) -> dict:
    project = section.project
    ocid = f"{prefix}-{section.code}"
    parties = _Parties()
    buyer = parties.add(project.tenderee, "buyer")
    documents = [{"id": f"doc-{d.id}", "title": d.title, "format": d.file.content_type, "datePublished": _when(d.created_at),
                  "documentType": "clarifications" if d.kind is DocumentKind.CLARIFICATION else "biddingDocuments",
                  "description": f"SHA-256 {d.file.sha256}"} for d in section.documents]
    clarifications = db.session.scalars(sa.select(Clarification).where(Clarification.section_id == section.id)
                                        .order_by(Clarification.number)).all()
    tender = {"id": section.code, "title": f"{project.name} {section.name}", "status": STATUS.get(section.state, "active"),
              "procuringEntity": parties.add(project.agency, "procuringEntity"), "value": _value(section.ceiling_price),
              "procurementMethod": METHODS[project.method.value],
              "procurementMethodDetails": METHOD_LABELS[project.method],
              "mainProcurementCategory": project.type.value,
              "tenderPeriod": {"startDate": _when(section.issue_start), "endDate": _when(section.deadline)},
              "enquiryPeriod": {"startDate": _when(section.issue_start),
                                "endDate": _when(section.clarification_deadline)},
              "documents": documents}
    if clarifications:
        tender["amendments"] = [{"id": f"clarification-{c.number}", "date": _when(c.issued_at), "rationale": c.title,
                                 "description": c.body} for c in clarifications]
    release = {"ocid": ocid, "date": None, "tag": ["tender"], "initiationType": "tender", "language": "zh",
               "buyer": buyer, "planning": {"budget": {"amount": _value(project.budget)}}, "tender": tender}
    dates = [project.published_at or section.created_at]
    opening = db.session.scalar(sa.select(Opening).where(Opening.section_id == section.id))
    if opening is not None and opening.state in (OpeningState.READ_OUT, OpeningState.CLOSED):
        release["bids"], tenderers = _bids(opening, parties)
        tender["numberOfTenderers"], tender["tenderers"] = len(tenderers), tenderers
        dates.append(opening.read_out_at)
    award = db.session.scalar(sa.select(Award).where(Award.section_id == section.id))
    if award is not None and award.notice_issued_at is not None:
        supplier = parties.add(award.organisation, "supplier")
        entry = {"id": f"{section.code}-award", "title": "中标", "status": "active", "date": _when(award.notice_issued_at),
                 "value": _value(award.amount), "suppliers": [supplier]}
        if award.candidate.bid_id is not None:
            entry["relatedBid"] = str(award.candidate.bid_id)
        release["awards"], release["tag"] = [entry], ["award"]
        dates.append(award.notice_issued_at)
        contract = db.session.scalar(sa.select(Contract).where(Contract.section_id == section.id))
        if contract is not None:
            release["contracts"] = [{"id": f"{section.code}-contract", "awardID": entry["id"], "status": "active",
                                     "title": f"{project.name} {section.name} 施工/采购合同",
                                     "value": _value(contract.amount), "dateSigned": _when(contract.signed_at)}]
            release["tag"] = ["contract"]
            dates.append(contract.signed_at)
    if section.state in (SectionState.FAILED, SectionState.CANCELLED) and "awards" not in release:
        release["tag"] = ["tenderUpdate"]
    moment = max(d for d in dates if d is not None)
    release["date"] = _when(moment)
    release["id"] = f"{ocid}-{release['tag'][0]}-{clock.local(moment):%Y%m%d%H%M%S}"
    release["parties"] = list(parties.entries.values())
    return release


def _bids(opening: Opening, parties: _Parties) -> tuple[dict, list[dict]]:
    rows = db.session.execute(sa.select(BidDecryption, Bid).join(Bid, Bid.id == BidDecryption.bid_id)
                              .where(BidDecryption.opening_id == opening.id).order_by(Bid.id)).all()
    read_out = json.loads(opening.read_out or "{}")
    money = [f["key"] for f in read_out.get("fields", []) if f.get("type") == "money"]
    details, tenderers = [], []
    for decryption, bid in rows:
        tenderer = parties.add(bid.organisation, "tenderer")
        tenderers.append(tenderer)
        detail = {"id": str(bid.id), "date": _when(bid.submitted_at), "status": BID_STATUS.get(decryption.outcome, "pending"),
                  "tenderers": [tenderer]}
        form = json.loads(decryption.price_form) if decryption.price_form else {}
        if money and form.get(money[0]) not in (None, ""):
            detail["value"] = _value(Decimal(str(form[money[0]])))
        details.append(detail)
    statistics = [{"id": "bids", "measure": "bids", "value": len(details), "date": _when(opening.read_out_at)}]
    return {"statistics": statistics, "details": details}, tenderers


def release_package(uri: str | None = None) -> dict:
    """Every section of every published (or closed) project, one release each."""
    config = current_app.config
    prefix = config.get("OCDS_PREFIX", "ocds-bidhall")
    sections = db.session.scalars(sa.select(Section).join(Project).where(
        Project.state.in_([ProjectState.PUBLISHED, ProjectState.CLOSED])).order_by(Section.code)).all()
    return {"uri": uri or config.get("OCDS_PACKAGE_URI", "https://bidhall.example/api/v1/ocds/release-package"),
            "version": "1.1", "publishedDate": _when(clock.now()),
            "publisher": {"name": config.get("OCDS_PUBLISHER", "bidhall 电子招标投标交易平台")},
            "license": "https://creativecommons.org/licenses/by/4.0/",
            "extensions": [BID_EXTENSION],
            "releases": [section_release(s, prefix) for s in sections]}


# -- validation against the bundled schema --------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386 JSON Merge Patch, as OCDS applies an extension to the release schema."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft4Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    package = json.loads((DATA / "release-package-schema.json").read_text())
    release = json.loads((DATA / "release-schema.json").read_text())
    merged = merge_patch(release, json.loads((DATA / "bid-extension-release-schema.json").read_text()))
    registry = Registry().with_resource(release["id"], Resource.from_contents(merged, default_specification=DRAFT4))
    return Draft4Validator(package, registry=registry, format_checker=FormatChecker())


def validate(package: dict) -> list[str]:
    """Schema errors, each with the path to the offending value; empty when the package is valid."""
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '(package)'}: {error.message}"
            for error in sorted(_validator().iter_errors(package), key=lambda e: list(map(str, e.absolute_path)))]
