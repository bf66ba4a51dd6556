"""Screenshots of every console page into docs/console/ (PNG):
`.venv/bin/python -m tests.browser.screenshots [--out docs/console]`.

A throwaway issuer (SQLite in a temporary folder) with a few example clients and some
traffic, Debian's Chromium through Playwright (tests/browser/harness.py), one full-page
PNG per page at 1280 px wide."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # helpers/ and browser/, as pytest's pythonpath has them

import httpx  # noqa: E402
from browser.harness import chromium, console_server, unavailable  # noqa: E402

ROOT = TESTS.parent


def _token(url: str, client_id: str, secret: str) -> str | None:
    response = httpx.post(f"{url}/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret))
    return response.json().get("access_token") if response.status_code == 200 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshots")
    parser.add_argument("--out", default=str(ROOT / "docs" / "console"))
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, console_server(Path(folder)) as served, \
            chromium() as browser:
        issuer = served.issuer
        orders = issuer.client(["orders:read", "orders:write"], name="orders-service")
        issuer.client(["billing:read"], name="billing-report")
        retired = issuer.client(["orders:read"], name="legacy-batch")
        for _ in range(5):
            _token(served.url, orders.client.client_id, orders.client_secret)
        _token(served.url, orders.client.client_id, "a wrong secret")
        reader_token = _token(served.url, orders.client.client_id, orders.client_secret)

        context = browser.new_context(base_url=served.url,
                                      viewport={"width": 1280, "height": 800})
        page = context.new_page()

        def shot(name: str) -> None:
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(out / f"{name}.png")

        page.goto("/console/sign-in")
        shot("sign-in")
        page.get_by_label("Client id").fill(served.admin.client.client_id)
        page.get_by_label("Client secret").fill(served.admin.client_secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/clients")
        page.goto(f"/console/clients/{retired.client.client_id}")
        page.get_by_role("button", name="Disable client").click()
        page.get_by_text("Client disabled").wait_for()
        page.get_by_role("link", name="Keys").click()
        page.get_by_role("button", name="Rotate: publish a next key").click()
        page.get_by_text("A next key is published").wait_for()
        shot("keys")
        page.goto("/console/clients")
        shot("clients")
        page.get_by_role("link", name="New client").click()
        page.get_by_label("Name").fill("nightly-export")
        page.get_by_label("orders:read Read orders").check()
        shot("client-new")
        page.get_by_role("button", name="Create client").click()
        page.get_by_role("heading", name="Client created").wait_for()
        page.get_by_role("button", name="Copy secret").focus()
        shot("client-secret")
        page.goto(f"/console/clients/{orders.client.client_id}")
        shot("client")
        page.goto("/console/tester")
        page.get_by_label("Access token").fill(reader_token or "")
        page.get_by_label("Path").fill("/orders/42")
        page.get_by_role("button", name="Decide").click()
        page.locator("#decision").wait_for()
        shot("tester")
        page.goto("/console/revocation")
        shot("revocation")
        page.goto("/console/audit")
        shot("audit")
        page.goto("/console/policy")
        shot("policy")
        context.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
