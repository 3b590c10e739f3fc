"""Emails to signers, always in the signer's language, with a withdraw link in every one."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from belonging.pledges.models import Signature
from belonging.core.tokens import link_token


def _links(signature: Signature) -> dict[str, str]:
    token = link_token(signature.public_id)
    kwargs = {"public_id": signature.public_id, "token": token}
    return {
        "confirm_url": settings.SITE_URL + reverse("pledges:confirm_link", kwargs=kwargs),
        "withdraw_url": settings.SITE_URL + reverse("pledges:withdraw", kwargs=kwargs),
        "code_url": settings.SITE_URL + reverse("pledges:confirm_code", kwargs={"slug": signature.pledge.slug}),
        "numbers_url": settings.SITE_URL + reverse("pledges:numbers", kwargs={"slug": signature.pledge.slug}),
    }


def _send(signature: Signature, template: str, context: dict[str, object]) -> None:
    with translation.override(signature.language):
        context = {"signature": signature, "pledge": signature.pledge, **_links(signature), **context}
        subject = render_to_string(f"pledges/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"pledges/email/{template}.txt", context)
        html = render_to_string(f"pledges/email/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [signature.email])
    message.attach_alternative(html, "text/html")
    message.send()


def send_confirmation(signature: Signature, code: str) -> None:
    _send(signature, "confirm", {"code": code, "days": settings.PLEDGE_CONFIRM_DAYS})


def send_already_signed(signature: Signature) -> None:
    _send(signature, "already_signed", {})
