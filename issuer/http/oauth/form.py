"""Reading the token request body: form-encoded only, bounded, each parameter once.

RFC 6749 §3.2 requires `application/x-www-form-urlencoded` and parameters that appear
at most once; a repeated `scope` or `client_id` would otherwise let two parsers (ours and
a proxy's) disagree about the request. RFC 6749 §3.1: a parameter sent without a value
is treated as omitted.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from issuer.oauth.errors import InvalidRequest

MAX_BODY_BYTES = 8192
MAX_FIELDS = 32
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _check_content_type(value: str | None) -> None:
    media, *params = (value or "").split(";")
    if media.strip().lower() != FORM_MEDIA_TYPE:
        raise InvalidRequest(f"the body must be {FORM_MEDIA_TYPE}")
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise InvalidRequest("the body must be UTF-8")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidRequest(f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():  # also bounds chunked bodies without a length
        body += chunk
        if len(body) > limit:
            raise InvalidRequest(f"the body is larger than {limit} bytes")
    return bytes(body)


def parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("ascii")  # percent-encoded: raw non-ASCII bytes are malformed
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except ValueError:  # UnicodeDecodeError included; also too many fields
        raise InvalidRequest("the body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name!r} is repeated"[:100])
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}


async def read_form(request: Request) -> dict[str, str]:
    _check_content_type(request.headers.get("content-type"))
    return parse_form(await read_body(request))
