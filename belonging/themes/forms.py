"""Input for organizers: starting a synthesis run and curating its themes; messages in the visitor's language."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from belonging.core.models import Campaign, Place
from belonging.themes.models import Backend
from belonging.voices.models import Prompt

THEMES_LOWEST = 1
NAME_MAX = 150


class PlaceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Place) -> str:
        return obj.name


class PromptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Prompt) -> str:
        return obj.text


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Optional. Year, month and day, for example 2025-09-30."),
        error_messages={"invalid": _("Enter a date as year, month and day, for example 2025-09-30.")},
    )


def _count_field(label: str, initial: int, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        initial=initial,
        min_value=THEMES_LOWEST,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "required": _("Enter a number of themes."),
            "invalid": _("Enter a whole number."),
        },
    )


class StartRunForm(forms.Form):
    """What a synthesis run covers and the bounds on its number of themes."""

    place = PlaceChoiceField(
        label=_("Place"), queryset=Place.objects.none(), required=False, empty_label=_("Every place")
    )
    prompt = PromptChoiceField(
        label=_("Question"), queryset=Prompt.objects.none(), required=False, empty_label=_("Every question")
    )
    date_from = _date_field(_("Voices received from"))
    date_to = _date_field(_("Voices received until"))
    min_themes = _count_field(
        _("Fewest themes"), 2, _("The analysis chooses the number of themes itself, between these two numbers.")
    )
    max_themes = _count_field(_("Most themes"), 30, "")
    backend = forms.ChoiceField(label=_("How voices are compared"), choices=Backend.choices, initial=Backend.E5)
    # A fresh key each time the form is shown: the same form sent twice (a double click, a resent page)
    # starts one run. Optional, so a form without it still works (without that protection).
    request_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("request_key", uuid.uuid4())
        self.fields["place"].queryset = Place.objects.filter(campaign=campaign).order_by("name_en")
        self.fields["prompt"].queryset = Prompt.objects.filter(campaign=campaign).order_by("position", "id")
        highest = settings.THEMES_MAX_THEMES
        self.fields["max_themes"].validators.append(MaxValueValidator(highest))
        self.fields["max_themes"].widget.attrs["max"] = highest
        self.fields["max_themes"].help_text = _("At most %(n)d.") % {"n": highest}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("min_themes"), data.get("max_themes")
        if low is not None and high is not None and high < low:
            self.add_error(
                "max_themes",
                _("The most themes must be at least the fewest themes (%(low)d).") % {"low": low},
            )
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date must be on or after the start date."))
        return data


class RenameForm(forms.Form):
    name_en = forms.CharField(
        label=_("Name in English"),
        max_length=NAME_MAX,
        required=False,
        help_text=_("Leave both names empty to go back to the theme's key words."),
    )
    name_fr = forms.CharField(label=_("Name in French"), max_length=NAME_MAX, required=False)


class MergeForm(forms.Form):
    target = forms.ChoiceField(
        label=_("Merge into"),
        choices=(),
        error_messages={"required": _("Choose the theme to merge into.")},
    )

    def __init__(self, *args: Any, targets: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", _("Choose a theme"))] + targets


class PinForm(forms.Form):
    voice = forms.ChoiceField(
        label=_("Quote to show first"),
        choices=(),
        error_messages={"required": _("Choose a published voice of this theme.")},
        help_text=_("Only published voices of this theme can be quoted."),
    )

    def __init__(self, *args: Any, candidates: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["voice"].choices = [("", _("Choose a voice"))] + candidates


class EmptyForm(forms.Form):
    """Actions that take no input (split, hide, show, unpin, publish): only the CSRF token."""
