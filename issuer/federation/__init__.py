"""Workload identity federation (docs/federation.md): the external issuers whose tokens
authenticate federated clients (`trusted_issuers`), the identities that map their tokens
to clients (`identities`), their keys (`jwks`) and the token path's cached view of both
(`directory`). The method itself is `issuer/oauth/federated.py`."""
