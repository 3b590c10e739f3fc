"""GET /api/v1/campaigns/<slug>/themes: the latest published synthesis, no hidden theme, quotes only
from published voices, never any personal data."""

from __future__ import annotations

import pytest

from belonging.themes import services
from belonging.themes.models import Theme
from belonging.voices.models import Voice
from tests.themes.conftest import campaign, corpus, embedded, members, prompts, run_now, theme_of_topic

__all__ = ["campaign", "corpus", "embedded", "prompts"]  # fixtures shared with the themes tests

pytestmark = pytest.mark.django_db

THEME_FIELDS = {"key", "name_en", "name_fr", "size", "keyphrases", "quote_ids"}


def url(slug: str) -> str:
    return f"/api/v1/campaigns/{slug}/themes"


def test_404_for_an_unknown_campaign_or_before_anything_is_published(client, campaign, corpus):
    response = client.get(url("nowhere"))
    assert response.status_code == 404
    assert response.json() == {"detail": "No campaign with this slug."}
    run_now(campaign)  # done, not published
    response = client.get(url(campaign.slug))
    assert response.status_code == 404
    assert response.json() == {"detail": "No synthesis of this campaign has been published yet."}


def test_the_latest_published_run_with_curation_and_only_published_quotes(client, campaign, corpus, organizer):
    older = services.publish(run_now(campaign), organizer)
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    services.rename(campaign, keys["housing"], "Homes we can afford", "Des logements abordables", organizer)
    services.hide(campaign, keys["food"], organizer)
    services.publish(run, organizer)
    run_now(campaign)  # a later run, not published: not shown

    response = client.get(url(campaign.slug))

    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["run"] == run.pk != older.pk
    assert body["campaign"] == campaign.slug
    assert body["scope"] == {"place": None, "prompt": None, "date_from": None, "date_to": None}
    assert body["coverage"] == {
        "total": len(corpus),
        "in_themes": len(corpus),
        "share": 1.0,
        "excluded": {"empty": 0, "far": 0, "small": 0},
    }
    assert body["published_at"] and body["finished_at"] and body["created_at"]
    themes = body["themes"]
    assert [t["key"] for t in themes] == [keys["housing"], keys["transit"]] or [t["key"] for t in themes] == [
        keys["transit"],
        keys["housing"],
    ]
    assert all(set(t) == THEME_FIELDS for t in themes)
    by_key = {t["key"]: t for t in themes}
    housing = by_key[keys["housing"]]
    assert (housing["name_en"], housing["name_fr"]) == ("Homes we can afford", "Des logements abordables")
    transit = by_key[keys["transit"]]
    stored = Theme.objects.get(run=run, key=keys["transit"])
    assert transit["name_en"] == ", ".join(stored.keyphrases["en"][:3])
    assert transit["name_fr"] == ", ".join(stored.keyphrases["fr"][:3])
    assert transit["size"] == stored.size and transit["keyphrases"] == stored.keyphrases
    # Quotes: public ids of published voices of the theme, in the stored order.
    published = {str(v.public_id): v.pk for v in Voice.objects.filter(status=Voice.Status.PUBLISHED)}
    placed = members(run)
    for theme in themes:
        assert theme["quote_ids"]
        assert all(q in published and placed[published[q]] == theme["key"] for q in theme["quote_ids"])
    # Never an unpublished voice's id, an email or a text.
    text = response.content.decode()
    for voice in Voice.objects.exclude(status=Voice.Status.PUBLISHED):
        assert str(voice.public_id) not in text
        assert voice.email not in text
    assert "@" not in text and "text" not in text


def test_a_quote_taken_down_after_publication_is_no_longer_listed(client, campaign, corpus, organizer):
    run = services.publish(run_now(campaign), organizer)
    theme = run.themes.order_by("position").first()
    first_quote = Voice.objects.get(pk=theme.quote_ids[0])
    Voice.objects.filter(pk=first_quote.pk).update(status=Voice.Status.ACCEPTED, published_at=None)
    body = client.get(url(campaign.slug)).json()
    quoted = {q for t in body["themes"] for q in t["quote_ids"]}
    assert str(first_quote.public_id) not in quoted
    assert len(quoted) == sum(len(t.quote_ids) for t in run.themes.all()) - 1
