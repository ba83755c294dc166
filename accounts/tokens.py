"""Random secrets that are shown once and stored only as a hash (SDK tokens, invitation links)."""

import hashlib
import secrets


def new_secret(prefix: str) -> str:
    """A URL-safe secret with a readable prefix, so a leaked one is easy to recognise."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    # A plain SHA-256 is enough: the secret has 256 bits of entropy, so there is nothing to
    # brute-force, and lookups by hash stay a single indexed equality.
    return hashlib.sha256(secret.encode()).hexdigest()
