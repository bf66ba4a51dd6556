"""Workload identity federation (docs/federation.md): the external issuers whose tokens
authenticate federated clients (`trusted_issuers`), the identities that map their tokens
to clients (`identities`), their keys (`jwks`), the token path's cached view of both
(`directory`) and the refusals of their rules (`errors`). The method itself is
`issuer/oauth/federated_assertion.py`; all of it is imported by the first request that
uses it, not at start (issuer/services.py)."""
