"""/docs in a real browser (Debian's headless Chromium, driven by Selenium through Debian's
chromedriver) against a real server: the page loads from the service alone, lists every
operation of the OpenAPI document, and "Try it out" stores a record."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import backing
from tests.processes import call, running_server

pytestmark = pytest.mark.e2e
BROWSER, DRIVER = "chromium", "chromedriver"


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: .ci/run installs Debian's chromium and chromium-driver")
    pytest.skip(f"{what} is missing (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder: Path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{folder / 'docs.db'}"
    backing.migrate_in_thread(url)
    with running_server({"APP_DATABASE_URL": url}, folder) as port:
        yield port


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from selenium import webdriver
    except ImportError:
        _missing("selenium (make .venv/.dev-deps)")
    binary, driver = shutil.which(BROWSER), shutil.which(DRIVER)
    if binary is None or driver is None:
        _missing(f"{BROWSER} or {DRIVER}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def wait_for(browser: Any, css: str, count: int = 1, timeout: float = 20) -> list[Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        lambda b: found if len(found := b.find_elements(By.CSS_SELECTOR, css)) >= count else None
    )


def test_the_page_lists_every_operation_and_stores_a_record(server: int, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    document = json.loads(call(server, "GET", "/openapi.json")[2])
    operations = {op["operationId"] for methods in document["paths"].values() for op in methods.values()}

    browser.get(f"http://127.0.0.1:{server}/docs")
    blocks = wait_for(browser, ".opblock", len(operations))

    listed = {block.get_attribute("id").rsplit("-", 1)[-1] for block in blocks}
    assert listed == operations
    assert "docs" not in document["paths"] and "/docs" not in document["paths"]
    # Nothing came from another host: every script and style sheet is the service's own.
    sources = browser.execute_script(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert sources and all(s.startswith(f"http://127.0.0.1:{server}/docs/") for s in sources)

    create = browser.find_element(By.CSS_SELECTOR, "[id$='-createRecord']")
    create.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for(browser, "[id$='-createRecord'] .try-out__btn")[0].click()
    body = wait_for(browser, "[id$='-createRecord'] textarea.body-param__text")[0]
    body.send_keys(Keys.CONTROL, "a")
    body.send_keys(Keys.DELETE)
    body.send_keys('{"user_id": "from-the-docs", "payload": {"clicked": true}}')
    create.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait_for(browser, "[id$='-createRecord'] .live-responses-table tbody .response-col_status")[0]

    assert status.text.strip().startswith("201")
    stored = json.loads(call(server, "GET", "/data?user_id=from-the-docs")[2])
    assert [r["payload"] for r in stored["items"]] == [{"clicked": True}]


def test_docs_can_be_turned_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'off.db'}"
    backing.migrate_in_thread(url)
    with running_server({"APP_DATABASE_URL": url, "APP_DOCS": "false"}, tmp_path) as port:
        assert call(port, "GET", "/docs")[0] == 404
        assert call(port, "GET", "/docs/swagger-ui-bundle.js")[0] == 404
        assert call(port, "GET", "/openapi.json")[0] == 200
