from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from belonging.pledges.models import Signature


class SignatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signature

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    email_normalized = factory.LazyAttribute(lambda o: o.email.lower())
    province = "ON"
    signer_type = "individual"
    language = "en"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))

    class Params:
        confirmed = factory.Trait(status=Signature.Status.CONFIRMED, confirmed_at=factory.LazyFunction(timezone.now))


def _first_prompt():
    from belonging.voices.models import Prompt

    return Prompt.objects.order_by("campaign_id", "position", "id").first()


def _search_text(o) -> str:
    from belonging.lib.textfold import search_document

    return search_document(o.title, o.redacted_text or o.text, o.community)


def _fingerprint(text: str) -> int | None:
    from belonging.lib.neardup import fingerprint

    return fingerprint(text) if text else None


class VoiceFactory(factory.django.DjangoModelFactory):
    """A voice written straight to the database (search text and fingerprint derived as the services do).

    Needs the campaign's prompts (the data migration, or ``tests.voices.conftest.seed_voices``).
    """

    class Meta:
        model = "voices.Voice"

    prompt = factory.LazyFunction(_first_prompt)
    campaign = factory.SelfAttribute("prompt.campaign")
    kind = "thought"
    title = ""
    text = factory.Sequence(lambda n: f"Voice {n}: what belonging means to me and to my neighbours.")
    language = "en"
    province = "ON"
    display = "anonymous"
    email = factory.Sequence(lambda n: f"voice{n}@example.org")
    email_normalized = factory.LazyAttribute(lambda o: o.email.lower())
    page_language = factory.SelfAttribute("language")
    consent_publish = True
    consent_analysis = True
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    search_text = factory.LazyAttribute(lambda o: _search_text(o))
    fingerprint = factory.LazyAttribute(lambda o: _fingerprint(o.text))
    redacted_text = ""
    community = ""

    class Params:
        submitted = factory.Trait(status="submitted", submitted_at=factory.LazyFunction(timezone.now))
        published = factory.Trait(
            status="published",
            consent_publish=True,
            submitted_at=factory.LazyFunction(timezone.now),
            published_at=factory.LazyFunction(timezone.now),
        )
