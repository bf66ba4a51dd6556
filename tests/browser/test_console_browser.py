"""The admin console in headless Chromium (Debian's package, driven by Playwright):
the admin's whole round trip, the same flow from the keyboard alone, and axe-core on
every page (no serious or critical violation, every control labelled)."""

from __future__ import annotations

import re

import httpx
import pytest
from browser.harness import axe_violations, unlabelled_controls

pytestmark = pytest.mark.browser


def sign_in(page, served) -> None:
    page.goto("/console")
    assert page.url.endswith("/console/sign-in")
    page.get_by_label("Client id").fill(served.admin.client.client_id)
    page.get_by_label("Client secret").fill(served.admin.client_secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/clients")


def token_status(served, client_id: str, secret: str) -> tuple[int, str | None]:
    response = httpx.post(f"{served.url}/oauth2/token",
                          data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    token = response.json().get("access_token") if response.status_code == 200 else None
    return response.status_code, token


def decide(page, token: str, method: str, path: str) -> tuple[str, str]:
    page.get_by_role("link", name="Token tester").click()
    page.get_by_label("Access token").fill(token)
    page.get_by_label("Method").select_option(method)
    page.get_by_label("Path").fill(path)
    page.get_by_role("button", name="Decide").click()
    return page.locator("#decision").inner_text(), page.locator("#reason").inner_text()


def test_admin_round_trip(page, served):
    sign_in(page, served)

    # Create a client; its secret is shown once, copied by the button, and works.
    page.get_by_role("link", name="New client").click()
    page.get_by_label("Name").fill("nightly-export")
    page.get_by_label(re.compile(r"^orders:read ")).check()
    page.get_by_role("button", name="Create client").click()
    page.get_by_role("heading", name="Client created").wait_for()
    client_id = page.locator("#client-id").inner_text()
    secret = page.locator("#client-secret").inner_text()
    assert secret not in page.url
    page.get_by_role("button", name="Copy secret").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    status, first_token = token_status(served, client_id, secret)
    assert status == 200 and first_token

    # Rotate with no grace: the old secret stops at once, the new one works.
    page.get_by_role("link", name="Go to the client").click()
    page.get_by_label(re.compile("^Grace period")).fill("0")
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("heading", name="Secret rotated").wait_for()
    new_secret = page.locator("#client-secret").inner_text()
    assert new_secret != secret
    assert token_status(served, client_id, secret)[0] == 401
    status, token = token_status(served, client_id, new_secret)
    assert status == 200 and token

    # The token decides as the authorizer would: allowed on its route.
    assert decide(page, token, "GET", "/orders/7") == ("allow", "granted")
    assert decide(page, token, "DELETE", "/orders/7")[0] == "deny"

    # Disable: no more tokens, and the one it holds is refused.
    page.goto(f"/console/clients/{client_id}")
    page.get_by_role("button", name="Disable client").click()
    page.get_by_text("Client disabled: its tokens are revoked.").wait_for()
    assert token_status(served, client_id, new_secret)[0] == 401
    assert decide(page, token, "GET", "/orders/7") == ("unauthorized", "revoked")

    # The audit trail names each change, by this admin, from the console.
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Target").fill(client_id)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 3
    actions = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(3)]
    assert actions == ["client.disable", "client.rotate_secret", "client.create"]
    for i in range(3):
        cells = rows.nth(i).locator("td")
        assert cells.nth(1).inner_text() == served.admin.client.client_id
        assert cells.nth(2).inner_text() == "console"

    # Rotate the signing key: a next key appears on the timeline.
    page.get_by_role("link", name="Keys").click()
    page.get_by_role("button", name="Rotate: publish a next key").click()
    page.get_by_text("A next key is published").wait_for()
    assert page.locator(".status-next").count() == 1

    # Sign out: back to sign-in, and the console is closed to this browser.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.goto("/console/clients")
    assert page.url.endswith("/console/sign-in?ended=1")


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with Tab in {limit} presses")


def test_the_flow_works_from_the_keyboard_alone(page, served):
    page.goto("/console/sign-in")
    tab_to(page, "#client_id")
    page.keyboard.type(served.admin.client.client_id)
    page.keyboard.press("Tab")
    page.keyboard.type(served.admin.client_secret)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/clients")

    tab_to(page, "a[href='/console/clients/new']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/clients/new")
    tab_to(page, "#name")
    page.keyboard.type("keyboard-made")
    tab_to(page, "input[name=scopes][value='orders:read']")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]:not(.top button)")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Client created").wait_for()
    secret = page.locator("#client-secret").inner_text()
    tab_to(page, "button[data-copy]")
    page.keyboard.press("Enter")
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    tab_to(page, "a[href^='/console/clients/c']")  # Go to the client
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile("keyboard-made")).wait_for()
    tab_to(page, "form[action$='/enabled'] button")
    page.keyboard.press("Enter")
    page.get_by_text("Client disabled").wait_for()

    page.keyboard.press("Shift+Tab")  # focus is back at the top of the new page
    tab_to(page, "form.signout button")
    page.keyboard.press("Enter")
    page.get_by_text("You are signed out.").wait_for()


PAGES = ["/console/clients", "/console/clients/new", "/console/keys", "/console/audit",
         "/console/revocation", "/console/tester", "/console/policy"]


def test_every_page_passes_axe_and_labels_every_control(page, served):
    failures: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found = axe_violations(page) + [f"unlabelled: {c}" for c in unlabelled_controls(page)]
        if found:
            failures[name] = found

    page.goto("/console/sign-in")
    check("sign-in")
    sign_in(page, served)
    for path in PAGES:
        page.goto(path)
        check(path)
    # Pages reached by acting: a new client's secret, its page, the delete confirmation,
    # a tester decision, a revocation answer, an error page.
    page.goto("/console/clients/new")
    page.get_by_label("Name").fill("axe <b>check</b>")
    page.get_by_label(re.compile(r"^orders:read ")).check()
    page.get_by_role("button", name="Create client").click()
    page.get_by_role("heading", name="Client created").wait_for()
    check("secret")
    client_id = page.locator("#client-id").inner_text()
    page.goto(f"/console/clients/{client_id}")
    check("client")
    page.goto(f"/console/clients/{client_id}/delete")
    check("delete")
    page.goto("/console/tester")
    page.get_by_label("Access token").fill("not.a.token")
    page.get_by_label("Path").fill("/orders/1")
    page.get_by_role("button", name="Decide").click()
    page.locator("#decision").wait_for()
    check("tester result")
    page.goto("/console/revocation")
    page.get_by_label("Access token, or its jti").fill("a-jti")
    page.get_by_role("button", name="Revoke").click()
    check("revocation answer")
    page.goto("/console/clients/c_none")
    check("error page")
    assert failures == {}
