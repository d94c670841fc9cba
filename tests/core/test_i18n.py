"""The English catalogue: pages switch language per session, and the committed catalogue is complete and compiled.

Chinese is the source language (the msgids are Chinese), so a missing translation shows Chinese to an English
reader. Labels kept in Python dicts reach ``_()`` only at render time; extraction cannot see them, so the
catalogue carries them by hand and these tests check that none is lost.
"""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from core.accounts import ORG_KIND_LABELS, ROLE_LABELS, Role
from core.db import StateMachine, db
from evaluation.catalogue import method_titles
from supervision.points import POINTS
from trading.models import METHOD_LABELS, PRICE_FIELD_TYPE_LABELS, PROJECT_STATES, PROJECT_TYPE_LABELS, SECTION_STATES

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "translations" / "en" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
UPDATE_HINT = ("re-extract and translate: pybabel extract -F babel.cfg -k lazy_gettext -o translations/messages.pot . && "
               "pybabel update --no-fuzzy-matching -i translations/messages.pot -d translations (then re-add the Python-side labels "
               "marked obsolete) && pybabel compile -d translations")


def _po():
    with open(MESSAGES / "messages.po", "rb") as f:
        return read_po(f, locale="en")


def _request(client, method: str, url: str):
    """One request in its own application context, as in production.

    The ``app`` fixture keeps an application context pushed for the whole test and the test client reuses it,
    so ``g`` (where Flask-Babel caches the request's locale) would outlive a request. The test's own session
    commits first: on SQLite every transaction holds the write lock, and the request uses a session of its own.
    """
    db.session.commit()
    with client.application.app_context():
        response = client.open(url, method=method)
    assert response.status_code in (200, 302), (url, response.status_code)
    return response


