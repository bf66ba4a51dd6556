"""How long an access token lives (RFC 6749 §4.2.2 `expires_in`, RFC 9068 `exp`).

A token cannot be recalled from a stateless authorizer except through the revocation
list, so its life is bounded: every other horizon follows from `MAX_TOKEN_LIFETIME`
(how long a retired signing key stays published, how long a client-wide revocation
record is kept). Settings, client registration and the grant all read these bounds.
"""

from __future__ import annotations

MIN_TOKEN_LIFETIME = 60
MAX_TOKEN_LIFETIME = 86_400
# ISSUER_TOKEN_LIFETIME's default: what a client without a lifetime of its own gets.
DEFAULT_TOKEN_LIFETIME = 3600
