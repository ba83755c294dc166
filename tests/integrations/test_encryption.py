"""Secrets at rest: Fernet under a rotatable key list, a SECRET_KEY-derived default, the model field."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from integrations import encryption
from integrations.encryption import (
    CredentialsUnreadable,
    EncryptedTextField,
    decrypt,
    derive_key,
    encrypt,
    needs_rotation,
    rotate,
)

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRET = '{"api_token":"ATATT3xFfGF0-very-secret","email":"bot@acme.com"}'


@pytest.fixture(autouse=True)
def _no_configured_keys(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = []


def test_round_trip() -> None:
    for text in [SECRET, "x", "ünïcødé ✓ 🔑", "a" * 100_000]:
        assert decrypt(encrypt(text)) == text


def test_the_plaintext_never_appears_in_the_token() -> None:
    token = encrypt(SECRET)
    assert token.isascii()
    for part in ["ATATT3xFfGF0", "very-secret", "bot@acme.com", "api_token"]:
        assert part not in token


def test_encryption_is_randomized() -> None:
    assert encrypt(SECRET) != encrypt(SECRET)


def test_old_key_still_decrypts_after_a_new_key_is_put_first(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = [OLD_KEY]
    old_token = encrypt(SECRET)

    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert decrypt(old_token) == SECRET
    assert needs_rotation(old_token) is True
    new_token = rotate(old_token)
    assert new_token != old_token
    assert needs_rotation(new_token) is False
    # New writes use the first key too.
    assert needs_rotation(encrypt(SECRET)) is False

    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY]
    assert decrypt(new_token) == SECRET
    with pytest.raises(CredentialsUnreadable):
        decrypt(old_token)


def test_a_wrong_key_makes_credentials_unreadable(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = [OLD_KEY]
    token = encrypt(SECRET)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY]
    for call in (decrypt, rotate, needs_rotation):
        with pytest.raises(CredentialsUnreadable, match="could not be decrypted"):
            call(token)


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAA", "ünïcødé", SECRET])
def test_garbage_is_unreadable_not_a_crash(garbage: str) -> None:
    with pytest.raises(CredentialsUnreadable):
        decrypt(garbage)


def test_a_tampered_token_is_unreadable() -> None:
    token = encrypt(SECRET)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(CredentialsUnreadable):
        decrypt(tampered)


def test_the_unreadable_message_says_what_to_do() -> None:
    message = str(CredentialsUnreadable())
    assert "CREDENTIALS_ENCRYPTION_KEYS" in message
    assert "reconnect" in message


@pytest.mark.parametrize(
    "keys",
    [["not-a-key"], [NEW_KEY, "short"], [NEW_KEY[:-4]], ["!" * 44]],
)
def test_an_invalid_key_is_improperly_configured(settings, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = keys
    with pytest.raises(ImproperlyConfigured) as caught:
        encrypt(SECRET)
    message = str(caught.value)
    assert "Fernet.generate_key()" in message
    # The message may reach a log: it names the key's position, never the key.
    for key in keys:
        assert key not in message


def test_keys_given_as_one_string_are_split(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = OLD_KEY
    token = encrypt(SECRET)
    settings.CREDENTIALS_ENCRYPTION_KEYS = f" {NEW_KEY} , {OLD_KEY} "
    assert decrypt(token) == SECRET
    assert needs_rotation(token) is True


def test_without_configured_keys_a_key_is_derived_from_secret_key(settings) -> None:  # type: ignore[no-untyped-def]
    del settings.CREDENTIALS_ENCRYPTION_KEYS  # absent works like empty
    settings.SECRET_KEY = "first-secret-key"
    token = encrypt(SECRET)
    assert decrypt(token) == SECRET

    # The derived key is an ordinary Fernet key: naming it explicitly reads the same data.
    settings.CREDENTIALS_ENCRYPTION_KEYS = [derive_key("first-secret-key")]
    assert decrypt(token) == SECRET

    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "second-secret-key"
    with pytest.raises(CredentialsUnreadable):
        decrypt(token)


def test_the_derived_key_is_stable_and_depends_on_secret_key() -> None:
    key = derive_key("some-secret-key")
    assert key == derive_key("some-secret-key")
    assert key != derive_key("some-secret-key2")
    Fernet(key)  # a valid key
    # Pinned: a change here would make every development database's credentials unreadable.
    assert key == PINNED_DERIVED_KEY


PINNED_DERIVED_KEY = "bOFkG4Y4jHGf0haLVIxWlmNz6loQNf02HJKzoKj1_oI="


def test_configured_keys_win_over_the_derived_one(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY]
    token = encrypt(SECRET)
    assert Fernet(NEW_KEY.encode()).decrypt(token.encode()).decode() == SECRET


def test_ciphers_are_cached_per_key_list(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY]
    assert encryption._fernets() is encryption._fernets()
    first = encryption._fernets()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert encryption._fernets() is not first


# ---------------------------------------------------------------------------------------------
# The model field (its methods directly: no test model or migration needed)
# ---------------------------------------------------------------------------------------------


def make_field(**kwargs: object) -> EncryptedTextField:
    field = EncryptedTextField(**kwargs)  # type: ignore[arg-type]
    field.set_attributes_from_name("credentials")
    return field


def test_field_encrypts_on_the_way_in_and_decrypts_on_the_way_out() -> None:
    field = make_field()
    stored = field.get_prep_value(SECRET)
    assert stored != SECRET and "very-secret" not in stored
    assert decrypt(stored) == SECRET
    assert field.from_db_value(stored, None, connection) == SECRET
    # What the database layer actually calls on save goes through get_prep_value.
    saved = field.get_db_prep_save(SECRET, connection)
    assert field.from_db_value(saved, None, connection) == SECRET


@pytest.mark.parametrize("value", [None, ""])
def test_field_keeps_none_and_empty_as_they_are(value: str | None) -> None:
    field = make_field(null=True, blank=True)
    assert field.get_prep_value(value) == value
    assert field.from_db_value(value, None, connection) == value


def test_field_to_python_is_plaintext() -> None:
    field = make_field()
    assert field.to_python(SECRET) == SECRET
    assert field.to_python(None) is None
    assert field.to_python(12) == "12"
    assert decrypt(field.get_prep_value(12)) == "12"


def test_field_from_db_value_with_a_lost_key_raises_the_typed_error(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CREDENTIALS_ENCRYPTION_KEYS = [OLD_KEY]
    stored = make_field().get_prep_value(SECRET)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(CredentialsUnreadable):
        make_field().from_db_value(stored, None, connection)


def test_field_deconstructs_for_migrations() -> None:
    field = make_field(blank=True, default="")
    name, path, args, kwargs = field.deconstruct()
    assert (name, path, args) == ("credentials", "integrations.encryption.EncryptedTextField", [])
    assert kwargs == {"blank": True, "default": ""}
    clone = EncryptedTextField(*args, **kwargs)
    assert clone.deconstruct()[1:] == (path, args, kwargs)
