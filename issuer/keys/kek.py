"""The key-encryption key (KEK): encrypts signing keys and the secret-hash key at rest.

AES-256-GCM with the key id as associated data, so an encrypted private key copied onto
another row (another kid) fails to decrypt instead of signing under the wrong name.
The client-secret HMAC key is a data key of its own, stored sealed under the KEK
(`issuer/keys/kek_check.py`), so a new KEK re-seals it and every secret keeps verifying
(`issuer kek rotate`). A database made before that stores, as its data key, the value
the old code derived from the KEK with HKDF (RFC 5869) under its own `info`
(`legacy_secret_hmac_key`), so its existing secrets keep verifying too.

A `Kek` may hold a previous key (`ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY`) while the KEK is
being changed: it decrypts under either, and seals under the one the database's check
value opens (`seal_with`), so processes still holding only the old key keep working until
`issuer kek rotate` re-seals everything under the new one (README, "Changing the KEK").

A KEK that is well formed but not the one a database was set up with must be caught
before anything is written: new secrets would be hashed under the wrong HMAC key (the
client locked out with both of its secrets) and keys encrypted under a key nobody else
has. `check_value()` is a known marker sealed under the KEK, stored once per database
(`issuer/keys/kek_check.py`), so the KEK can be verified even before any signing key exists.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.b64 import b64url_decode, b64url_encode

KEK_BYTES = 32
_NONCE_BYTES = 12  # NIST SP 800-38D §8.2: 96-bit random nonces
_SECRET_HMAC_INFO = b"tollgate/issuer/client-secret-hmac/v1"
# The sealed secret-hash data key's associated data (not a kid either, see below).
SECRET_KEY_AAD = "tollgate/issuer/client-secret-hmac-key/v1"  # noqa: S105 (not a secret)
# The check value's associated data: not a kid (kids are RFC 7638 thumbprints, base64url
# without "/"), so a signing key's ciphertext can never pass for the check value.
_CHECK_AAD = "tollgate/issuer/kek-check/v1"
_CHECK_MARKER = b"tollgate key-encryption key check"


class KekError(ValueError):
    """The KEK is malformed, unreadable, or does not decrypt what it should."""


class WrongKek(KekError):
    """A well-formed KEK that is not the one the stored keys and secrets were made under."""


def decode_kek(text: str) -> bytes:
    try:
        key = b64url_decode(text.strip().rstrip("="))
    except ValueError:
        raise KekError("must be base64url (no padding) of 32 random bytes") from None
    if len(key) != KEK_BYTES:
        raise KekError(f"must decode to {KEK_BYTES} bytes, got {len(key)}")
    return key


def new_kek_text() -> str:
    """What `issuer kek new` prints: base64url, no padding, of 32 bytes from the OS CSPRNG."""
    return b64url_encode(secrets.token_bytes(KEK_BYTES))


def load_or_create_kek_file(path: str | os.PathLike[str]) -> bytes:
    """Development KEK: generated once into `path` (mode 0600) and reused, so restarts and
    several workers decrypt the same keys. O_EXCL makes concurrent first starts agree."""
    file = Path(path)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(new_kek_text() + "\n")
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise KekError(f"{file} is readable by others (mode {mode:o}); chmod 600 it")
    text = file.read_text(encoding="ascii").strip()
    if not text:  # a concurrent creator has not written yet
        raise KekError(f"{file} is empty")
    return decode_kek(text)


class Kek:
    """Seals and opens private keys bound to their kid, and the secret-hash data key.

    `key` is the current KEK; `previous` (optional) is the one it replaces. Opening tries
    both; sealing uses the one the database's check value opens (`seal_with`: the
    database's KEK of record, the current one unless a change is under way)."""

    def __init__(
        self,
        key: bytes,
        source: str = "ISSUER_KEY_ENCRYPTION_KEY",
        previous: bytes | None = None,
        previous_source: str = "ISSUER_PREVIOUS_KEY_ENCRYPTION_KEY",
    ) -> None:
        keys = [key] if previous is None or previous == key else [key, previous]
        for k in keys:
            if len(k) != KEK_BYTES:
                raise KekError(f"KEK must be {KEK_BYTES} bytes")
        self._keys = keys
        self._aeads = [AESGCM(k) for k in keys]
        self._seal = 0
        # Where the key came from, for messages: the setting an operator has to fix.
        self.source = source
        self.sources = (source, previous_source)[: len(keys)]
        # The secret-hash data key once read from the database (`kek_check.secret_hmac_key`).
        self.data_key: bytes | None = None

    @property
    def has_previous(self) -> bool:
        return len(self._keys) > 1

    @property
    def sealing_index(self) -> int:
        """0: seals under the current KEK; 1: under the previous one (a change under way)."""
        return self._seal

    def seal_with(self, index: int) -> None:
        if not 0 <= index < len(self._keys):
            raise KekError("no such key-encryption key")
        self._seal = index

    def encrypt(self, plaintext: bytes, kid: str, index: int | None = None) -> bytes:
        aead = self._aeads[self._seal if index is None else index]
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, blob: bytes, kid: str) -> tuple[bytes, int]:
        """(plaintext, index of the key that opened it); `KekError` if none does."""
        for index, aead in enumerate(self._aeads):
            try:
                return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], kid.encode()), index
            except (InvalidTag, ValueError):
                continue
        raise KekError(
            f"signing key {kid} does not decrypt with this key-encryption key "
            "(ISSUER_KEY_ENCRYPTION_KEY / ISSUER_KEK_FILE changed?)"
        )

    def decrypt(self, blob: bytes, kid: str) -> bytes:
        return self.open(blob, kid)[0]

    def check_value(self, index: int | None = None) -> bytes:
        """A known marker sealed under this KEK (a fresh nonce each time)."""
        return self.encrypt(_CHECK_MARKER, _CHECK_AAD, index)

    def opener(self, check_value: bytes) -> int | None:
        """Which key made `check_value` (`check_value()` under it: the GCM tag
        authenticates it, another key cannot open it to the marker), or None."""
        try:
            plain, index = self.open(check_value, _CHECK_AAD)
        except KekError:
            return None
        return index if plain == _CHECK_MARKER else None

    def opens(self, check_value: bytes) -> bool:
        return self.opener(check_value) is not None

    def legacy_secret_hmac_key(self, index: int | None = None) -> bytes:
        """What the secret-hash key was before it was a data key of its own: derived from
        the KEK, so existing databases keep it as their data key (`kek_check`)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_SECRET_HMAC_INFO
        ).derive(self._keys[self._seal if index is None else index])

    def secret_hmac_key(self) -> bytes:
        """The data key, once `kek_check.secret_hmac_key` has read it from the database."""
        if self.data_key is None:
            raise KekError("the client-secret key has not been read from the database yet")
        return self.data_key


def kek_from_settings(key: bytes | None, kek_file: str, previous: bytes | None = None) -> Kek:
    if key is not None:
        return Kek(key, previous=previous)
    return Kek(
        load_or_create_kek_file(kek_file),
        source=f"ISSUER_KEK_FILE ({kek_file})",
        previous=previous,
    )
