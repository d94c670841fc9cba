"""The JSON API: its OpenAPI document, its error format, token authentication."""
import re

from core.accounts import Role


def test_the_openapi_document_describes_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routed.add((re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method))
    assert documented == routed
    create = spec["paths"]["/api/v1/projects"]["post"]
    assert create["x-access"] == ["agent"] and create["security"] == [{"bearer": []}]
    assert "tenderee_credit_code" in create["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert spec["paths"]["/api/v1/sections/{section_id}"]["get"]["parameters"][0]["schema"]["type"] == "integer"


def test_errors_are_json_with_a_code_and_a_message(client, factory):
    agent = factory.user(Role.AGENT)
    headers = factory.token(client, agent)
    missing = client.get("/api/v1/projects/999999")
    assert missing.status_code == 404 and set(missing.get_json()["error"]) >= {"code", "message"}
    bad = client.post("/api/v1/projects", data="not json", headers=headers | {"Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_failed"
    anonymous = client.post("/api/v1/projects", json={})
    assert anonymous.status_code == 401 and "message" in anonymous.get_json()["error"]
    forbidden = client.post("/api/v1/projects", json={}, headers=factory.token(client, factory.user(Role.BIDDER)))
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]["code"] == "forbidden"


def test_the_server_clock_is_published(client):
    body = client.get("/api/v1/time").get_json()
    assert body["now"].endswith("+00:00") and body["accelerator"] == 1
