"""The console's pages: Jinja2 templates with autoescaping on for every value (a client
named `<script>` is shown as text), and the headers every console answer carries:

- `Content-Security-Policy`: scripts, styles, images and form targets from this origin
  only, no inline script or style, no plugin, no `<base>`, and `frame-ancestors 'none'`
  (no framing: clickjacking);
- `Referrer-Policy: no-referrer` (a URL of the console never reaches another site),
  `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` for older browsers;
- `Cache-Control: no-store` on pages: a page can show a secret once, and must not be
  kept by a cache or the browser's history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}

_env: Environment | None = None


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def environment() -> Environment:
    global _env
    if _env is None:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["when"] = _when
        _env = env
    return _env


def page(template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def redirect(url: str, headers: dict[str, str] | None = None) -> RedirectResponse:
    # 303: the browser follows with a GET (Post/Redirect/Get), never re-sending the form.
    return RedirectResponse(url, status_code=303, headers={**PAGE_HEADERS, **(headers or {})})