def _page(client, url: str) -> str:
    response = _request(client, "GET", url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _switch(client, code: str) -> None:
    response = _request(client, "POST", f"/lang/{code}")
    assert response.status_code == 302


# -- pages ------------------------------------------------------------------------------------------------------

def test_notices_are_chinese_by_default_and_english_after_switching(client, factory):
    factory.project()
    page = _page(client, "/")
    assert "<h1>招标公告</h1>" in page and "<td>工程</td><td>公开招标</td>" in page
    assert 'lang="zh-CN"' in page

    _switch(client, "en")
    page = _page(client, "/")
    assert "<h1>Tender notices</h1>" in page
    assert "<td>Works</td><td>Open tendering</td>" in page
    assert 'lang="en"' in page and "招标公告" not in page


def test_project_and_section_states_and_the_role_read_in_english(client, factory):
    project = factory.project()
    bidder = factory.user(Role.BIDDER)
    factory.login(client, bidder)
    _switch(client, "en")

    page = _page(client, f"/projects/{project.id}")
    assert ">Published</span>" in page and ">Open for bids</span>" in page
    assert "<dt>Procurement method</dt><dd>Open tendering</dd>" in page and "已发布" not in page

    page = _page(client, f"/sections/{project.sections[0].id}")
    assert "<h2>Price form</h2>" in page and "Amount (CNY)" in page and "金额(元)" not in page

    page = _page(client, "/workspace")
    assert "· Bidder" in page and "<h1>Workspace" in page


def test_punctuation_follows_the_page_language(client, factory):
    section = factory.project().sections[0]
    factory.login(client, factory.user(Role.BIDDER))
    chinese = _page(client, f"/sections/{section.id}")
    assert re.search(r"投标截止（开标）时间：<strong>", chinese)
    _switch(client, "en")
    english = _page(client, f"/sections/{section.id}")
    assert "Bid deadline (opening time): <strong>" in english
    # the method's name, the labels and the punctuation all read in English; only the agent's price-form
    # entries (data: 投标总价, 合格…) stay as typed
    assert "Comprehensive" in english.split("Evaluation method</dt><dd>")[1].split("</dd>")[0]
    assert "Choice: 合格, 优良" in english


def test_switching_back_to_chinese(client, factory):
    project = factory.project()
    _switch(client, "en")
    assert "Tender notices" in _page(client, "/")

    _switch(client, "zh")
    page = _page(client, "/")
    assert "<h1>招标公告</h1>" in page and "<td>工程</td><td>公开招标</td>" in page and "Tender notices" not in page
    assert ">已发布</span>" in _page(client, f"/projects/{project.id}")


# -- the catalogue ----------------------------------------------------------------------------------------------

def test_every_msgid_has_an_english_translation_with_its_placeholders():
    catalog = _po()
    messages = [m for m in catalog if m.id]
    assert messages
    untranslated = [m.id for m in messages if not m.string or not m.string.strip() or m.fuzzy]
    assert untranslated == [], untranslated
    changed = [m.id for m in messages
               if sorted(PLACEHOLDER.findall(m.id)) != sorted(PLACEHOLDER.findall(m.string))]
    assert changed == [], changed
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_the_committed_mo_is_compiled_from_the_po():
    with open(MESSAGES / "messages.mo", "rb") as f:
        committed = {m.id: m.string for m in read_mo(f) if m.id}
    compiled = io.BytesIO()
    write_mo(compiled, _po())
    compiled.seek(0)
    fresh = {m.id: m.string for m in read_mo(compiled) if m.id}
    assert committed == fresh, "translations/en/LC_MESSAGES/messages.mo is stale: run pybabel compile -d translations"


#: The packages whose labels reach pages (babel.cfg's Python patterns; bidtool and crypto render no page).
LABEL_PACKAGES = ("core", "trading", "evaluation", "guarantees", "supervision", "demo")


def python_side_labels() -> dict[str, str]:
    """Label → where it is kept, for every label the app's loaded modules keep in Python for ``_()`` at render time.

    Found by shape rather than listed, so a new module's labels are checked without touching this test: every
    module-level ``StateMachine`` (its state names), every module-level ``*_LABELS`` dict of strings, the
    supervision points' stage and title, and the evaluation methods' names (the section form's select).
    """
    found: dict[str, str] = {}
    for module_name, module in sorted(sys.modules.items()):
        if module is None or module_name.split(".")[0] not in LABEL_PACKAGES or not getattr(module, "__file__", None):
            continue
        source = Path(module.__file__).read_text(encoding="utf-8")
        for name, value in sorted(vars(module).items()):
            if not re.search(rf"^{name}\b[^=\n]*=", source, re.MULTILINE):
                continue  # imported from the module that keeps it: named there
            if isinstance(value, StateMachine):
                labels = value.labels.values()
            elif (name.endswith("_LABELS") and isinstance(value, dict) and value
                  and all(isinstance(v, str) for v in value.values())):
                labels = value.values()
            else:
                continue
            for label in labels:
                found.setdefault(label, f"{module_name}.{name}")
    for point in POINTS:
        found.setdefault(point.stage_zh, f"supervision.points.POINTS[{point.code}].stage_zh")
        found.setdefault(point.title_zh, f"supervision.points.POINTS[{point.code}].title_zh")
    for title in method_titles().values():
        found.setdefault(title, "evaluation.catalogue.method_titles()")
    return found


def test_the_label_search_finds_the_known_label_kinds(_app):
    """Guards the search itself: a label kind it stopped finding would pass the next test vacuously."""
    found = python_side_labels()
    where = set(found.values())
    for source in (PROJECT_TYPE_LABELS, METHOD_LABELS, PROJECT_STATES.labels, SECTION_STATES.labels, ROLE_LABELS,
                   ORG_KIND_LABELS, PRICE_FIELD_TYPE_LABELS):
        assert set(source.values()) <= set(found), source
    assert any(w.startswith("supervision.points.POINTS") for w in where)
    assert "evaluation.catalogue.method_titles()" in where


def test_every_python_side_label_is_in_the_catalogue(_app):
    """``_app`` imports every module the app serves pages from, so their labels are in ``sys.modules`` to find."""
    catalog = _po()
    missing = sorted(f"{where}: {label}" for label, where in python_side_labels().items()
                     if catalog.get(label) is None or not catalog.get(label).string)
    assert missing == [], missing


def test_every_string_marked_in_the_code_and_templates_is_in_the_catalogue():
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    marked = {message[2] if isinstance(message[2], str) else message[2][0]
              for message in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}
    catalog = _po()
    missing = sorted(msgid for msgid in marked if catalog.get(msgid) is None or not catalog.get(msgid).string)
    assert missing == [], f"{missing}: {UPDATE_HINT}"
