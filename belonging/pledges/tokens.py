"""Secrets that travel in emails: the 6-digit code and the signed link token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.core import signing

_SALT = "belonging.pledges.signature"


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(public_id: uuid.UUID, code: str) -> str:
    message = f"{public_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def code_matches(public_id: uuid.UUID, code: str, stored_hash: str) -> bool:
    if not stored_hash:
        return False
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    message = f"{public_id}:{code}".encode()
    return any(
        hmac.compare_digest(hmac.new(k.encode(), message, hashlib.sha256).hexdigest(), stored_hash) for k in keys
    )


def link_token(public_id: uuid.UUID) -> str:
    """A token for links in emails, stable for the signature's life (old emails keep working)."""
    return signing.Signer(salt=_SALT).signature(str(public_id))


def link_token_valid(public_id: uuid.UUID, token: str) -> bool:
    try:
        signing.Signer(salt=_SALT).unsign(f"{public_id}{signing.Signer().sep}{token}")
    except signing.BadSignature:
        return False
    return True
