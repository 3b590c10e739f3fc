"""Input validation for signing and confirming; every message is in the visitor's language."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from belonging.core.forms import EmailAddressField, HumanCheckForm
from belonging.core.provinces import Province
from belonging.lib.postal import PostalCodeError, check_postal_code
from belonging.pledges.models import Sector, SignerType


class SignForm(HumanCheckForm):
    name = forms.CharField(
        label=_("Your name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = EmailAddressField(
        label=_("Email"),
        help_text=_("We send you a code to confirm. We never show your email."),
    )
    province = forms.ChoiceField(
        label=_("Province or territory"),
        choices=[("", _("Choose your province or territory"))] + list(Province.choices),
    )
    postal_code = forms.CharField(
        label=_("Postal code (optional)"),
        required=False,
        max_length=10,
        help_text=_("For example K1A 0B1."),
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "size": "8"}),
    )
    signer_type = forms.ChoiceField(
        label=_("I am signing as"),
        choices=SignerType.choices,
        initial=SignerType.INDIVIDUAL,
        widget=forms.RadioSelect,
    )
    organization_name = forms.CharField(
        label=_("Name of the association or organization"),
        required=False,
        max_length=200,
        help_text=_("Needed when you sign for an association or an organization."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    sector = forms.ChoiceField(
        label=_("Sector"),
        required=False,
        choices=[("", _("Choose a sector"))] + list(Sector.choices),
        help_text=_("Needed when you sign for an association or an organization."),
    )
    show_name = forms.BooleanField(
        label=_("Show my name (and my organization's) with my province or territory in the public list of signatories."),
        required=False,
    )
    follow_up = forms.BooleanField(
        label=_("Send me occasional follow-up emails about the Strategy for Belonging."),
        required=False,
    )
    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Please enter your name."), code="required")
        return name

    def clean(self) -> dict[str, object]:
        data = super().clean()
        signer_type = data.get("signer_type")
        if signer_type and signer_type != SignerType.INDIVIDUAL:
            if not (data.get("organization_name") or "").strip():
                self.add_error(
                    "organization_name",
                    forms.ValidationError(
                        _("Please enter the name of the association or organization you sign for."), code="required"
                    ),
                )
            if not data.get("sector"):
                self.add_error(
                    "sector", forms.ValidationError(_("Please choose the sector it belongs to."), code="required")
                )
        postal_code = (data.get("postal_code") or "").strip()
        province = data.get("province")
        if postal_code and province:
            try:
                data["postal_code"] = check_postal_code(postal_code, province)
            except PostalCodeError as exc:
                if exc.code == "format":
                    message = _("Please enter a Canadian postal code such as K1A 0B1, or leave it empty.")
                else:
                    message = _("This postal code is not in the province or territory you chose.")
                self.add_error("postal_code", forms.ValidationError(message, code=exc.code))
        return data


class InvalidateForm(forms.Form):
    """Used in the admin: why these signatures are fraudulent."""

    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the log with your name and the time."),
    )
