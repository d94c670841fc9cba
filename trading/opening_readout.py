"""The opening's second half: the read-out (唱标) with K drawn in the hall, objections, confirmations, the record."""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from core import audit
from core.accounts import User
from core.db import db
from core.errors import Forbidden, ValidationError
from core.sealing_box import open_secret
from crypto import draw as drawing
from crypto.canonical import canonical_json
from trading.models import SECTION_STATES, Section, SectionState
from trading.opening import (OPENING_STATES, DecryptionState, Fault, Objection, Opening, OpeningState,
                             RecordConfirmation, ShareRelease)
from trading.opening_operations import (OpeningRefused, _k_choices, _now, _require_host, decryption_of, decryptions,
                                        expire_window)


# -- read-out, K, objections, the record ---------------------------------------------------------------

def finish_decryption(opening: Opening, host: User) -> Opening:
    """唱标: once every bid is decrypted or ruled (or the window has closed), read every price form out at once."""
    section = _require_host(opening, host)
    expire_window(opening)
    if opening.state is not OpeningState.DECRYPTING:
        raise OpeningRefused(f"当前不在解密阶段（{opening.state_label}）(not in the decryption stage)")
    rows = decryptions(opening)
    open_ = [d for d in rows if d.state is DecryptionState.PENDING]
    if open_ and _now() < opening.decryption_ends_at:
        raise OpeningRefused(f"还有{len(open_)}份投标文件在解密时限内未解密 (bids still decrypting within the window)",
                             code="still_decrypting")
    unruled = [d for d in rows if d.state is DecryptionState.FAILED and d.fault in (None, Fault.UNKNOWN)]
    if unruled:
        raise OpeningRefused(f"还有{len(unruled)}份解密失败的投标文件尚未认定责任 (failed decryptions await a ruling)",
                             code="awaiting_ruling")
    pending_escrow = [d for d in rows if d.fault is Fault.PLATFORM and d.state is DecryptionState.FAILED
                      and db.session.scalar(sa.select(sa.func.count(ShareRelease.id))
                                            .where(ShareRelease.decryption_id == d.id))]
    if pending_escrow:
        raise OpeningRefused("托管密钥开启尚未完成 (an escrow opening is under way)", code="escrow_pending")
    if opening.k_commitment:
        _draw_k(opening, section)
    table = []
    for d in rows:
        entry = {"bid": d.bid_id, "bidder": d.bid.organisation.name, "credit_code": d.bid.organisation.credit_code,
                 "submitted_at": d.bid.submitted_at.isoformat(), "outcome": d.outcome,
                 "escrow": d.decrypted_by_escrow}
        if d.state is DecryptionState.DECRYPTED:
            entry["price_form"] = json.loads(d.price_form)
        table.append(entry)
    opening.read_out = canonical_json({"fields": [f.as_dict() for f in section.price_form], "rows": table,
                                       "k_coefficient": str(opening.k_coefficient) if opening.k_coefficient else None}
                                      ).decode()
    OPENING_STATES.check(opening.state, OpeningState.READ_OUT)
    opening.state, opening.read_out_at = OpeningState.READ_OUT, _now()
    audit.record("opening.read_out", opening, actor=host, rows=len(table),
                 k=str(opening.k_coefficient) if opening.k_coefficient else None)
    return opening


def _draw_k(opening: Opening, section: Section) -> None:
    """下浮系数K, drawn in the hall by the verifiable procedure of docs/draw.md, never in a browser."""
    secret = bytes.fromhex(open_secret(opening.k_secret_sealed))
    choices = _k_choices(section)
    request = {"kind": "value", "purpose": "k_coefficient", "section": section.code}
    ceremony = drawing.DrawCeremony.open(secret, request, choices)
    for entry in json.loads(opening.k_contributions or "[]"):
        ceremony.contribute(entry["contributor"], entry["entropy"][:1024], datetime.fromisoformat(entry["at"]))
    # Every opened price form is a contribution; with none opened K decides nothing, and the draw stands alone.
    seed = ceremony.reveal(secret, min_contributions=1 if ceremony.contributions else 0)
    value = drawing.draw_value(seed, choices)
    record = drawing.draw_record(request, choices, secret, ceremony.contributions, value)
    opening.k_record = json.dumps(record, ensure_ascii=False)
    opening.k_coefficient = Decimal(str(value))
    opening.k_secret_sealed = None
    audit.record("opening.k_drawn", opening, k=str(value), commitment=record["commitment"], seed=record["seed"])


def raise_objection(opening: Opening, user: User, text: str) -> Objection:
    if opening.state is not OpeningState.READ_OUT:
        raise OpeningRefused("唱标后、开标结束前可当场提出异议 (objections are raised after the read-out, before the "
                             "close)", code="objection_window")
    if decryption_of(opening, user.organisation_id) is None:
        raise Forbidden("只有本标段的投标人可以提出异议 (only this section's bidders object)")
    if not (text or "").strip():
        raise ValidationError("请填写异议内容 (the objection needs a text)", field="text")
    objection = Objection(opening_id=opening.id, organisation_id=user.organisation_id, raised_by_id=user.id,
                          text=text.strip()[:4000], raised_at=_now())
    db.session.add(objection)
    db.session.flush()
    audit.record("opening.objection_raised", objection, actor=user, text=objection.text)
    return objection


def answer_objection(objection: Objection, host: User, answer: str) -> Objection:
    opening = db.session.get(Opening, objection.opening_id)
    _require_host(opening, host)
    if objection.answer:
        raise OpeningRefused("该异议已答复 (already answered)")
    if not (answer or "").strip():
        raise ValidationError("请填写答复 (the answer needs a text)", field="answer")
    objection.answer, objection.answered_by_id, objection.answered_at = answer.strip()[:4000], host.id, _now()
    audit.record("opening.objection_answered", objection, actor=host, answer=objection.answer)
    return objection


def confirm_record(opening: Opening, user: User) -> RecordConfirmation:
    if opening.state is not OpeningState.READ_OUT:
        raise OpeningRefused("唱标后方可确认开标记录 (confirm after the read-out)")
    if decryption_of(opening, user.organisation_id) is None:
        raise Forbidden("只有本标段的投标人可以确认 (only this section's bidders confirm)")
    existing = db.session.scalar(sa.select(RecordConfirmation).where(
        RecordConfirmation.opening_id == opening.id, RecordConfirmation.organisation_id == user.organisation_id))
    if existing:
        return existing
    entry = RecordConfirmation(opening_id=opening.id, organisation_id=user.organisation_id, user_id=user.id, at=_now())
    db.session.add(entry)
    audit.record("opening.record_confirmed", opening, actor=user, organisation_id=user.organisation_id)
    return entry


def close(opening: Opening, host: User) -> Opening:
    """End the opening: every objection answered; the record PDF is generated, signed and published."""
    section = _require_host(opening, host)
    OPENING_STATES.check(opening.state, OpeningState.CLOSED)
    unanswered = db.session.scalar(sa.select(sa.func.count(Objection.id)).where(
        Objection.opening_id == opening.id, Objection.answer.is_(None)))
    if unanswered:
        raise OpeningRefused(f"还有{unanswered}项异议未答复 (objections await an answer)", code="objections_open")
    from trading.opening_record import write_record

    opening.state, opening.closed_at = OpeningState.CLOSED, _now()
    write_record(opening, section)
    SECTION_STATES.check(section.state, SectionState.EVALUATION)
    section.state = SectionState.EVALUATION
    audit.record("opening.closed", opening, actor=host, record_digest=opening.record_digest)
    return opening


