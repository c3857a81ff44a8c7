"""
Encryption at rest for secrets Merchantry must read back (plugin credentials).

Values are Fernet tokens (AES-128-CBC with HMAC-SHA256, from ``cryptography``)
under a :class:`~cryptography.fernet.MultiFernet` built from
``MERCHANTRY_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts, so
a new key is introduced by putting it first and keeping the old ones until
``merchantry rotate_encryption_keys`` has re-encrypted everything.

Without configured keys, one key is derived from ``SECRET_KEY`` with HKDF, so
the embedded mode needs no configuration. Changing ``SECRET_KEY`` then changes
that key: list the old derived key (``merchantry rotate_encryption_keys
--show-derived-key`` prints it, run before the change) in
``MERCHANTRY_ENCRYPTION_KEYS`` to keep reading what it encrypted.

A column holding tokens is declared as :class:`EncryptedTextField`; it stores
text like a ``TextField`` (services encrypt and decrypt explicitly), and is how
the rotation command finds every encrypted value without knowing the apps.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps
from django.conf import settings
from django.db import models

__all__ = [
    "DecryptionFailed",
    "EncryptedTextField",
    "decrypt_text",
    "derive_key",
    "encrypt_text",
    "encrypted_fields",
    "is_current",
    "rotate",
    "rotate_stored",
]

_HKDF_SALT = b"merchantry.core.crypto"
_HKDF_INFO = b"merchantry encryption key v1"


class DecryptionFailed(Exception):
    """A stored value cannot be decrypted with any configured key."""


def derive_key(secret_key: str) -> str:
    """Return the Fernet key derived from ``secret_key`` (the default key)."""
    # HKDF rather than the raw SECRET_KEY: the encryption key stays distinct
    # from every other use Django makes of SECRET_KEY (signing).
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = [Fernet(key.encode()) for key in keys]
    return MultiFernet(fernets), fernets[0]


def _configured() -> tuple[MultiFernet, Fernet]:
    keys = tuple(getattr(settings, "MERCHANTRY_ENCRYPTION_KEYS", None) or ())
    if not keys:
        keys = (derive_key(settings.SECRET_KEY),)
    return _fernets(keys)


def encrypt_text(plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first configured key; return the token."""
    multi, _ = _configured()
    return multi.encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    """Return the text ``token`` encrypts, or raise :class:`DecryptionFailed`."""
    multi, _ = _configured()
    try:
        return multi.decrypt(token.encode()).decode()
    except InvalidToken:
        # Never say more: the token is a secret's ciphertext.
        raise DecryptionFailed(
            "A stored secret cannot be decrypted with the configured encryption keys "
            "(MERCHANTRY_ENCRYPTION_KEYS); was a key removed, or SECRET_KEY changed?"
        ) from None


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted with the first key (any configured key may read it)."""
    multi, _ = _configured()
    try:
        return multi.rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionFailed(
            "A stored secret cannot be decrypted with the configured encryption keys."
        ) from None


def is_current(token: str) -> bool:
    """Return True when the first key alone can decrypt ``token``."""
    _, primary = _configured()
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField):
    """A text column whose values are tokens from :func:`encrypt_text`."""

    description = "Encrypted text (a Fernet token)"


def encrypted_fields(
    models_: Sequence[type[models.Model]] | None = None,
) -> Iterator[tuple[type[models.Model], str]]:
    """Yield ``(model, field name)`` for every :class:`EncryptedTextField` column."""
    for model in models_ if models_ is not None else apps.get_models():
        for column in model._meta.concrete_fields:
            if isinstance(column, EncryptedTextField):
                yield model, column.name


@dataclass(slots=True)
class RotationReport:
    """What :func:`rotate_stored` did, in counts (never values)."""

    re_encrypted: int = 0
    already_current: int = 0
    rewritten_meanwhile: int = 0
    """Values changed by someone else during the run (so already under the first key)."""
    unreadable: list[str] = field(default_factory=list)
    """``app.Model pk=N field`` of each value no configured key can decrypt."""


def rotate_stored(*, batch_size: int = 500) -> RotationReport:
    """
    Re-encrypt every stored :class:`EncryptedTextField` value with the first key.

    Idempotent: a value the first key already reads is left alone, so a second
    run changes nothing. Each row is updated only if it still holds the token
    that was read, so a secret saved meanwhile is never overwritten with the
    rotated old one.
    """
    report = RotationReport()
    for model, name in encrypted_fields():
        manager = model._default_manager
        last_pk = None
        while True:
            rows = manager.exclude(**{name: ""}).order_by("pk")
            if last_pk is not None:
                rows = rows.filter(pk__gt=last_pk)
            batch = list(rows.values_list("pk", name)[:batch_size])
            if not batch:
                break
            last_pk = batch[-1][0]
            for pk, token in batch:
                if is_current(token):
                    report.already_current += 1
                    continue
                try:
                    fresh = rotate(token)
                except DecryptionFailed:
                    report.unreadable.append(f"{model._meta.label} pk={pk} {name}")
                    continue
                if manager.filter(pk=pk, **{name: token}).update(**{name: fresh}):
                    report.re_encrypted += 1
                else:
                    report.rewritten_meanwhile += 1
    return report
