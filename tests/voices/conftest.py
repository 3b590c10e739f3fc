"""Voices fixtures: the campaign's prompts and reason codes, moderators, and helpers to share a voice."""

from __future__ import annotations

import importlib
import re

import pytest
from django.core import mail

from belonging.accounts.roles import MODERATORS
from belonging.voices import services
from belonging.voices.models import Prompt, ReasonCode
from tests.conftest import seed_campaign

PASSWORD = "correct horse battery staple"


def seed_voices() -> None:
    """The campaign, its three prompts and the reason codes, as the data migrations make them."""
    from django.apps import apps

    seed_campaign()
    importlib.import_module("belonging.voices.migrations.0003_prompts_and_reasons").create_content(apps, None)


@pytest.fixture
def prompts(db) -> dict[str, Prompt]:
    seed_voices()
    return {p.slug: p for p in Prompt.objects.all()}


@pytest.fixture
def prompt(prompts) -> Prompt:
    return prompts["needs-to-have"]


@pytest.fixture
def reasons(prompts) -> dict[str, ReasonCode]:
    return {r.code: r for r in ReasonCode.objects.all()}


def _moderator(django_user_model, username: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username=username, email=f"{username}@example.org", password=PASSWORD, is_staff=False
    )
    user.groups.add(Group.objects.get(name=MODERATORS))
    return user


@pytest.fixture
def moderator(db, django_user_model):
    return _moderator(django_user_model, "maya")


@pytest.fixture
def moderator_b(db, django_user_model):
    return _moderator(django_user_model, "bruno")


def voice_input(prompt: Prompt, **overrides) -> services.VoiceInput:
    values = {
        "prompt": prompt,
        "kind": "story",
        "text": "Our library became the place where newcomers and old-timers met every Tuesday evening.",
        "language": "en",
        "province": "ON",
        "display": "anonymous",
        "email": "amara@example.org",
        "page_language": "en",
        "consent_publish": True,
        "consent_analysis": True,
    }
    values.update(overrides)
    return services.VoiceInput(**values)


def code_from(message) -> str:
    return re.search(r"^\s*(\d{6})\s*$", message.body, re.MULTILINE).group(1)


def link_from(message, name: str) -> str:
    """The path of the emailed private link ``name`` ("confirm" or "mine") in ``message``."""
    return re.search(rf"http://testserver(/(?:en|fr)/voices/{name}/\S+)", message.body).group(1)


def share_and_submit(prompt: Prompt, run_tasks, **overrides):
    """Share a voice through the services and confirm it with the emailed code: it waits for review."""
    voice = services.voice_share(data=voice_input(prompt, **overrides))
    run_tasks()
    message = [m for m in mail.outbox if m.to == [voice.email]][-1]
    return services.voice_confirm_with_code(email=voice.email, code=code_from(message))
