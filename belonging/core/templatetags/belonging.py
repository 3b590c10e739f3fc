from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import linebreaks

from belonging.core.i18n import localized

register = template.Library()


@register.filter
def tr(obj: Any, field: str) -> str:
    """``{{ campaign|tr:"title" }}``: a bilingual field in the active language."""
    return localized(obj, field)


@register.filter
def paragraphs(text: str) -> str:
    """Plain text with blank-line paragraphs as escaped <p> elements."""
    return linebreaks(text, autoescape=True)


@register.simple_tag
def field_describedby(field: Any) -> str:
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_help")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    return " ".join(ids)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if mapping else None

