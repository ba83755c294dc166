"""Secrets at rest: Fernet encryption under a rotatable list of keys, and a model field using it.

Keys come from `settings.CREDENTIALS_ENCRYPTION_KEYS` (Fernet keys; the first encrypts, every one
decrypts). When that list is empty, ONE key is derived from `SECRET_KEY` so development works
with no setup. Production should set its own keys: with the derived key, changing SECRET_KEY
makes every stored credential unreadable. To make a key:

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

Rotation: put the new key first, keep the old ones after it, deploy, run
`manage.py rotate_credentials_key`, then drop the old keys.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Fixed label: the derived key must differ from every other use of SECRET_KEY (sessions, the
# sandbox's OAuth secret...) and stay the same across releases, or stored data becomes unreadable.
_DERIVATION_CONTEXT = b"bugbridge.integrations.credentials-at-rest.v1"

_GENERATE_HINT = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class CredentialsUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts (a lost or changed key)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "Stored Jira credentials could not be decrypted with the configured keys. If SECRET_KEY "
                "or CREDENTIALS_ENCRYPTION_KEYS changed, add the previous key back after the new one "
                "(CREDENTIALS_ENCRYPTION_KEYS), or reconnect Jira to enter the credentials again."
            )
        )


@lru_cache(maxsize=4)
def derive_key(secret_key: str) -> str:
    """The Fernet key used when no CREDENTIALS_ENCRYPTION_KEYS are set: HKDF-SHA256 of SECRET_KEY."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_CONTEXT).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


def _configured_keys() -> tuple[str, ...]:
    keys: Any = getattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", None) or ()
    if isinstance(keys, str):
        # A bare string (e.g. set by hand in a settings file) would otherwise split into characters.
        keys = keys.split(",")
    return tuple(str(key).strip() for key in keys if str(key).strip())


@lru_cache(maxsize=8)
def _build(keys: tuple[str, ...]) -> tuple[Fernet, MultiFernet]:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as error:
            # Name the position, never the key: this message can end up in a log.
            raise ImproperlyConfigured(
                f"CREDENTIALS_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                f"(32 url-safe base64-encoded bytes). {_GENERATE_HINT}"
            ) from error
    return fernets[0], MultiFernet(fernets)


def _fernets() -> tuple[Fernet, MultiFernet]:
    """(the encrypting key, all keys), built once per distinct settings value (tests change them)."""
    keys = _configured_keys() or (derive_key(settings.SECRET_KEY),)
    return _build(keys)


def encrypt(plaintext: str) -> str:
    """A Fernet token (ASCII) for `plaintext`, under the first key. Randomized: equal inputs differ."""
    return _fernets()[1].encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token made by `encrypt`, with whichever configured key works."""
    try:
        return _fernets()[1].decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeError) as error:
        raise CredentialsUnreadable() from error


def rotate(token: str) -> str:
    """The same plaintext re-encrypted under the first key (the original timestamp is kept)."""
    try:
        return _fernets()[1].rotate(token.encode()).decode()
    except (InvalidToken, UnicodeError) as error:
        raise CredentialsUnreadable() from error


def needs_rotation(token: str) -> bool:
    """Whether the token is readable only by an older key. Costs one or two decryptions."""
    primary, _ = _fernets()
    try:
        primary.decrypt(token.encode())
    except (InvalidToken, UnicodeError):
        decrypt(token)  # raises CredentialsUnreadable if no key reads it at all
        return True
    return False


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token and seen as plaintext in Python.

    None stays None and "" stays "" (not encrypted, so "no secret" is visible and cheap).
    The column cannot be filtered on: encryption is randomized, so `filter(field="x")` never
    matches (only isnull and the empty string are meaningful). `dumpdata` writes plaintext, like
    every other Python-side value: treat such dumps as secrets.
    """

    description = "Text encrypted at rest (Fernet)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
