"""The one place that decides who may see or change a voice, and fetches it for a request, or refuses."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from belonging.core.tokens import VOICE_SALT, link_token_valid
from belonging.voices.models import Voice

MODERATE = "voices.moderate_voice"
EXPORT_LOG = "voices.export_moderation_log"


def can_moderate(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(MODERATE))


def can_export_log(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(EXPORT_LOG))


def require_moderator(user: Any) -> None:
    if not can_moderate(user):
        raise PermissionDenied


def voice_public(public_id: uuid.UUID) -> Voice:
    """A published voice, or 404 (withdrawn, rejected and waiting voices are not public)."""
    return get_object_or_404(
        Voice.objects.select_related("prompt"), public_id=public_id, status=Voice.Status.PUBLISHED
    )


def voice_from_link(public_id: uuid.UUID, token: str) -> Voice:
    """The voice an emailed private link points to; 404 for a wrong or forged token."""
    if not link_token_valid(public_id, token, VOICE_SALT):
        raise Http404("This link is not valid.")
    return get_object_or_404(Voice.objects.select_related("prompt", "reason"), public_id=public_id)


def voice_for_moderation(user: Any, public_id: uuid.UUID) -> Voice:
    require_moderator(user)
    return get_object_or_404(
        Voice.objects.select_related("prompt", "claimed_by", "reason", "duplicate_of"), public_id=public_id
    )
