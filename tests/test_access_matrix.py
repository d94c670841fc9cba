"""Every endpoint has an explicit access rule, and each role gets exactly the access the matrix says.

Adding an endpoint without a rule, or changing who may use one, fails here until the matrix below says so.
"""
import pytest

from core.accounts import OrgKind, Role
from core.permissions import PUBLIC, SIGNED_IN
from guarantees.issuer_auth import ISSUER_SIGNATURE

A, B, T, E, S, I, AD = (Role.AGENT, Role.BIDDER, Role.TENDEREE, Role.EXPERT, Role.SUPERVISOR, Role.ISSUER, Role.ADMIN)

MATRIX = {
    "trading.notices": PUBLIC, "trading.project": PUBLIC, "trading.section": PUBLIC,
    "trading.download": SIGNED_IN, "trading.workspace": SIGNED_IN, "trading.notifications": SIGNED_IN,
    "trading.downloads": SIGNED_IN, "trading.opening_hall": SIGNED_IN,
    "trading.new_project": {A}, "trading.new_section": {A}, "trading.upload_document": {A}, "trading.price_form": {A},
    "trading.invite": {A}, "trading.publish": {A}, "trading.new_clarification": {A},
    "auth.login": PUBLIC, "auth.second_factor": PUBLIC, "auth.totp_setup": PUBLIC, "auth.register": PUBLIC,
    "auth.switch_language": PUBLIC, "auth.logout": SIGNED_IN,
    "admin.organisations": {AD}, "admin.users": {AD}, "admin.change_role": {AD}, "admin.set_active": {AD},
    "admin.audit_log": {S, AD},
    "api.openapi": PUBLIC, "api.server_time": PUBLIC, "api.create_token": PUBLIC, "api.me": SIGNED_IN,
    "api.notifications": SIGNED_IN, "api.list_projects": PUBLIC, "api.get_project_api": PUBLIC,
    "api.get_section_api": PUBLIC, "api.download_document_api": SIGNED_IN, "api.list_downloads_api": SIGNED_IN,
    "api.create_project_api": {A}, "api.create_section_api": {A}, "api.put_price_form_api": {A},
    "api.upload_document_api": {A}, "api.publish_api": {A}, "api.clarify_api": {A},
    # sealed bids
    "api.sealing_info": {B}, "api.start_upload": {B}, "api.upload_status": {B}, "api.upload_chunk": {B},
    "api.finalise_upload": {B}, "api.my_bids": {B}, "api.withdraw_bid": {B}, "api.set_officers": {A},
    # certificates
    "api.platform_certificates": PUBLIC, "api.request_signing_certificate": SIGNED_IN,
    "api.request_encryption_certificate": SIGNED_IN, "api.my_certificates": SIGNED_IN,
    "api.revoke_certificate": SIGNED_IN, "api.revoked_certificates": PUBLIC, "api.login_challenge": PUBLIC,
    "api.certificate_sign_in": PUBLIC,
    # sealing bids in the browser: keys and certificates, certificate sign-in
    "bids.certificates": SIGNED_IN, "bids.certificate_login": PUBLIC,
    # the online opening
    "api.hall_state_api": SIGNED_IN, "api.hall_challenge": {B}, "api.hall_sign_in": {B}, "api.hall_start": {A},
    "api.envelope_header": SIGNED_IN, "api.decrypt_bid": {B}, "api.report_decryption_failure": {B},
    "api.rule_decryption": {A}, "api.release_share": SIGNED_IN, "api.hall_read_out": {A}, "api.hall_objection": {B},
    "api.answer_objection": {A}, "api.hall_confirm": {B}, "api.hall_close": {A}, "api.opening_record": SIGNED_IN,
    "api.opening_record_signature": SIGNED_IN,
    # expert pool and draws
    "experts.pool": {S, AD}, "experts.new_expert": {AD}, "experts.import_file": {AD}, "experts.profile": {S, AD},
    "experts.change_status": {S, AD}, "experts.change_employer": {AD}, "experts.set_specialties": {AD},
    "experts.link_account": {AD}, "experts.venues": {AD}, "experts.my_profile": {E}, "experts.declare_relation": {E},
    "experts.add_unavailability": {E}, "experts.remove_unavailability": {E},
    "draw.draws": {A, T, S, AD, E}, "draw.new_draw": {A}, "draw.draw": SIGNED_IN, "draw.commit": {A},
    "draw.contribute": {S, T}, "draw.reveal": {A, S}, "draw.process_timeouts": {A, S}, "draw.recheck": {A},
    "draw.open_to_committee": {A, S}, "draw.publish": {A, S}, "draw.cancel": {A, S}, "draw.record": PUBLIC,
    "draw.record_json": PUBLIC, "draw.invitations": {E}, "draw.answer": {E},
    "api.specialties_api": PUBLIC, "api.venues_api": SIGNED_IN, "api.create_draw_api": {A}, "api.get_draw_api": SIGNED_IN,
    "api.commit_draw_api": {A}, "api.contribute_entropy_api": {S, T}, "api.reveal_draw_api": {A, S},
    "api.recheck_draw_api": {A}, "api.draw_timeouts_api": {A, S}, "api.open_draw_to_committee_api": {A, S},
    "api.publish_draw_api": {A, S}, "api.cancel_draw_api": {A, S}, "api.draw_record_api": PUBLIC,
    "api.sealed_list_api": {S}, "api.sealed_list_experts_api": {S},
    "api.invitations_api": {E}, "api.answer_invitation_api": {E}, "api.list_experts_api": {S, AD},
    "api.get_expert_api": {S, AD}, "api.create_expert_api": {AD}, "api.expert_status_api": {S, AD},
    "api.import_experts_api": {AD}, "api.create_venue_api": {AD},
    # the evaluation room's audio and video
    "media.room": SIGNED_IN, "media.recordings": {S}, "media.recording_file": {S},
    # bid security: guarantees, deposits, waivers, claims; the issuer API is gated by the issuer's signature
    "guarantees.home": SIGNED_IN, "guarantees.section": SIGNED_IN, "guarantees.apply": {B}, "guarantees.present": {B},
    "guarantees.deposit_slip": {B}, "guarantees.waive": {A}, "guarantees.mine": {B}, "guarantees.request_surrender": {B},
    "guarantees.pdf": SIGNED_IN, "guarantees.document": SIGNED_IN, "guarantees.check": PUBLIC, "guarantees.claims": {T},
    "guarantees.new_claim": {T}, "issuers.queue": {I}, "issuers.decide": {I}, "issuers.dashboard": {I},
    "issuers.products": {I}, "issuers.product_active": {I}, "issuers.settings": {I}, "issuers.supervision": {S, AD},
    "issuers.deposits_page": {AD},
    "api.guarantee_products": SIGNED_IN, "api.my_bid_security": {B}, "api.apply_for_guarantee": {B},
    "api.present_guarantee": {B}, "api.deposit_slip": {B}, "api.check_guarantee_code": PUBLIC,
    "api.issuer_applications": ISSUER_SIGNATURE, "api.issuer_application": ISSUER_SIGNATURE,
    "api.issuer_approve": ISSUER_SIGNATURE, "api.issuer_reject": ISSUER_SIGNATURE, "api.issuer_issue": ISSUER_SIGNATURE,
    "api.issuer_status": ISSUER_SIGNATURE, "api.issuer_surrender": ISSUER_SIGNATURE,
    "api.issuer_claim_evidence": ISSUER_SIGNATURE, "api.issuer_answer_claim": ISSUER_SIGNATURE,
    "api.issuer_callback": ISSUER_SIGNATURE, "api.issuer_dashboard": ISSUER_SIGNATURE,
    # the evaluation: committee, review, scoring, clarifications, report
    "evaluation.evaluations": SIGNED_IN, "evaluation.open_evaluation": {A}, "evaluation.facts": {A},
    "evaluation.room": SIGNED_IN, "evaluation.modules": SIGNED_IN, "evaluation.module_file": SIGNED_IN,
    "evaluation.report": SIGNED_IN, "evaluation.report_pdf": SIGNED_IN,
    "api.evaluation_state_api": SIGNED_IN, "api.open_evaluation_api": {A}, "api.designate_representative_api": {A},
    "api.record_facts_api": {A}, "api.seat_challenge_api": {E, T}, "api.sign_in_api": {E, T},
    "api.declaration_api": {E, T}, "api.chair_vote_api": {E, T}, "api.votes_api": {E, T}, "api.submit_stage_api": {E, T},
    "api.decide_stage_api": {E, T}, "api.score_api": {E, T}, "api.confirm_flag_api": {E, T},
    "api.submit_sheet_api": {E, T}, "api.close_scoring_api": {E, T}, "api.ask_clarification_api": {E, T},
    "api.propose_price_correction_api": {E, T},
    "api.my_clarifications_api": {B}, "api.answer_clarification_api": {B}, "api.sign_report_api": {E, T},
    "api.generate_report_api": {A}, "api.publish_report_api": {A}, "api.check_method_api": {A, AD},
    # supervision: warnings, clues (supervisors only), credit, charts, archive; after the report
    "supervision.warnings": {S}, "supervision.warning": {S}, "supervision.annotate": {S},
    "supervision.close_warning": {S}, "supervision.section": {S}, "supervision.collusion": {S},
    "supervision.run_collusion": {S}, "supervision.review_clues": {S}, "supervision.attach_clues": {S},
    "supervision.credit_from_clue": {S}, "supervision.accept_complaint": {S}, "supervision.decide_complaint": {S},
    "supervision.credit": {S}, "supervision.revoke_credit": {S}, "supervision.dashboards": {S, AD},
    "supervision.archive": {S, AD},
    "award.result": PUBLIC, "award.start_publicity": {A, T}, "award.raise_objection": {B},
    "award.answer_objection": {A, T}, "award.file_complaint": {B}, "award.decide": {T}, "award.issue_notice": {A, T},
    "award.written_report": {A, T}, "award.contract": {A, T}, "award.close": {A, T}, "award.notice_pdf": SIGNED_IN,
    "award.result_pdf": PUBLIC,
    "api.warnings_api": {S}, "api.annotate_warning_api": {S}, "api.close_warning_api": {S},
    "api.section_points_api": {S}, "api.collusion_report_api": {S}, "api.run_collusion_api": {S},
    "api.section_result_api": PUBLIC, "api.start_publicity_api": {A, T}, "api.raise_section_objection_api": {B},
    "api.answer_section_objection_api": {A, T}, "api.file_complaint_api": {B}, "api.handle_complaint_api": {S},
    "api.decide_award_api": {T}, "api.issue_award_notice_api": {A, T}, "api.record_contract_api": {A, T},
    "api.organisation_credit_api": {S, AD}, "api.record_credit_api": {S}, "api.ocds_release_package_api": PUBLIC,
}


