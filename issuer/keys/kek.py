"""The key-encryption key (KEK): encrypts signing keys at rest, keys the secret hashes.

AES-256-GCM with the key id as associated data, so an encrypted private key copied onto
another row (another kid) fails to decrypt instead of signing under the wrong name.
The client-secret HMAC key is derived from the KEK with HKDF (RFC 5869) under its own
`info`, so the two uses never share key material.

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
    """Encrypts/decrypts private keys bound to their kid; derives the secret-hash key."""

    def __init__(self, key: bytes, source: str = "ISSUER_KEY_ENCRYPTION_KEY") -> None:
        if len(key) != KEK_BYTES:
            raise KekError(f"KEK must be {KEK_BYTES} bytes")
        self._aead = AESGCM(key)
        self._key = key
        # Where the key came from, for messages: the setting an operator has to fix.
        self.source = source

    def encrypt(self, plaintext: bytes, kid: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def decrypt(self, blob: bytes, kid: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], kid.encode())
        except (InvalidTag, ValueError):
            raise KekError(
                f"signing key {kid} does not decrypt with this key-encryption key "
                "(ISSUER_KEY_ENCRYPTION_KEY / ISSUER_KEK_FILE changed?)"
            ) from None

    def check_value(self) -> bytes:
        """A known marker sealed under this KEK (a fresh nonce each time)."""
        return self.encrypt(_CHECK_MARKER, _CHECK_AAD)

    def opens(self, check_value: bytes) -> bool:
        """Whether `check_value` was made by `check_value()` under this same KEK (the GCM
        tag authenticates it: another key fails, it cannot decrypt to the marker)."""
        try:
            return self.decrypt(check_value, _CHECK_AAD) == _CHECK_MARKER
        except KekError:
            return False

    def secret_hmac_key(self) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_SECRET_HMAC_INFO
        ).derive(self._key)


def kek_from_settings(key: bytes | None, kek_file: str) -> Kek:
    if key is not None:
        return Kek(key)
    return Kek(load_or_create_kek_file(kek_file), source=f"ISSUER_KEK_FILE ({kek_file})")
