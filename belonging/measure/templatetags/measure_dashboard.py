"""Numbers on the results page, in the visitor's language: "47.2%" in English, "47,2 %" in French
(the catalog's translation of "%(value)s%%" puts a no-break space before the sign)."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

register = template.Library()


def _percent(value: float) -> str:
    return gettext("%(value)s%%") % {"value": number_format(round(value, 1), decimal_pos=1, use_l10n=True)}


@register.filter
def share(value: float | None) -> str:
    """A proportion (0–1) as a percentage with one decimal."""
    return "" if value is None else _percent(100 * value)


@register.filter
def percent(value: float | None) -> str:
    """A percentage (0–100) with one decimal."""
    return "" if value is None else _percent(value)


@register.filter
def points(value: float | None) -> str:
    """A difference in percentage points with its sign: "+3.1", "−2.4" (a real minus sign), "0.0"."""
    if value is None:
        return ""
    rounded = round(value, 1)
    text = number_format(abs(rounded), decimal_pos=1, use_l10n=True)
    if rounded > 0:
        return f"+{text}"
    if rounded < 0:
        return f"\u2212{text}"
    return text


@register.filter
def decimal1(value: float | None) -> str:
    return "" if value is None else number_format(round(value, 1), decimal_pos=1, use_l10n=True)
