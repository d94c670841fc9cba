"""Browser tests: Debian's Chromium driven by Playwright, against the app served on 127.0.0.1.

No browser is ever downloaded. Without /usr/bin/chromium the tests skip, unless BIDHALL_REQUIRE_BROWSER=1
(as CI sets), where a missing browser is a failure.
"""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("BIDHALL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def _playwright():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("BIDHALL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: browser tests are required here")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def browser(_playwright):
    return _playwright


@pytest.fixture()
def new_page(browser, live_server):
    contexts = []

    def make(lang: str = "zh-CN"):
        context = browser.new_context(base_url=live_server, locale=lang, accept_downloads=True)
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
