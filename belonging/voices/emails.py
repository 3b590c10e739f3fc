"""Emails to contributors, in the language of the page they used, with their private link in each."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from belonging.core.tokens import VOICE_SALT, link_token
from belonging.voices.models import Voice

OUTCOME_TEMPLATES = {
    Voice.Status.PUBLISHED: "published",
    Voice.Status.ACCEPTED: "accepted",
    Voice.Status.RETURNED: "returned",
    Voice.Status.REJECTED: "rejected",
}


def private_links(voice: Voice) -> dict[str, str]:
    kwargs = {"public_id": voice.public_id, "token": link_token(voice.public_id, VOICE_SALT)}
    return {
        "confirm_url": settings.SITE_URL + reverse("voices:confirm_link", kwargs=kwargs),
        "manage_url": settings.SITE_URL + reverse("voices:manage", kwargs=kwargs),
        "code_url": settings.SITE_URL + reverse("voices:confirm_code"),
        "policy_url": settings.SITE_URL + reverse("voices:policy"),
        "voice_url": settings.SITE_URL + reverse("voices:detail", kwargs={"public_id": voice.public_id}),
    }


def _send(voice: Voice, template: str, context: dict[str, object]) -> None:
    with translation.override(voice.page_language):
        context = {"voice": voice, **private_links(voice), **context}
        subject = render_to_string(f"voices/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"voices/email/{template}.txt", context)
        html = render_to_string("voices/email/wrapper.html", {**context, "subject": subject, "body": text})
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [voice.email])
    message.attach_alternative(html, "text/html")
    message.send()


def send_confirmation(voice: Voice, code: str) -> None:
    _send(voice, "confirm", {"code": code, "days": settings.PLEDGE_CONFIRM_DAYS})


def send_outcome(voice: Voice) -> None:
    explanation = voice.reason.explanation_in(voice.page_language) if voice.reason else ""
    _send(voice, OUTCOME_TEMPLATES[voice.status], {"explanation": explanation})
