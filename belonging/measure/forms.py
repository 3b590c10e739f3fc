"""Input for taking the survey (start, a page of questions, resume) and for organizers (waves,
invitations); every message in the visitor's language."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from belonging.core.models import Campaign, Place
from belonging.measure import instrument, services
from belonging.measure.models import Wave

# --- taking the survey ------------------------------------------------------------------------------


class StartForm(forms.Form):
    """Starting a response: an invitation code for an invited wave, nothing else for an open one."""

    code = forms.CharField(
        label=_("Invitation code"),
        max_length=40,
        required=False,
        help_text=_("The code in your invitation, for example ABCD-EFGH-JK. Upper or lower case, hyphens or not."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "class": "code-input"}
        ),
    )
    # A fresh key each time the form is shown: the same form sent twice starts one response.
    request_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, invited: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invited = invited
        if not self.is_bound:
            self.initial.setdefault("request_key", uuid.uuid4())
        if invited:
            self.fields["code"].required = True
            self.fields["code"].error_messages["required"] = _("Enter the invitation code you received.")
        else:
            del self.fields["code"]


class ResumeForm(forms.Form):
    code = forms.CharField(
        label=_("Resume code"),
        max_length=40,
        help_text=_("The code shown on each page of the survey, for example ABCD-EFGH-JKLM-NPQR."),
        error_messages={"required": _("Enter your resume code.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "class": "code-input"}
        ),
    )


class PageForm(forms.Form):
    """One question group: a radio group per question (check boxes where several answers apply).
    Every question is optional; a question left unanswered is missing."""

    def __init__(self, *args: Any, page: instrument.Page, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_%s")
        super().__init__(*args, **kwargs)
        self.page = page
        for item in page.items:
            if item.kind == instrument.Kind.MULTIPLE:
                field: forms.Field = forms.MultipleChoiceField(
                    label=item.text,
                    required=False,
                    choices=item.choices,
                    widget=forms.CheckboxSelectMultiple,
                    help_text=item.help_text,
                )
            else:
                field = forms.ChoiceField(
                    label=item.text,
                    required=False,
                    choices=item.choices,
                    widget=forms.RadioSelect,
                    help_text=item.help_text,
                )
            self.fields[item.id] = field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for item in self.page.items:
            value = data.get(item.id)
            if item.kind == instrument.Kind.MULTIPLE and value and instrument.PREFER_NOT in value and len(value) > 1:
                self.add_error(item.id, _("“Prefer not to answer” cannot be combined with another answer"))
        return data

    def answers(self) -> dict[str, Any]:
        return {item.id: self.cleaned_data.get(item.id) for item in self.page.items}


# --- organizers -------------------------------------------------------------------------------------


class PlaceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Place) -> str:
        return obj.name


class CampaignChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Campaign) -> str:
        return obj.title


# Wave dates are checked to lie in these years (a far-future date, such as 9999-12-31, would overflow
# when the day after the last one is computed).
FIRST_YEAR = 2000
LAST_YEAR = 2100


def _bounded(day: date | None) -> date | None:
    if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise forms.ValidationError(
            _("Enter a date between the years %(first)s and %(last)s."),
            code="out_of_range",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return day


def _day_field(label: str, help_text: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=help_text,
        error_messages={
            "required": _("Enter a date as year, month and day, for example 2026-09-30."),
            "invalid": _("Enter a date as year, month and day, for example 2026-09-30."),
        },
    )


class WaveForm(forms.Form):
    """A wave's settings. Dates are whole days: open from the start of the first day to the end of the last.
    The campaign is chosen when the wave is created and never changes."""

    campaign = CampaignChoiceField(
        label=_("Campaign"),
        queryset=Campaign.objects.order_by("title_en"),
        empty_label=None,
        error_messages={"required": _("Choose the campaign.")},
    )
    place = PlaceChoiceField(
        label=_("Place"),
        queryset=Place.objects.none(),
        required=False,
        empty_label=_("The whole campaign"),
        help_text=_("Optional: a wave can survey one place of the campaign."),
    )
    slug = forms.SlugField(
        label=_("Short name in the survey’s address"),
        max_length=50,
        help_text=_("Letters, digits and hyphens, for example baseline-2026."),
        error_messages={
            "required": _("Enter a short name for the survey’s address."),
            "invalid": _("Use only letters, digits, hyphens and underscores."),
        },
    )
    title_en = forms.CharField(
        label=_("Title (English)"), max_length=200, error_messages={"required": _("Enter the title in English.")}
    )
    title_fr = forms.CharField(
        label=_("Title (French)"), max_length=200, error_messages={"required": _("Enter the title in French.")}
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Wave.Kind.choices, widget=forms.RadioSelect)
    sample = forms.ChoiceField(
        label=_("Sample"),
        choices=Wave.Sample.choices,
        widget=forms.RadioSelect,
        help_text=_("Estimates never pool the two: change is only measured between waves of the same sample type."),
    )
    questionnaire = forms.ChoiceField(
        label=_("Questionnaire version"), choices=instrument.VERSION_CHOICES, initial=instrument.CURRENT.version
    )
    opens_on = _day_field(_("Opens on"), _("The first day the survey can be answered."))
    closes_on = _day_field(_("Closes after"), _("The last day the survey can be answered."))
    replicate_centre = forms.ChoiceField(
        label=_("Bootstrap variance centred"),
        choices=Wave.Centre.choices,
        widget=forms.RadioSelect,
        initial=Wave.Centre.REPLICATE_MEAN,
        help_text=_("Only used when the wave has bootstrap replicate weights (imported)."),
    )

    def __init__(self, *args: Any, wave: Wave | None = None, campaign: Campaign | None = None, **kwargs: Any) -> None:
        self.wave = wave
        if wave is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(wave)
        super().__init__(*args, **kwargs)
        if wave is not None:
            del self.fields["campaign"]
            self.fields["place"].queryset = Place.objects.filter(campaign=wave.campaign).order_by("name_en")
            if wave.responses.exists():
                for name in ("questionnaire", "sample"):
                    self.fields[name].disabled = True
                    self.fields[name].help_text = _("Fixed: this wave already has responses.")
        else:
            if campaign is not None:
                self.initial.setdefault("campaign", campaign)
            self.fields["place"].queryset = Place.objects.select_related("campaign").order_by("campaign", "name_en")
            self.fields["place"].label_from_instance = lambda place: f"{place.name} ({place.campaign.title})"
            self.fields["kind"].initial = Wave.Kind.BASELINE
            self.fields["sample"].initial = Wave.Sample.OPEN

    def clean_opens_on(self) -> date | None:
        return _bounded(self.cleaned_data.get("opens_on"))

    def clean_closes_on(self) -> date | None:
        return _bounded(self.cleaned_data.get("closes_on"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        opens, closes = data.get("opens_on"), data.get("closes_on")
        if opens and closes and closes < opens:
            self.add_error("closes_on", _("The last day must be on or after the first day."))
        return data

    @property
    def chosen_campaign(self) -> Campaign:
        return self.wave.campaign if self.wave is not None else self.cleaned_data["campaign"]

    def wave_data(self) -> services.WaveData:
        data = self.cleaned_data
        return services.WaveData(
            slug=data["slug"],
            title_en=data["title_en"],
            title_fr=data["title_fr"],
            opens_at=services.day_start(data["opens_on"]),
            closes_at=services.day_start(data["closes_on"] + timedelta(days=1)),
            place=data["place"],
            kind=data["kind"],
            sample=data["sample"],
            questionnaire=data["questionnaire"],
            replicate_centre=data["replicate_centre"],
        )

    # The services speak of opens_at and closes_at; the form of days.
    FIELD_OF = {"opens_at": "opens_on", "closes_at": "closes_on"}


def initial_for(wave: Wave) -> dict[str, Any]:
    return {
        "place": wave.place,
        "slug": wave.slug,
        "title_en": wave.title_en,
        "title_fr": wave.title_fr,
        "kind": wave.kind,
        "sample": wave.sample,
        "questionnaire": wave.questionnaire,
        "opens_on": services.first_day(wave),
        "closes_on": services.last_day(wave),
        "replicate_centre": wave.replicate_centre,
    }


class InvitationsForm(forms.Form):
    count = forms.IntegerField(
        label=_("Number of codes"),
        min_value=1,
        max_value=services.MAX_INVITATIONS,
        initial=100,
        help_text=_("Between 1 and 100,000."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "required": _("Enter how many codes to make."),
            "invalid": _("Enter a whole number."),
            "min_value": _("Make at least 1 code."),
            "max_value": _("Make at most 100,000 codes at a time."),
        },
    )
