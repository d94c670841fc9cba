"""An issuer simulator that behaves like a bank's system: it talks to the platform over HTTP only.

It polls the issuer API for applications, underwrites each by rules (a limit on the amount and the validity,
a deny list of principals), rejects or approves, issues the signed guarantee with its PDF, and serves the
callback URL the platform posts notices to: releases are booked, a cipher guarantee's key opens its terms,
surrender requests are confirmed and claims are answered (paid if the evidence matches its hash and the
ground is a legal one, unless told to refuse). No Flask and no database: only this package's protocol, the
crypto package and ``requests``. ``flask --app wsgi issuer simulate`` runs it (guarantees/cli.py).
"""
from __future__ import annotations

import json
import queue
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from crypto.signing import SignatureError, sign_document, verify_document
from guarantees import protocol
from guarantees.issuer_client import IssuerClient
from guarantees.pdf import render_guarantee_pdf

LEGAL_GROUNDS = {"withdrawn_after_deadline", "refused_award", "refused_contract", "collusion"}


@dataclass(frozen=True)
class UnderwritingRules:
    max_amount: Decimal = Decimal("5000000")
    deny_principals: frozenset[str] = frozenset()
    max_validity_days: int = 400
    refuse_claims: bool = False


@dataclass
class Book:
    """What the simulated issuer remembers: its decisions, its guarantees, released keys and answers."""

    issued: dict[str, str] = field(default_factory=dict)         # application_no → guarantee_no
    rejected: dict[str, str] = field(default_factory=dict)       # application_no → reason
    released: set[str] = field(default_factory=set)              # guarantee numbers
    terms: dict[str, dict] = field(default_factory=dict)         # application_no → opened terms
    claims: dict[int, str] = field(default_factory=dict)         # claim id → pay | refuse
    surrendered: set[str] = field(default_factory=set)


