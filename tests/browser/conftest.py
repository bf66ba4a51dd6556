"""Browser tests: skipped with the reason when Playwright or Chromium is missing (plain
`make test`); `make test-browser` and .ci/run's browser leg install Chromium first, and
that leg fails if any of them skips."""

from __future__ import annotations

import pytest
from browser.harness import chromium, console_server, unavailable

REASON = unavailable()


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason=f"browser tests: {REASON}") if REASON else None
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            if skip is not None:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with console_server(tmp_path_factory.mktemp("console")) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, served):
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
