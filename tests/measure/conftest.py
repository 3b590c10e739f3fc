"""Survey fixtures shared by the measure tests: the campaign, waves written straight to the database
(open now unless told otherwise), responses, and a signed-in organizer's client.

Keep these simple: each test file may add its own fixtures beside them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from belonging.core.models import Campaign
from belonging.measure.models import Response, Wave
from tests.conftest import seed_campaign

SLUG = "strategy-for-belonging"


@pytest.fixture
def campaign(db) -> Campaign:
    seed_campaign()
    return Campaign.objects.get(slug=SLUG)


def create_wave(campaign: Campaign, **fields: Any) -> Wave:
    """A wave that is open now (opened yesterday, closes in 30 days), open web sample, baseline."""
    now = timezone.now()
    values: dict[str, Any] = {
        "slug": "baseline",
        "title_en": "Baseline survey",
        "title_fr": "Sondage de référence",
        "kind": Wave.Kind.BASELINE,
        "sample": Wave.Sample.OPEN,
        "opens_at": now - timedelta(days=1),
        "closes_at": now + timedelta(days=30),
    }
    values.update(fields)
    return Wave.objects.create(campaign=campaign, **values)


@pytest.fixture
def make_wave(campaign) -> Callable[..., Wave]:
    """``make_wave(slug=..., sample=..., ...)``: a wave of the campaign, open now unless dates are given."""
    return lambda **fields: create_wave(campaign, **fields)


@pytest.fixture
def wave(make_wave) -> Wave:
    """An open web sample, open now."""
    return make_wave()


@pytest.fixture
def invited_wave(make_wave) -> Wave:
    """An invited random sample, open now."""
    return make_wave(
        slug="invited", title_en="Invited sample", title_fr="Échantillon invité", sample=Wave.Sample.INVITED
    )


def add_response(wave: Wave, answers: dict[str, Any] | None = None, *, submitted: bool = True, **fields: Any) -> Response:
    """A collected response written straight to the database (derived province and communities filled in
    the way submission does)."""
    from belonging.core import identity
    from belonging.measure import instrument

    answers = dict(answers or {})
    today = timezone.localdate()
    values: dict[str, Any] = {
        "wave": wave,
        "token_hash": secrets.token_hex(32),
        "language": "en",
        "answers": answers,
        "started_on": today,
    }
    if submitted:
        province = answers.get("province", "")
        values.update(
            status=Response.Status.SUBMITTED,
            submitted_on=today,
            page=len(wave.questions.pages),
            province="" if province == instrument.PREFER_NOT else province,
            communities=identity.encode_communities(instrument.communities_of(answers)),
        )
    values.update(fields)
    return Response.objects.create(**values)


@pytest.fixture
def organizer_client(client, organizer):
    """The test client, signed in as an organizer (group "Organizers": may manage survey waves)."""
    client.force_login(organizer)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    """The test client, signed in without any role."""
    client.force_login(outsider)
    return client
