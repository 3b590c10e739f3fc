"""Form pieces shared by every public form: abuse checks and the emailed-code confirmation."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.core import signing
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from belonging.lib.emails import normalize_email

_STARTED_SALT = "belonging.pledges.form-started"


def started_token() -> str:
    """A signed timestamp put in the form when it is shown (minimum fill time, idempotency key)."""
    return signing.dumps(time.time(), salt=_STARTED_SALT)


class HumanCheckForm(forms.Form):
    """A form with a field people never see and the signed time it was shown.

    Subclasses call ``super().clean()`` and get both checks; a view shows a fresh ``started`` when
    ``needs_new_started`` is set (the timestamp was missing or forged).
    """

    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    started = forms.CharField(widget=forms.HiddenInput, required=False)
    needs_new_started = False

    human_error_messages = {
        "honeypot": _(
            "Your submission looked automated, so it was not recorded. Please check the form and submit it again."
        ),
        "too_fast": _(
            "That was faster than a person usually types, so it was not recorded yet. "
            "Please check your answers and submit again."
        ),
        "stale": _("This form was open for too long. Please check your answers and submit again."),
    }

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("website"):
            raise forms.ValidationError(self.human_error_messages["honeypot"], code="honeypot")
        self._check_started(data.get("started") or "")
        return data

    def _check_started(self, token: str) -> None:
        try:
            started = float(signing.loads(token, salt=_STARTED_SALT, max_age=24 * 3600))
        except (signing.BadSignature, ValueError, TypeError):
            self.needs_new_started = True
            raise forms.ValidationError(self.human_error_messages["stale"], code="stale") from None
        if time.time() - started < settings.PLEDGE_MIN_FILL_SECONDS:
            raise forms.ValidationError(self.human_error_messages["too_fast"], code="too_fast")

    def refresh_started(self) -> None:
        """Put a fresh timestamp in a bound form that is shown again."""
        self.data = self.data.copy()
        self.data["started"] = started_token()


class EmailAddressField(forms.EmailField):
    """An email address we can also normalize (a local part made only of a +tag is refused)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 254)
        kwargs.setdefault("widget", forms.EmailInput(attrs={"autocomplete": "email"}))
        super().__init__(**kwargs)

    def clean(self, value: object) -> str:
        value = super().clean(value)
        if value:
            try:
                normalize_email(value)
            except ValueError:
                raise forms.ValidationError(validate_email.message, code="invalid") from None
        return value


class ConfirmCodeForm(forms.Form):
    email = EmailAddressField(label=_("Email"))
    code = forms.RegexField(
        label=_("Confirmation code"),
        regex=r"^\s*\d{6}\s*$",
        help_text=_("The 6 digits in the email we sent you."),
        error_messages={"invalid": _("The code is the 6 digits in the email we sent you.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*", "size": "8"}
        ),
    )
