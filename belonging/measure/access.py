"""The one place that decides who may manage survey waves (organizers)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

MANAGE = "measure.manage_survey"


def can_manage(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(MANAGE))


def require_manager(user: Any) -> None:
    if not can_manage(user):
        raise PermissionDenied