def _rule_of(app, endpoint):
    rule = getattr(app.view_functions[endpoint], "access_rule", None)
    return set(rule) if isinstance(rule, frozenset) else rule


def test_every_endpoint_has_an_explicit_rule_that_matches_the_matrix(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint != "static"}
    missing = sorted(e for e in endpoints if getattr(app.view_functions[e], "access_rule", None) is None)
    assert not missing, f"endpoints without an access rule: {missing}"
    assert endpoints == set(MATRIX), f"matrix out of date: {sorted(endpoints ^ set(MATRIX))}"
    for endpoint in endpoints:
        assert _rule_of(app, endpoint) == MATRIX[endpoint], endpoint


@pytest.fixture()
def world(app, factory):
    agent = factory.user(Role.AGENT)
    project = factory.project(agent, publish=False)
    users = {Role.AGENT: agent, Role.TENDEREE: factory.user(Role.TENDEREE, organisation=project.tenderee)}
    for role in (Role.BIDDER, Role.EXPERT, Role.SUPERVISOR, Role.ISSUER, Role.ADMIN):
        users[role] = factory.user(role)
    section = project.sections[0]
    ids = {"project_id": project.id, "section_id": section.id, "document_id": section.current_documents[0].id,
           "user_id": users[Role.BIDDER].id, "code": "zh", "upload_id": "0" * 32, "bid_id": 1, "certificate_id": 1, "objection_id": 1,
           "draw_id": 1, "expert_id": 1, "period_id": 1, "assignment_id": 1, "room_id": 1, "recording_id": 1,
           "guarantee_id": 1, "product_id": 1, "claim_id": 1, "application_no": "BH0", "guarantee_no": "G0000"}
    return users, ids


