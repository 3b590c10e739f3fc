"""GET /api/v1/campaigns/<slug>/indicators: the published waves' estimates grouped by wave, with the
CSV's figures, flags and suppression; unpublished waves never appear; never a response."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from belonging.core.models import Campaign
from belonging.measure import selectors
from belonging.measure.models import Estimate, Wave
from tests.conftest import seed_campaign
from tests.measure.test_dashboard import add_all_indicators, add_estimate, add_wave, scenario

__all__ = ["scenario"]  # the dashboard tests' fixture

pytestmark = pytest.mark.django_db

WAVE_FIELDS = {
    "wave", "wave_title_en", "wave_title_fr", "kind", "sample", "place", "baseline", "questionnaire", "opens",
    "closes", "raked", "estimates",
}  # fmt: skip
CELL_FIELDS = set(selectors.ESTIMATE_COLUMNS)
FIGURES = ("estimate", "se", "ci_low", "ci_high", "cv", "n")


@pytest.fixture
def campaign(db) -> Campaign:
    seed_campaign()
    return Campaign.objects.get(slug="strategy-for-belonging")


def url(slug: str) -> str:
    return f"/api/v1/campaigns/{slug}/indicators"


def test_404_for_an_unknown_campaign(client, campaign):
    response = client.get(url("nowhere"))
    assert response.status_code == 404
    assert response.json() == {"detail": "No campaign with this slug."}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_nothing_published_gives_no_wave(client, campaign):
    add_all_indicators(add_wave(campaign, "draft", days_ago=3, published=False), {"css_belonging": 0.8642})
    response = client.get(url(campaign.slug))
    assert response.status_code == 200
    assert response.json() == {"campaign": campaign.slug, "waves": []}


def test_the_published_waves_grouped_by_wave_as_in_the_csv(client, campaign, scenario):
    response = client.get(url(campaign.slug))
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=60"
    body = response.json()
    assert body["campaign"] == campaign.slug
    waves = body["waves"]
    assert [w["wave"] for w in waves] == ["base", "invited", "follow"]  # oldest first; the draft never
    assert all(set(w) == WAVE_FIELDS for w in waves)
    base, invited, follow = waves
    assert (base["kind"], base["sample"], base["baseline"], base["place"], base["raked"]) == (
        "baseline", "open", None, None, False,
    )  # fmt: skip
    assert (invited["sample"], invited["raked"]) == ("invited", True)
    assert (follow["kind"], follow["baseline"]) == ("follow_up", "base")  # the open baseline, never the invited one
    assert (base["opens"], base["closes"]) == (
        timezone.localdate(scenario["base"].opens_at).isoformat(),
        timezone.localdate(scenario["base"].closes_at).isoformat(),
    )
    for wave in waves:
        assert all(set(cell) == CELL_FIELDS for cell in wave["estimates"])
    cells = {(w["wave"], c["indicator"], c["domain"]): c for w in waves for c in w["estimates"]}
    assert len(cells) == Estimate.objects.filter(wave__is_published=True).count()
    nunavut = cells["follow", "css_belonging", "province:NU"]
    assert [nunavut[f] for f in FIGURES] == [None] * 6
    assert (nunavut["flag"], nunavut["flag_reason"]) == ("F", "fewer_than_10")
    pei = cells["follow", "css_belonging", "province:PE"]
    assert [pei[f] for f in FIGURES] == [None] * 6 and pei["flag_reason"] == "cv_above_33_3"
    youth = cells["follow", "css_belonging", "community:youth"]
    assert (youth["estimate"], youth["n"], youth["flag"]) == (0.2555, 88, "E")
    everyone = cells["base", "css_belonging", "all"]
    assert (everyone["estimate"], everyone["se"], everyone["n"], everyone["cv"], everyone["flag"]) == (
        0.472, 0.02, 2500, 4.2, "",
    )  # fmt: skip
    # Hidden figures appear nowhere in the response, and neither does the unpublished wave.
    text = response.content.decode()
    for digits in ("0.3777", "0.6123", "1234", "0.8642", "draft"):
        assert digits not in text


def _text(value: float | None) -> str:
    return "" if value is None else str(value)


def test_the_api_and_the_csv_give_the_same_cells(client, campaign, scenario):
    api = client.get(url(campaign.slug)).json()
    text = b"".join(client.get(f"/en/survey/{campaign.slug}/results.csv").streaming_content).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    from_api = [
        (w["wave"], c["indicator"], c["domain"], c["flag"], c["flag_reason"], _text(c["estimate"]))
        for w in api["waves"]
        for c in w["estimates"]
    ]
    from_csv = [(r["wave"], r["indicator"], r["domain"], r["flag"], r["flag_reason"], r["estimate"]) for r in rows]
    assert from_api == from_csv


def test_only_published_waves_and_unknown_codes_never_appear(client, campaign):
    wave = add_wave(campaign, "base", days_ago=30)
    add_estimate(wave, "css_belonging", "all", 0.5, 0.02, 500)
    add_estimate(wave, "not_an_indicator", "all", 0.5, 0.02, 500)
    add_estimate(wave, "css_belonging", "postal:K1A", 0.5, 0.02, 500)
    hidden = add_wave(campaign, "hidden", days_ago=10, kind=Wave.Kind.FOLLOW_UP, published=False)
    add_estimate(hidden, "css_belonging", "all", 0.9, 0.02, 500)
    waves = client.get(url(campaign.slug)).json()["waves"]
    assert [(w["wave"], [(c["indicator"], c["domain"]) for c in w["estimates"]]) for w in waves] == [
        ("base", [("css_belonging", "all")])
    ]


def test_the_schema_describes_the_endpoint(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/campaigns/{slug}/indicators" in schema["paths"]
    assert {"IndicatorsOut", "IndicatorWaveOut", "IndicatorCellOut"} <= set(schema["components"]["schemas"])
