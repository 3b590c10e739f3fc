"""GET /api/v1/voices: published voices only, paginated and filtered like the gallery, no personal data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from belonging.voices import selectors
from tests.factories import VoiceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/voices"
FIELDS = {
    "id", "campaign", "prompt", "prompt_text_en", "prompt_text_fr", "kind", "title", "text", "redacted", "language",
    "province", "community", "shown_as", "published_at",
}


@pytest.fixture
def prompts(db):
    from belonging.voices.models import Prompt
    from tests.voices.conftest import seed_voices

    seed_voices()
    return {p.slug: p for p in Prompt.objects.all()}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["title"] for r in response.json()["results"]]


def test_it_lists_published_voices_newest_first_without_personal_data(client, prompts):
    prompt = prompts["needs-to-have"]
    VoiceFactory(prompt=prompt, published=True, title="Older", published_at=timezone.now() - timedelta(days=1),
                         email="older@example.org", display="first_name", display_name="Noor")
    newer = VoiceFactory(prompt=prompt, published=True, title="Newer", email="newer@example.org")
    for status in ("pending", "submitted", "returned", "accepted", "rejected"):
        VoiceFactory(prompt=prompt, status=status, consent_publish=False, title=status)
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert (body["count"], body["page"], body["pages"], body["page_size"]) == (2, 1, 1, 50)
    assert [r["title"] for r in body["results"]] == ["Newer", "Older"]
    first, second = body["results"]
    assert set(first) == FIELDS
    assert first["id"] == str(newer.public_id)
    assert second["shown_as"] == "Noor"
    assert first["shown_as"] == ""
    assert first["prompt"] == "needs-to-have" and first["campaign"] == prompt.campaign.slug
    assert first["prompt_text_fr"] == prompt.text_fr
    # No email, no self-identification, no moderation data anywhere.
    text = response.content.decode()
    for secret in ("older@example.org", "newer@example.org", "email", "moderator", "consent", "communities"):
        assert secret not in text
    # The same rows as the CSV export.
    assert [r["id"] for r in body["results"]] == [row["id"] for row in selectors.export_rows()]


def test_pagination(client, prompts, settings):
    now = timezone.now()
    for i in range(7):
        VoiceFactory(prompt=prompts["needs-to-have"], published=True, title=f"V{i}",
                     published_at=now - timedelta(minutes=i))
    body = client.get(f"{URL}?page_size=3&page=2").json()
    assert (body["count"], body["page"], body["page_size"], body["pages"]) == (7, 2, 3, 3)
    assert [r["title"] for r in body["results"]] == ["V3", "V4", "V5"]
    assert ids(client.get(f"{URL}?page_size=3&page=3")) == ["V6"]
    # The page size is capped at 100 (VOICE_API_MAX_PAGE_SIZE); absurd values are refused.
    assert settings.VOICE_API_MAX_PAGE_SIZE == 100
    assert client.get(f"{URL}?page_size=100").json()["page_size"] == 100
    body = client.get(f"{URL}?page_size=500").json()
    assert (body["page_size"], body["pages"], len(body["results"])) == (100, 1, 7)
    assert client.get(f"{URL}?page_size=0").status_code == 422
    assert client.get(f"{URL}?page_size=100000").status_code == 422
    assert client.get(f"{URL}?page=0").status_code == 422
    # And at most VOICE_API_MAX_PAGE_SIZE where that is lower.
    settings.VOICE_API_MAX_PAGE_SIZE = 2
    body = client.get(f"{URL}?page_size=50").json()
    assert (body["page_size"], body["pages"], len(body["results"])) == (2, 4, 2)


def test_a_page_past_the_end_is_400(client, prompts):
    VoiceFactory(prompt=prompts["needs-to-have"], published=True)
    response = client.get(f"{URL}?page=2")
    assert response.status_code == 400
    assert response.json() == {"detail": "There are 1 pages."}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_no_voice_yet_is_an_empty_first_page(client, prompts):
    assert client.get(URL).json() == {"count": 0, "page": 1, "page_size": 50, "pages": 0, "results": []}
    assert client.get(f"{URL}?page=2").status_code == 400


def test_filters(client, prompts):
    story, needs = prompts["story-of-belonging"], prompts["needs-to-have"]
    VoiceFactory(prompt=story, published=True, title="A", kind="story", province="NS", language="en")
    VoiceFactory(prompt=needs, published=True, title="B", kind="wisdom", province="QC", language="fr")
    VoiceFactory(prompt=needs, published=True, title="C", kind="thought", province="NS", language="fr")
    VoiceFactory(prompt=needs, submitted=True, title="D", kind="thought", province="NS", language="fr")
    assert set(ids(client.get(f"{URL}?prompt=story-of-belonging"))) == {"A"}
    assert set(ids(client.get(f"{URL}?prompt=needs-to-have"))) == {"B", "C"}
    assert set(ids(client.get(f"{URL}?kind=wisdom"))) == {"B"}
    assert set(ids(client.get(f"{URL}?province=NS"))) == {"A", "C"}
    assert set(ids(client.get(f"{URL}?language=fr"))) == {"B", "C"}
    assert set(ids(client.get(f"{URL}?province=NS&language=fr&kind=thought"))) == {"C"}
    assert ids(client.get(f"{URL}?province=NU")) == []


def test_search_folds_accents_and_needs_every_word(client, prompts):
    prompt = prompts["needs-to-have"]
    VoiceFactory(prompt=prompt, published=True, title="R1", text="Le réseau de l’École Sainte-Anne.")
    VoiceFactory(prompt=prompt, published=True, title="R2", text="Un réseau de bénévoles.")
    VoiceFactory(prompt=prompt, published=True, title="R3", text="The ECOLE network.")
    VoiceFactory(prompt=prompt, submitted=True, title="R4", text="Réseau pas encore publié.")
    assert set(ids(client.get(f"{URL}?q=reseau"))) == {"R1", "R2"}
    assert set(ids(client.get(f"{URL}?q=ECOLE"))) == {"R1", "R3"}
    assert set(ids(client.get(f"{URL}?q=r%C3%A9seau%20ecole"))) == {"R1"}
    assert set(ids(client.get(f"{URL}?q=benev"))) == {"R2"}
    assert ids(client.get(f"{URL}?q=reseau%20network")) == []
    for query in ('"', "*", "a OR b", "NEAR(x y)", "x:y", "-z", "'; drop table"):
        assert client.get(URL, {"q": query}).status_code == 200, query


def test_campaign_filter(client, prompts):
    from belonging.core.models import Campaign
    from belonging.voices.models import Prompt

    campaign = prompts["needs-to-have"].campaign
    fields = {f.name: getattr(campaign, f.name) for f in Campaign._meta.concrete_fields if f.name not in ("id",)}
    other = Campaign.objects.create(**{**fields, "slug": "another-campaign", "is_featured": False})
    other_prompt = Prompt.objects.create(campaign=other, slug="needs-to-have", text_en="Other?", text_fr="Autre?")
    VoiceFactory(prompt=prompts["needs-to-have"], published=True, title="Ours")
    VoiceFactory(prompt=other_prompt, campaign=other, published=True, title="Theirs")
    assert set(ids(client.get(URL))) == {"Ours", "Theirs"}
    assert ids(client.get(f"{URL}?campaign=another-campaign")) == ["Theirs"]
    assert ids(client.get(f"{URL}?campaign={campaign.slug}&prompt=needs-to-have")) == ["Ours"]
    # The same prompt slug in two campaigns: without a campaign, both.
    assert set(ids(client.get(f"{URL}?prompt=needs-to-have"))) == {"Ours", "Theirs"}
    response = client.get(f"{URL}?campaign=nope")
    assert response.status_code == 400
    assert response.json() == {"detail": "No campaign with this slug."}
    assert client.get(f"{URL}?campaign=another-campaign&prompt=story-of-belonging").status_code == 400


def test_bad_parameters(client, prompts):
    response = client.get(f"{URL}?province=ZZ")
    assert response.status_code == 422
    assert client.get(f"{URL}?kind=poem").status_code == 422
    assert client.get(f"{URL}?language=de").status_code == 422
    assert client.get(f"{URL}?page=abc").status_code == 422
    assert client.get(URL, {"q": "x" * 201}).status_code == 422
    response = client.get(f"{URL}?prompt=no-such-prompt")
    assert response.status_code == 400
    assert response.json() == {"detail": "No prompt with this slug."}


def test_redacted_voices_show_only_the_published_text(client, prompts):
    VoiceFactory(prompt=prompts["needs-to-have"], published=True, text="Call 613-555-0199 now.",
                 redacted_text="Call [removed] now.")
    result = client.get(URL).json()["results"][0]
    assert (result["text"], result["redacted"]) == ("Call [removed] now.", True)
    assert "613-555-0199" not in client.get(URL).content.decode()
    assert client.get(f"{URL}?q=613").json()["count"] == 0


def test_the_schema_documents_the_endpoint(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/voices"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"q", "campaign", "prompt", "kind", "province", "language", "page", "page_size"}
    assert {"200", "400"} <= set(operation["responses"])