class Simulator:
    def __init__(self, client: IssuerClient, rules: UnderwritingRules = UnderwritingRules(), *,
                 prefix: str = "SIM", log=lambda message: None):
        if client.platform_certificate is None:
            raise ValueError("the simulator needs the platform's signing certificate to check what it receives")
        self.client, self.rules, self.prefix, self.log = client, rules, prefix, log
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.book = Book()

    # -- underwriting and issuing ----------------------------------------------------------------------------
    def refusal(self, application: dict) -> str | None:
        """Why this application is refused, or None to underwrite it (on principal, amount, validity only)."""
        amount = Decimal(application["amount"])
        if amount > self.rules.max_amount:
            return f"担保金额 {amount:,.2f} 元超过本机构限额 {self.rules.max_amount:,.2f} 元 (over our limit)"
        if application["principal"]["credit_code"] in self.rules.deny_principals:
            return "被保证人不符合本机构承保条件 (principal on our deny list)"
        days = (date.fromisoformat(application["valid_until_min"]) - date.today()).days
        if days > self.rules.max_validity_days:
            return f"所需有效期 {days} 天超过本机构上限 (validity beyond our limit)"
        return None

    def process_applications(self) -> list[tuple[str, str]]:
        done = []
        for item in self.client.call("GET", "/issuer/applications")["applications"]:
            document = item["application"]
            application = verify_document(document, self.client.platform_certificate)
            number = application["application_no"]
            reason = self.refusal(application)
            if reason:
                self.client.call("POST", f"/issuer/applications/{number}/reject", {"reason": reason})
                self.book.rejected[number] = reason
                done.append((number, "rejected"))
                continue
            if item["state"] == "applied":
                self.client.call("POST", f"/issuer/applications/{number}/approve", {"note": "按规则自动核保"})
            self.client.call("POST", f"/issuer/applications/{number}/issue", self.guarantee_for(application))
            done.append((number, "issued"))
            self.log(f"issued {self.book.issued[number]} for {number}")
        return done

    def guarantee_for(self, application: dict, *, valid_until: date | None = None) -> dict:
        """The issue request body: the signed document and its PDF (with the verification code)."""
        number = f"{self.prefix}{date.today():%Y%m%d}{secrets.token_hex(3).upper()}"
        until = valid_until or max(date.fromisoformat(application["valid_until_min"]), date.today())
        payload = protocol.guarantee_payload(application, guarantee_no=number, issued_at=datetime.now(timezone.utc),
                                             valid_from=date.today(), valid_until=until)
        document = sign_document(payload, self.client.key, self.client.certificate)
        digest = protocol.document_hash(document)
        code = protocol.verification_code(digest)
        pdf = render_guarantee_pdf(payload, document_hash=digest, verification_code=code,
                                   verify_url=f"{self.client.server}/guarantees/check?code={code}")
        self.book.issued[application["application_no"]] = number
        return {"document": document, "pdf": protocol.b64(pdf), "pdf_sha256": protocol.sha256_hex(pdf)}

    # -- notices from the platform ---------------------------------------------------------------------------
    def accept(self, raw: bytes) -> dict:
        """Check a posted notice's platform signature and queue it; raises for anything else."""
        document = json.loads(raw)
        notice = verify_document(document, self.client.platform_certificate)
        if notice.get("type") != protocol.NOTICE_TYPE:
            raise ValueError("not a bidhall issuer notice")
        self.inbox.put(notice)
        return notice

    def handle(self, notice: dict) -> str:
        kind, data = notice["kind"], notice["data"]
        if kind == "application":
            self.process_applications()
        elif kind == "release":
            self.book.released.add(notice["guarantee_no"])
        elif kind == "terms_key":
            application = self.client.call("GET", f"/issuer/applications/{notice['application_no']}")
            sealed = verify_document(application["application"], self.client.platform_certificate)["sealed_terms"]
            self.book.terms[notice["application_no"]] = protocol.open_terms(
                sealed, bytes.fromhex(data["terms_key"]), notice["application_no"])
        elif kind == "surrender_request":
            self.client.call("POST", f"/issuer/guarantees/{notice['guarantee_no']}/surrender",
                             {"reason": "应投标人申请退保"})
            self.book.surrendered.add(notice["guarantee_no"])
        elif kind == "claim":
            self.answer_claim(data)
        return kind

    def answer_claim(self, data: dict) -> str:
        evidence = self.client.call("GET", data["evidence"]["path"].removeprefix("/api/v1"))
        intact = protocol.sha256_hex(evidence) == data["evidence"]["sha256"]
        pay = intact and data["reason"] in LEGAL_GROUNDS and not self.rules.refuse_claims
        reason = "证明材料齐全，依保函约定赔付" if pay else (
            "证明材料与索赔通知所列哈希不符" if not intact else "经审查不符合保函约定的赔付条件")
        self.client.call("POST", f"/issuer/claims/{data['claim_id']}/answer",
                         {"decision": "pay" if pay else "refuse", "reason": reason})
        self.book.claims[data["claim_id"]] = "pay" if pay else "refuse"
        return "pay" if pay else "refuse"

    def run_once(self) -> list[str]:
        """Handle every notice received so far, then look for applications (as a poll would)."""
        handled = []
        while True:
            try:
                handled.append(self.handle(self.inbox.get_nowait()))
            except queue.Empty:
                break
        self.process_applications()
        return handled


class CallbackServer:
    """The URL the platform posts notices to. It only checks and queues: no call back into the platform here."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, fail_first: int = 0):
        self.simulator, self.fail_first, self.received = simulator, fail_first, 0
        self._server = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}/notices"

    def _app(self, environ, start_response):
        request = Request(environ)
        self.received += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response("temporarily unavailable", status=503)(environ, start_response)
        try:
            notice = self.simulator.accept(request.get_data())
        except (ValueError, KeyError, TypeError, SignatureError) as exc:
            return Response(json.dumps({"error": str(exc)}), status=400, mimetype="application/json")(
                environ, start_response)
        return Response(json.dumps({"received": notice["notice_id"]}), mimetype="application/json")(
            environ, start_response)

    def start(self) -> "CallbackServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

