"""Bilingual content fields: a model stores ``<name>_en`` and ``<name>_fr`` side by side."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language


def current_language() -> str:
    """'fr' when the active language is French, else 'en'."""
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def localized(obj: Any, field: str, language: str | None = None) -> str:
    """The ``field`` of ``obj`` in ``language`` (default: the active one), falling back to English."""
    language = language or current_language()
    value = getattr(obj, f"{field}_{language}", "") or ""
    if not value and language != "en":
        value = getattr(obj, f"{field}_en", "") or ""
    return value
