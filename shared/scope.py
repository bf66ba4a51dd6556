"""The `scope` grammar of RFC 6749 §3.3, shared by the policy loader, the claim checks
and the issuer's token endpoint, so all three accept exactly the same strings:

    scope       = scope-token *( SP scope-token )
    scope-token = 1*( %x21 / %x23-5B / %x5D-7E )

printable ASCII without space, `"` and `\\`. Anything else (NUL, unicode, control
characters, doubled spaces) is malformed.
"""

from __future__ import annotations

import re

ADMIN_SCOPE = "issuer:admin"  # built in: tokens for the issuer's own admin API

_SCOPE_WORD = r"[\x21\x23-\x5B\x5D-\x7E]+"
_SCOPE = re.compile(rf"{_SCOPE_WORD}(?: {_SCOPE_WORD})*\Z")


def is_scope(value: str) -> bool:
    """A space-separated list of one or more scope-tokens."""
    return _SCOPE.match(value) is not None


def is_scope_token(value: str) -> bool:
    return " " not in value and _SCOPE.match(value) is not None
