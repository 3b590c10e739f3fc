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
