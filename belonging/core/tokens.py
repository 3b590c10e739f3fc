"""Secrets that travel in emails: 6-digit codes (stored as HMACs) and signed link tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.core import signing

# Each kind of emailed link signs with its own salt, so a pledge link never opens a voice.
PLEDGE_SALT = "belonging.pledges.signature"
VOICE_SALT = "belonging.voices.voice"


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(public_id: uuid.UUID, code: str, key: str | None = None) -> str:
    message = f"{public_id}:{code}".encode()
    return hmac.new((key or settings.SECRET_KEY).encode(), message, hashlib.sha256).hexdigest()


def code_matches(public_id: uuid.UUID, code: str, stored_hash: str) -> bool:
    """True if ``code`` is the one hashed, with the current secret key or one being rotated out."""
    if not stored_hash:
        return False
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(hmac.compare_digest(code_hash(public_id, code, key), stored_hash) for key in keys)


def link_token(public_id: uuid.UUID, salt: str = PLEDGE_SALT) -> str:
    """A token for links in emails, stable for the record's life (old emails keep working)."""
    return signing.Signer(salt=salt).signature(str(public_id))


def link_token_valid(public_id: uuid.UUID, token: str, salt: str = PLEDGE_SALT) -> bool:
    try:
        signing.Signer(salt=salt).unsign(f"{public_id}{signing.Signer().sep}{token}")
    except signing.BadSignature:
        return False
    return True
