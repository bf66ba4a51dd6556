"""What one running issuer holds: built once by `build_services(settings)`, kept on
`app.state`, handed to routes through dependencies (no module-level state).

What only some requests use is made by the first of them (`OnFirstUse`), its modules
imported then: federation here, the client authentication methods other than a secret
(issuer/oauth/client_auth.py), DPoP's proof checks (issuer/oauth/dpop.py). A cold start
that serves a client_secret token (the Lambda init, docs/benchmarks.md) loads none of
them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from issuer.clients.activity import ActivityCounter
from issuer.clients.cache import ClientCache, watch_client_changes
from issuer.clients.registry import SecretHasher
from issuer.keys.kek import Kek, kek_from_settings
from issuer.keys.kek_check import secret_hmac_key
from issuer.keys.lifecycle import KeySchedule
from issuer.keys.store import KeyStore, NoSigningKey, Signer, ensure_active_key
from issuer.metrics import TokenMetrics
from issuer.oauth.client_auth import ClientAuthenticator, client_authenticator
from issuer.oauth.dpop import DpopNonces, TokenEndpointDpop
from issuer.oauth.revocation import LIST_CACHE_SECONDS, SignedListCache, watch_revocations
from issuer.oauth.throttle import FailureThrottle
from issuer.oauth.throttle_store import DatabaseFailureStore
from issuer.settings import Settings
from issuer.store.engine import make_engine, make_session_factory
from issuer.store.tables import utcnow
from shared.policy import Policy, load_policy

if TYPE_CHECKING:  # made on first use (module docstring)
    from issuer.federation.directory import Federation

T = TypeVar("T")

# Every module the above leaves to the first request that uses it (with the tables a
# client_secret token does not touch): what SnapStart's before-snapshot hook imports, so
# a restored environment pays none of it (deploy/issuer_lambda.py). tests/issuer/
# test_lambda_init_token_path.py holds the init to loading none of them.
DEFERRED_MODULES = (
    # client authentication other than a secret, and what reads assertions and keys
    "issuer.oauth.private_key_jwt",
    "issuer.oauth.assertion",
    "issuer.oauth.tls_client_auth",
    "issuer.oauth.federated_assertion",
    "issuer.oauth.client_cert",
    "issuer.clients.client_keys",
    "shared.mtls",
    "shared.jwa",
    "shared.jwk",
    "shared.jws",
    "shared.verify",
    "shared.claims",
    # federation: trusted issuers, their keys, the identities, and the audit log
    "issuer.federation.directory",
    "issuer.federation.identities",
    "issuer.federation.jwks",
    "issuer.federation.trusted_issuers",
    "issuer.audit",
    # DPoP proofs
    "shared.dpop",
    # the ORM classes, and the tables a token does not touch (schema: the module that
    # imports them all)
    "issuer.store.schema",
)


class OnFirstUse(Generic[T]):
    """A service made by `make` at its first use, once (two first requests at once make
    one); calling this gives it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: T | None = None

    def __call__(self) -> T:
        made = self._made
        if made is None:
            with self._lock:
                made = self._made
                if made is None:
                    made = self._made = self._make()
        return made


class Services(NamedTuple):
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    kek: Kek
    hasher: SecretHasher
    key_store: KeyStore
    policy: Policy
    authenticator: ClientAuthenticator
    throttle: FailureThrottle
    # Clients as the token endpoint sees them: cached for ISSUER_CLIENT_CACHE_TTL, dropped
    # at once when this process's sessions commit a change to them (issuer/clients/cache.py).
    clients: ClientCache
    # The signed revocation list this process serves: rebuilt at most every
    # LIST_CACHE_SECONDS, at once after a revocation committed here (issuer/oauth/revocation.py).
    revocation_list: SignedListCache
    # The one clock for lifecycle decisions (key promotion, secret grace, token times), so
    # tests move time instead of sleeping.
    clock: Callable[[], datetime]
    # ISSUER_METRICS=emf: token requests counted per client (issuer/metrics.py); else None.
    metrics: TokenMetrics | None = None
    # Trusted issuers and federated identities as the token endpoint reads them, cached
    # like clients (issuer/federation/directory.py); made by the first federated request.
    federation: OnFirstUse[Federation] | None = None
    # DPoP proofs at the token endpoint (RFC 9449; issuer/oauth/dpop.py).
    dpop: TokenEndpointDpop | None = None
    # Tokens issued and failed authentications per client, added to the database in
    # batches (issuer/clients/activity.py): the admin console's per-client activity.
    activity: ActivityCounter | None = None

    def signer(self, session: Session, now: datetime) -> Signer:
        """The active signer (`KeyStore.signer`, which also makes due key transitions). On
        a database migrated but never started there is none yet: the first key is made
        here, as `issuer serve` makes it at startup (every signing path: tokens, the
        revocation list, the console's sign-in link)."""
        try:
            return self.key_store.signer(session, now)
        except NoSigningKey:
            ensure_active_key(self.sessions, self.kek, self.settings.signing_alg)
            return self.key_store.signer(session, now)


def database_throttle(settings: Settings, sessions: sessionmaker[Session]) -> FailureThrottle:
    # Counts in the database: every worker and Lambda instance brakes the same attacker.
    return FailureThrottle(
        settings.throttle_limit, settings.throttle_window, store=DatabaseFailureStore(sessions)
    )


def build_services(
    settings: Settings,
    engine: Engine | None = None,
    throttle: FailureThrottle | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    engine = engine or make_engine(settings.database_url)
    kek = kek_from_settings(
        settings.key_encryption_key, settings.kek_file, settings.previous_key_encryption_key
    )
    sessions = make_session_factory(engine)
    # The secret-hash key is a data key stored sealed under the KEK: read on first use
    # (normally by the KEK check every entry point runs first), not here.
    hasher = SecretHasher(partial(secret_hmac_key, sessions, kek))
    clock = clock or utcnow
    clients = ClientCache(settings.client_cache_ttl, clock)
    watch_client_changes(sessions, clients)
    revocation_list = SignedListCache(LIST_CACHE_SECONDS, clock)

    def make_federation() -> Federation:
        # Imported by the first federated request (module docstring).
        from issuer.federation.directory import Federation, watch_federation_changes
        from issuer.federation.jwks import UriPolicy

        made = Federation(settings.token_endpoint, settings.client_cache_ttl, clock,
                          UriPolicy.from_settings(settings))
        # From now on a change committed here drops what it caches; there was no cache
        # to drop before.
        watch_federation_changes(sessions, made)
        return made

    federation = OnFirstUse(make_federation)
    watch_revocations(sessions, revocation_list)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        kek=kek,
        hasher=hasher,
        key_store=KeyStore(kek, KeySchedule.from_settings(settings)),
        policy=load_policy(settings.policy_file),
        authenticator=client_authenticator(
            hasher, settings.url, settings.token_endpoint, clock, lookup=clients.get,
            federation=federation,
        ),
        federation=federation,
        throttle=throttle or database_throttle(settings, sessions),
        clients=clients,
        revocation_list=revocation_list,
        clock=clock,
        activity=ActivityCounter(sessions, clock),
        metrics=(
            TokenMetrics(settings.metrics_namespace) if settings.metrics == "emf" else None
        ),
        dpop=TokenEndpointDpop(
            settings.token_endpoint,
            settings.dpop_max_age,
            # Nonces keyed from the secret data key: every process makes and accepts
            # the same ones (issuer/oauth/dpop.py DpopNonces).
            DpopNonces(partial(secret_hmac_key, sessions, kek), settings.dpop_max_age)
            if settings.dpop_nonce
            else None,
        ),
    )
