"""Input validation for sharing, editing and moderating voices; every message in the visitor's language."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from belonging.core import identity
from belonging.core.forms import EmailAddressField, HumanCheckForm
from belonging.core.provinces import Province
from belonging.voices.models import TEXT_MAX, TITLE_MAX, Display, Kind, Language, Prompt, ReasonCode

PREFER_NOT_HELP = _("Optional. You can leave it blank or choose “Prefer not to answer”.")


def _choice(label: str, choices: list[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label, required=False, choices=[("", _("No answer"))] + list(choices), help_text=PREFER_NOT_HELP
    )


def _multi(label: str, choices: list[tuple[str, str]], help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label, required=False, choices=choices, widget=forms.CheckboxSelectMultiple, help_text=help_text
    )


class PromptChoiceField(forms.ModelChoiceField):
    """Prompts labelled in the page's language."""

    def label_from_instance(self, obj: Prompt) -> str:
        return obj.text


class VoiceForm(forms.Form):
    """What a contributor writes; used to share and to edit."""

    prompt = PromptChoiceField(
        label=_("Which question are you answering?"),
        queryset=Prompt.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={"required": _("Please choose the question you are answering.")},
    )
    kind = forms.ChoiceField(
        label=_("What are you sharing?"),
        choices=Kind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please say whether this is a story, wisdom or a thought.")},
    )
    title = forms.CharField(label=_("Title (optional)"), required=False, max_length=TITLE_MAX)
    text = forms.CharField(
        label=_("Your voice"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 10, "data-counter": "true"}),
        help_text=format_lazy(
            _("Up to {max} characters. Please do not include contact details or other people’s names."),
            max=f"{TEXT_MAX:,}".replace(",", "\u00a0"),
        ),
        error_messages={"required": _("Please write your voice before sending it.")},
    )
    language = forms.ChoiceField(
        label=_("Language of your voice"), choices=Language.choices, widget=forms.RadioSelect
    )
    province = forms.ChoiceField(
        label=_("Province or territory"),
        choices=[("", _("Choose your province or territory"))] + list(Province.choices),
        error_messages={"required": _("Please choose your province or territory.")},
    )
    community = forms.CharField(
        label=_("Community (optional)"),
        required=False,
        max_length=120,
        help_text=_("For example a town, a neighbourhood or a First Nation."),
    )
    display = forms.ChoiceField(
        label=_("If your voice is published, show it as"),
        choices=Display.choices,
        initial=Display.ANONYMOUS,
        widget=forms.RadioSelect,
    )
    display_name = forms.CharField(
        label=_("First name or pseudonym"),
        required=False,
        max_length=60,
        help_text=_("Needed only if you chose your first name or a pseudonym."),
    )
    consent_publish = forms.BooleanField(
        label=_("Publish my voice on this site and in its open data (never with my email)."), required=False
    )
    consent_analysis = forms.BooleanField(
        label=_("Use my voice in the analysis of what we heard, even if it is not published."), required=False
    )
    consent_self_id = forms.BooleanField(
        label=_("Use my answers to the optional questions below for statistics, shown only in groups of 10 or more."),
        required=False,
    )
    # Self-identification (reference/CANADA.md §3), kept only with the consent above.
    indigenous = _multi(
        _("Are you an Indigenous person?"),
        identity.Indigenous.choices,
        _("Optional. Choose all that apply."),
    )
    population_groups = _multi(
        _("Which population groups do you belong to?"),
        identity.PopulationGroup.choices,
        _("Optional. Choose all that apply. These are the groups Statistics Canada uses."),
    )
    gender = _choice(_("What is your gender?"), identity.Gender.choices)
    two_slgbtq = _choice(
        _("Are you Two-Spirit, lesbian, gay, bisexual, transgender, queer, intersex or another sexual or gender "
          "minority (2SLGBTQ+)?"),
        identity.YesNo.choices,
    )
    disability = _choice(
        _("Do you have a long-term condition or difficulty that limits your daily activities sometimes, often or "
          "always?"),
        identity.YesNo.choices,
    )
    first_official_language = _choice(
        _("Which official language did you learn first and still speak?"), identity.OfficialLanguage.choices
    )
    arrival = _choice(_("When did you become a permanent resident of Canada?"), identity.Arrival.choices)
    age_band = _choice(_("How old are you?"), identity.AgeBand.choices)
    financial_difficulty = _choice(
        _("How easy or difficult is it for your household to meet its needs for food, housing and other "
          "necessities?"),
        identity.FinancialDifficulty.choices,
    )

    SELF_ID_FIELDS = (
        "indigenous",
        "population_groups",
        "gender",
        "two_slgbtq",
        "disability",
        "first_official_language",
        "arrival",
        "age_band",
        "financial_difficulty",
    )

    def __init__(self, *args: object, prompts: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if prompts is not None:
            self.fields["prompt"].queryset = prompts

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError(self.fields["text"].error_messages["required"], code="required")
        return text

    def clean(self) -> dict[str, object]:
        data = super().clean()
        display = data.get("display")
        if display in (Display.FIRST_NAME, Display.PSEUDONYM) and not (data.get("display_name") or "").strip():
            self.add_error(
                "display_name",
                forms.ValidationError(
                    _("Please enter the first name or pseudonym to show, or choose “Anonymous”."), code="required"
                ),
            )
        for name in ("indigenous", "population_groups"):
            values = data.get(name) or []
            if identity.PREFER_NOT in values and len(values) > 1:
                self.add_error(
                    name,
                    forms.ValidationError(
                        _("“Prefer not to answer” cannot be chosen together with another answer."), code="conflict"
                    ),
                )
        if "not_indigenous" in (data.get("indigenous") or []) and len(data.get("indigenous") or []) > 1:
            self.add_error(
                "indigenous",
                forms.ValidationError(_("“Not Indigenous” cannot be chosen together with a group."), code="conflict"),
            )
        return data

    def self_id_answers(self) -> identity.Answers | None:
        data = self.cleaned_data
        if not data.get("consent_self_id"):
            return None
        return identity.Answers(
            indigenous=tuple(data.get("indigenous") or ()),
            population_groups=tuple(data.get("population_groups") or ()),
            **{name: data.get(name) or "" for name in self.SELF_ID_FIELDS[2:]},
        )


class ShareForm(HumanCheckForm, VoiceForm):
    email = EmailAddressField(
        label=_("Email"),
        help_text=_("We send you a code to confirm, and a private link to edit or withdraw your voice. "
                    "We never show your email."),
        error_messages={"required": _("Please enter your email: we send you a code to confirm.")},
    )


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    prompt = PromptChoiceField(
        label=_("Question"), queryset=Prompt.objects.none(), required=False, empty_label=_("All questions")
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds"))] + list(Kind.choices))
    province = forms.ChoiceField(
        label=_("Province or territory"),
        required=False,
        choices=[("", _("All provinces and territories"))] + list(Province.choices),
    )
    language = forms.ChoiceField(
        label=_("Language"), required=False, choices=[("", _("Both languages"))] + list(Language.choices)
    )

    def __init__(self, *args: object, prompts: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if prompts is not None:
            self.fields["prompt"].queryset = prompts


class QueueFilterForm(forms.Form):
    AGES = [
        ("", _("Any time")),
        ("1", _("Waiting more than 1 day")),
        ("3", _("Waiting more than 3 days")),
        ("7", _("Waiting more than 7 days")),
    ]
    status = forms.ChoiceField(label=_("Status"), required=False)
    prompt = PromptChoiceField(
        label=_("Question"), queryset=Prompt.objects.none(), required=False, empty_label=_("All questions")
    )
    language = forms.ChoiceField(
        label=_("Language"), required=False, choices=[("", _("Both languages"))] + list(Language.choices)
    )
    province = forms.ChoiceField(
        label=_("Province or territory"),
        required=False,
        choices=[("", _("All provinces and territories"))] + list(Province.choices),
    )
    age = forms.ChoiceField(label=_("Waiting"), required=False, choices=AGES)
    duplicates = forms.BooleanField(label=_("Only possible near-duplicates"), required=False)

    def __init__(self, *args: object, prompts: object = None, statuses: object = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if prompts is not None:
            self.fields["prompt"].queryset = prompts
        self.fields["status"].choices = statuses or []


class DecisionForm(forms.Form):
    """A moderator's decision on one voice."""

    APPROVE, RETURN, REJECT = "approve", "return", "reject"
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(APPROVE, _("Approve")), (RETURN, _("Return for edits")), (REJECT, _("Reject"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose a decision.")},
    )
    redacted_text = forms.CharField(
        label=_("Text to publish"),
        required=False,
        max_length=TEXT_MAX + 2000,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("To redact, replace parts with the marker shown; you can remove text but not add any."),
    )
    reason = forms.ModelChoiceField(
        label=_("Reason"),
        queryset=ReasonCode.objects.filter(is_active=True),
        required=False,
        empty_label=_("Choose a reason"),
    )
    note = forms.CharField(
        label=_("Note to the contributor (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent in the email that tells them the outcome."),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean()
        decision = data.get("decision")
        if decision == self.REJECT and not data.get("reason"):
            self.add_error("reason", forms.ValidationError(_("Please choose why it is rejected."), code="required"))
        if decision == self.RETURN and not data.get("reason") and not (data.get("note") or "").strip():
            self.add_error(
                "note",
                forms.ValidationError(
                    _("Please choose a reason or write a note that says what needs to change."), code="required"
                ),
            )
        return data


class TakeDownForm(forms.Form):
    """Reverse an approval: the voice leaves the gallery, the open data and analysis."""

    reason = forms.ModelChoiceField(
        label=_("Reason"),
        queryset=ReasonCode.objects.filter(is_active=True),
        empty_label=_("Choose a reason"),
        error_messages={"required": _("Please choose why it is taken down.")},
    )
    note = forms.CharField(
        label=_("Note to the contributor (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
