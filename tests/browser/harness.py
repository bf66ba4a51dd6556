"""What the browser tests and the screenshot script share: a real issuer (uvicorn on a
loopback port, SQLite) with the console on, Debian's Chromium driven by Playwright for
Python (`executable_path`: no browser is ever downloaded, `playwright install` is never
run), and axe-core injected into a page."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.issuer_admin import ADMIN
from helpers.issuer_env import TestIssuer, make_issuer, write_policy
from helpers.issuer_server import serve

from issuer.clients.registry import NewClient

CHROMIUM = os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium")
# Headless Chromium on a machine with no network beyond loopback: no sandbox (root in a
# container), no GPU, no background connections (refused, many at a time, otherwise).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
BLOCKING_IMPACTS = ("serious", "critical")


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed: make install (dev extra)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
            CHROMIUM):
        return (f"no Chromium at {CHROMIUM}: apt-get install -y chromium "
                "(or set TOLLGATE_CHROMIUM); make test-browser and .ci/run's browser leg "
                "install it")
    return None


@dataclass
class Served:
    url: str
    issuer: TestIssuer
    admin: NewClient


@contextmanager
def console_server(folder: Path) -> Iterator[Served]:
    """An issuer serving the console at a loopback URL (ISSUER_URL is that URL, so the
    console's Origin check and plain-http loopback cookies apply as in development)."""
    policy = write_policy(folder)
    database = f"sqlite:///{folder}/console.db"
    built: dict[str, TestIssuer] = {}

    def app_for_url(url: str) -> Any:
        issuer = make_issuer(database, policy, url=url)
        built["issuer"] = issuer
        return issuer.app()

    with serve(app_for_url) as url:
        issuer = built["issuer"]
        try:
            admin = issuer.client([ADMIN], name="console admin")
            yield Served(url=url, issuer=issuer, admin=admin)
        finally:
            issuer.services.engine.dispose()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def axe_source() -> str:
    data = AXE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != AXE_SHA256:
        raise AssertionError(f"{AXE} is not the vendored axe-core 4.14.1 ({digest})")
    return data.decode("utf-8")


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line
    each. Injected through the DevTools protocol (`evaluate`), which the page's CSP does
    not govern: the console itself allows no inline script."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS
    ]


def unlabelled_controls(page: Any) -> list[str]:
    """Form controls with no accessible name from a label (visible ones)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')).filter(e => {
          if (e.tagName === 'BUTTON') return !e.textContent.trim();
          return !(e.labels && e.labels.length) && !e.getAttribute('aria-label');
        }).map(e => e.outerHTML.slice(0, 80))""")