def _requests(app, ids):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = rule.build({k: ids.get(k, 1) for k in rule.arguments})[1]  # unknown ids: 1
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _call(client, method, url, headers=None):
    return client.open(url, method=method, headers=headers or {}, json={} if url.startswith("/api/") else None,
                       data=None if url.startswith("/api/") else {})


def _refused(response, api: bool) -> bool:
    if response.status_code in (401, 403):
        return True
    return not api and response.status_code == 302 and ("/login" in response.headers["Location"])


def test_anonymous_visitors_reach_only_public_endpoints(app, world):
    _users, ids = world
    client = app.test_client()
    for endpoint, method, url in _requests(app, ids):
        if endpoint in ("api.create_token", "auth.login", "auth.second_factor", "auth.totp_setup",
                        "api.certificate_sign_in"):
            continue  # sign-in endpoints answer anonymous requests by design
        response = _call(client, method, url)
        refused = _refused(response, url.startswith("/api/"))
        assert refused == (MATRIX[endpoint] != PUBLIC), f"{method} {url} → {response.status_code}"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_endpoints(app, world, factory, role):
    users, ids = world
    user = users[role]
    client = app.test_client()
    factory.login(client, user)
    headers = factory.token(app.test_client(), user)
    for endpoint, method, url in _requests(app, ids):
        rule = MATRIX[endpoint]
        if not isinstance(rule, set) or endpoint == "auth.logout":
            continue
        api = url.startswith("/api/")
        response = _call(client, method, url, headers if api else None)
        assert _refused(response, api) == (role not in rule), f"{role.value}: {method} {url} → {response.status_code}"
