"""The client-secret HMAC key is a data key of its own, sealed under the KEK (revision
0007), so changing the KEK keeps every client secret working; a database whose secrets
were hashed under the old HKDF-derived key keeps that value as its data key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from issuer.clients.registry import SecretHasher, create_client
from issuer.keys.kek import SECRET_KEY_AAD, Kek, WrongKek, decode_kek, new_kek_text
from issuer.keys.kek_check import rekey, verify_kek
from issuer.keys.store import ensure_active_key
from issuer.services import build_services
from issuer.settings import load_settings
from issuer.store.engine import make_engine, make_session_factory
from issuer.store.migrate import upgrade
from issuer.store.models import KekCheck, SigningKey
from shared.policy import load_policy

DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def services(url, policy_file, kek_text, previous=None):
    env = {
        "ISSUER_DATABASE_URL": url,
        "ISSUER_KEY_ENCRYPTION_KEY": kek_text,
        "POLICY_FILE": str(policy_file),
    }
    if previous:
        env["ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY"] = previous
    built = build_services(load_settings(env, env_file=None))
    verify_kek(built.sessions, built.kek)
    return built


def authenticates(svc, client_id, secret) -> bool:
    with svc.sessions() as session:
        from issuer.clients.registry import get_client

        return svc.hasher.verify(get_client(session, client_id), secret)


@pytest.mark.parametrize("checked", [True, False], ids=["check-value-0006", "before-0006"])
@pytest.mark.parametrize("db", DB_KINDS)
def test_a_database_from_before_the_data_key_keeps_its_secrets(databases, policy_file, db,
                                                               checked):
    """Secrets hashed by the code before revision 0007 (HMAC under the HKDF derivation of
    the KEK), with the KEK check value a 0006 database has (no secret key) or none."""
    url = databases.new_url(db)
    engine = make_engine(url)
    upgrade(engine)
    kek_text = new_kek_text()
    old_kek = Kek(decode_kek(kek_text))
    legacy = SecretHasher(old_kek.legacy_secret_hmac_key())
    with make_session_factory(engine)() as session:  # as the code before 0007 left it
        new = create_client(session, legacy, load_policy(policy_file), name="old",
                            scopes=["orders:read"])
        if checked:
            session.add(KekCheck(id=1, value=old_kek.check_value(), secret_key=None))
            session.commit()
    engine.dispose()

    svc = services(url, policy_file, kek_text)
    assert authenticates(svc, new.client.client_id, new.client_secret)
    assert not authenticates(svc, new.client.client_id, new.client_secret + "x")
    with svc.sessions() as session:
        row = session.get(KekCheck, 1)
        assert svc.kek.decrypt(row.secret_key, SECRET_KEY_AAD) == old_kek.legacy_secret_hmac_key()
    svc.engine.dispose()


@pytest.mark.parametrize("db", DB_KINDS)
def test_a_new_database_gets_a_random_data_key(databases, policy_file, db):
    url = databases.new_url(db)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    kek_text = new_kek_text()
    svc = services(url, policy_file, kek_text)
    assert svc.kek.secret_hmac_key() != Kek(decode_kek(kek_text)).legacy_secret_hmac_key()
    assert len(svc.kek.secret_hmac_key()) == 32
    svc.engine.dispose()


@pytest.mark.parametrize("db", DB_KINDS)
def test_kek_change_keeps_signing_keys_and_secrets(databases, policy_file, db):
    url = databases.new_url(db)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    old, new = new_kek_text(), new_kek_text()

    first = services(url, policy_file, old)
    ensure_active_key(first.sessions, first.kek, "ES256")
    with first.sessions() as session:
        made = create_client(session, first.hasher, first.policy, name="c",
                             scopes=["orders:read"])
    cid, secret = made.client.client_id, made.client_secret

    # Step 2: a process given the new KEK with the old as previous opens everything and
    # keeps sealing under the old one (the database's), so old-KEK processes still work.
    both = services(url, policy_file, new, previous=old)
    assert both.kek.sealing_index == 1
    assert authenticates(both, cid, secret)
    still_old = services(url, policy_file, old)
    assert authenticates(still_old, cid, secret)

    # Step 3: re-seal everything under the new KEK.
    result = rekey(both.sessions, both.kek)
    assert (result.signing_keys, result.already_current) == (1, False)
    assert both.kek.sealing_index == 0
    assert rekey(both.sessions, both.kek).already_current

    only_new = services(url, policy_file, new)
    assert authenticates(only_new, cid, secret)
    with only_new.sessions() as session:
        key = session.scalars(select(SigningKey)).one()
        only_new.kek.decrypt(key.private_key_encrypted, key.kid)
    with pytest.raises(WrongKek, match="ISSUER_KEY_ENCRYPTION_KEY does not decrypt"):
        services(url, policy_file, old)
    for svc in (first, both, still_old, only_new):
        svc.engine.dispose()
