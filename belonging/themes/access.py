"""The one place that decides who may run synthesis and curate themes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

RUN = "themes.run_synthesis"
CURATE = "themes.curate_themes"


def can_synthesize(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(RUN))


def can_curate(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(CURATE))


def require_synthesizer(user: Any) -> None:
    if not can_synthesize(user):
        raise PermissionDenied


def require_curator(user: Any) -> None:
    if not can_curate(user):
        raise PermissionDenied
