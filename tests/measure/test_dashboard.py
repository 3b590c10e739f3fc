"""The public indicators page and the open-data CSV: only published waves, Statistics Canada's release
rule everywhere (an "F" cell never shows a figure), samples never pooled or compared, change in words,
the national figure set apart, both languages.

Waves and estimates are written straight to the database (the small factories below), so these tests
do not depend on the computation.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from belonging.core.models import Campaign, Place
from belonging.lib import survey
from belonging.measure import reference, selectors
from belonging.measure.models import Estimate, Wave

pytestmark = pytest.mark.django_db

NBSP = "\u00a0"
Z = 1.959963984540054


# --- factories ---------------------------------------------------------------------------------------


def add_wave(
    campaign: Campaign,
    slug: str,
    *,
    days_ago: int,
    kind: str = Wave.Kind.BASELINE,
    sample: str = Wave.Sample.OPEN,
    published: bool = True,
    place: Place | None = None,
    rake: dict[str, Any] | None = None,
    title_en: str = "",
    title_fr: str = "",
) -> Wave:
    opens = timezone.now() - timedelta(days=days_ago)
    return Wave.objects.create(
        campaign=campaign,
        slug=slug,
        title_en=title_en or f"Wave {slug}",
        title_fr=title_fr or f"Vague {slug}",
        kind=kind,
        sample=sample,
        place=place,
        opens_at=opens,
        closes_at=opens + timedelta(days=20),
        is_published=published,
        computed_at=opens + timedelta(days=21),
        computation={"rake": rake},
    )


def add_estimate(
    wave: Wave, indicator: str, domain: str, estimate: float, se: float, n: int, flag: str | None = None
) -> Estimate:
    """A stored estimate; its flag is the release rule's unless given."""
    cv = 100 * se / abs(estimate) if estimate else None
    return Estimate.objects.create(
        wave=wave,
        indicator=indicator,
        domain=domain,
        estimate=estimate,
        se=se,
        ci_low=estimate - Z * se,
        ci_high=estimate + Z * se,
        cv=cv,
        n=n,
        weighted_n=float(n),
        flag=survey.release_flag(n, cv) if flag is None else flag,
    )


def add_all_indicators(wave: Wave, values: dict[str, float], *, se: float = 0.02, n: int = 2500) -> None:
    for indicator in selectors.SHARES:
        add_estimate(wave, indicator.id, "all", values.get(indicator.id, 0.5), se, n)


def csv_rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def page_text(response) -> str:
    return response.content.decode()


@pytest.fixture
def scenario(campaign):
    return build_scenario(campaign)


def build_scenario(campaign: Campaign) -> dict[str, Wave]:
    """An open baseline and follow-up (published), an invited baseline (published) and an open follow-up
    that is not published; cells chosen so the follow-up shows an increase, no clear change, a decrease,
    an "E", and two "F" cells (too few respondents, CV too high)."""
    base = add_wave(campaign, "base", days_ago=400, title_en="Baseline 2025", title_fr="Référence 2025")
    add_all_indicators(base, {"css_belonging": 0.472, "contribution": 0.40, "power": 0.60, "belonging": 0.55})
    invited = add_wave(
        campaign,
        "invited",
        days_ago=300,
        sample=Wave.Sample.INVITED,
        title_en="Invited 2025",
        title_fr="Invités 2025",
        rake={"converged": True, "iterations": 6, "variables": ["province", "age_band"]},
    )
    add_all_indicators(invited, {"css_belonging": 0.4111, "contribution": 0.2222})
    follow = add_wave(
        campaign,
        "follow",
        days_ago=100,
        kind=Wave.Kind.FOLLOW_UP,
        title_en="Follow-up 2026",
        title_fr="Suivi 2026",
    )
    add_all_indicators(follow, {"css_belonging": 0.531, "contribution": 0.41, "power": 0.50, "belonging": 0.56})
    # By province: Ontario released; Nunavut too few respondents; PEI too unreliable.
    add_estimate(base, "css_belonging", "province:ON", 0.45, 0.03, 300)
    add_estimate(follow, "css_belonging", "province:ON", 0.52, 0.03, 310)
    add_estimate(follow, "css_belonging", "province:NU", 0.3777, 0.15, 4)
    add_estimate(follow, "css_belonging", "province:PE", 0.6123, 0.25, 1234)
    add_estimate(base, "css_belonging", "province:PE", 0.50, 0.04, 60)
    # Youth: use with caution.
    add_estimate(follow, "css_belonging", "community:youth", 0.2555, 0.06, 88)
    hidden = add_wave(campaign, "draft", days_ago=10, kind=Wave.Kind.FOLLOW_UP, published=False)
    add_all_indicators(hidden, {"css_belonging": 0.8642, "contribution": 0.8642})
    return {"base": base, "invited": invited, "follow": follow, "hidden": hidden}


# --- the page ----------------------------------------------------------------------------------------


def test_unknown_campaign_is_404_for_page_and_csv(client, campaign):
    assert client.get("/en/survey/nowhere/results/").status_code == 404
    assert client.get("/en/survey/nowhere/results.csv").status_code == 404


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_nothing_published_yet_is_a_friendly_page(client, campaign, lang):
    draft = add_wave(campaign, "draft", days_ago=5, published=False)
    add_all_indicators(draft, {"css_belonging": 0.8642})
    response = client.get(f"/{lang}/survey/{campaign.slug}/results/")
    assert response.status_code == 200
    html = page_text(response)
    assert f'<html lang="{lang}">' in html
    assert "86.4" not in html and "86,4" not in html
    assert "<svg" not in html and "<table" not in html
    if lang == "en":
        assert "The survey’s results are not published yet." in html


def test_the_page_in_english(client, scenario, campaign):
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    # Overall figures with their 95% confidence intervals, by wave.
    assert "47.2%" in html and "53.1%" in html
    low, high = 0.472 - Z * 0.02, 0.472 + Z * 0.02
    assert f"{100 * low:.1f}% to {100 * high:.1f}%" in html
    assert '<td class="num">2500</td>' in html  # respondents of a released figure
    # Change since the baseline, in words: +5.9 points is real; +1.0 is not; −10.0 is a real decrease.
    assert "+5.9 percentage points" in html
    assert "A real increase" in html and "No clear change" in html and "A real decrease" in html
    assert "\u221210.0 percentage points" in html
    # Every chart has its table alternative.
    assert html.count("<svg") == html.count("the figures of the chart")
    assert html.count('role="img"') == html.count("<svg") > 0
    # The exact question and the sample are said.
    assert "How would you describe your sense of belonging to your local community?" in html
    assert "describe the people who answered, not the whole population" in html
    assert "How to read these figures" in html and "16.6% to 33.3%" in html
    # Links to the open data.
    assert f'href="/en/survey/{campaign.slug}/results.csv"' in html
    assert f'href="/api/v1/campaigns/{campaign.slug}/indicators"' in html


def test_the_page_in_french_formats_numbers_the_french_way(client, scenario, campaign):
    html = page_text(client.get(f"/fr/survey/{campaign.slug}/results/"))
    assert '<html lang="fr">' in html
    assert f"47,2{NBSP}%" in html and f"53,1{NBSP}%" in html
    assert "+5,9" in html and "\u221210,0" in html
    assert "47.2%" not in html
    assert "Référence 2025" in html and "Suivi 2026" in html  # the waves' French titles
    assert f"41,7{NBSP}%" in html  # Statistics Canada's figure, in French too


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_suppressed_cells_never_show_a_figure_or_a_count(client, scenario, campaign, lang):
    html = page_text(client.get(f"/{lang}/survey/{campaign.slug}/results/"))
    for digits in ("37.8", "37,8", "61.2", "61,2", "1234", "86.4", "86,4"):
        assert digits not in html, digits
    if lang == "en":
        assert "fewer than 10 respondents" in html
        assert "too unreliable to publish (coefficient of variation above 33.3%)" in html
        assert "Not shown: this figure is not published" in html  # the change of a hidden cell


def test_a_wave_too_small_to_publish_shows_only_why(client, campaign):
    wave = add_wave(campaign, "tiny", days_ago=30)
    add_all_indicators(wave, {"css_belonging": 0.6667, "contribution": 0.3333}, se=0.2, n=6)
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert html.count("<svg") == 6  # each chart says "not published" instead of drawing a bar
    assert html.count(">not published</text>") == 6 and "<rect" not in html
    assert html.count("fewer than 10 respondents") >= 6
    for digits in ("66.7", "33.3%</span>", ">6<"):
        assert digits not in html


def test_caution_cells_are_marked(client, scenario, campaign):
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert '25.6%</span> <span class="flag-e">E<span class="visually-hidden">: use with caution</span></span>' in html


def test_open_and_invited_samples_are_separate_series_and_never_compared(scenario, campaign):
    data = selectors.dashboard(campaign, "en")
    assert [(s.key, s.sample) for s in data.series] == [("open-all", "open"), ("invited-all", "invited")]
    opened, invited = data.series
    assert [w.slug for w in opened.waves] == ["base", "follow"]
    assert [w.slug for w in invited.waves] == ["invited"]
    # The open follow-up is compared with the open baseline, although the invited one opened later.
    assert selectors.baselines(Wave.objects.filter(is_published=True))[scenario["follow"].pk] == scenario["base"]
    belonging = next(t for t in opened.trends if t.indicator == "css_belonging")
    assert belonging.rows[1].change.baseline == "Baseline 2025"
    assert belonging.rows[1].change.points == pytest.approx(5.9)
    # The invited sample has no change to show: its only wave is a baseline.
    assert invited.changes == []
    assert all(row.change is None for trend in invited.trends for row in trend.rows)


def test_an_invited_follow_up_is_compared_with_the_invited_baseline_only(campaign, scenario, client):
    later = add_wave(campaign, "invited-2", days_ago=50, kind=Wave.Kind.FOLLOW_UP, sample=Wave.Sample.INVITED)
    add_all_indicators(later, {"css_belonging": 0.4511})
    data = selectors.dashboard(campaign, "en")
    invited = next(s for s in data.series if s.sample == "invited")
    label, before, after, change = invited.changes[0]
    assert (before.estimate, after.estimate) == (0.4111, 0.4511)
    assert change.points == pytest.approx(4.0) and change.direction == "none"
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert "+4.0 percentage points" in html


def test_a_follow_up_whose_baseline_is_not_published_shows_no_change(campaign, client):
    base = add_wave(campaign, "base", days_ago=400, published=False)
    add_all_indicators(base, {"css_belonging": 0.1111})
    follow = add_wave(campaign, "follow", days_ago=100, kind=Wave.Kind.FOLLOW_UP)
    add_all_indicators(follow, {"css_belonging": 0.6})
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert "No baseline of this sample is published" in html
    assert "11.1" not in html


def test_statistics_canada_figures_are_a_labelled_reference_outside_our_series(client, scenario, campaign):
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert (
        "A different survey (Statistics Canada’s Canadian Social Survey, ages 15 and over, the 10 provinces), "
        "not a comparison of equals."
    ) in html
    assert f'href="{reference.SOURCE_URL}"' in html
    for figure in reference.SERIES:
        if figure.percent is not None:
            assert f"{figure.percent:.1f}%" in html
    assert "Q1 2023" in html and "not available" in html
    # Never part of our figures or our change: the change is against our own baseline.
    rows = csv_rows(client.get(f"/en/survey/{campaign.slug}/results.csv"))
    assert not any(r["estimate"] in ("0.417", "0.4170") for r in rows)
    assert {r["wave"] for r in rows} == {"base", "invited", "follow"}


def test_raking_is_stated_for_each_wave(client, scenario, campaign):
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert "Yes: province or territory, age band" in html
    assert "The answers of the latest wave were not weighted to census figures." in html
    assert "The answers of the latest wave were weighted to census figures" in html


def test_the_page_changes_as_soon_as_a_wave_is_published(client, campaign):
    url = f"/en/survey/{campaign.slug}/results/"
    wave = add_wave(campaign, "base", days_ago=30, published=False)
    add_all_indicators(wave, {"css_belonging": 0.6543})
    assert "65.4%" not in page_text(client.get(url))
    Wave.objects.filter(pk=wave.pk).update(is_published=True)
    assert "65.4%" in page_text(client.get(url))
    Wave.objects.filter(pk=wave.pk).update(is_published=False)
    assert "65.4%" not in page_text(client.get(url))


def test_the_page_is_cached_until_a_wave_is_computed_again(client, campaign, django_assert_max_num_queries):
    url = f"/en/survey/{campaign.slug}/results/"
    wave = add_wave(campaign, "base", days_ago=30)
    add_all_indicators(wave, {"css_belonging": 0.6543})
    client.get(url)
    Estimate.objects.filter(wave=wave, indicator="css_belonging").update(estimate=0.7012)
    with django_assert_max_num_queries(4):  # campaign, stamp (and the session machinery at most)
        assert "65.4%" in page_text(client.get(url))
    Wave.objects.filter(pk=wave.pk).update(computed_at=timezone.now())
    assert "70.1%" in page_text(client.get(url))


# --- complementary suppression --------------------------------------------------------------------------


def test_a_cell_that_would_reveal_a_hidden_one_by_subtraction_is_hidden_too(client, campaign):
    wave = add_wave(campaign, "base", days_ago=30)
    add_estimate(wave, "css_belonging", "all", 0.5, 0.02, 100)
    add_estimate(wave, "css_belonging", "province:ON", 0.5, 0.03, 60)
    add_estimate(wave, "css_belonging", "province:QC", 0.4321, 0.04, 36)
    add_estimate(wave, "css_belonging", "province:NU", 0.75, 0.2, 4)
    rows = {r["domain"]: r for r in csv_rows(client.get(f"/en/survey/{campaign.slug}/results.csv"))}
    assert rows["province:NU"]["flag"] == "F" and rows["province:NU"]["flag_reason"] == "fewer_than_10"
    assert rows["province:QC"]["flag"] == "x" and rows["province:QC"]["flag_reason"] == "complement"
    assert rows["province:QC"]["estimate"] == rows["province:QC"]["n"] == ""
    assert rows["province:ON"]["flag"] == "" and rows["province:ON"]["n"] == "60"
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert "43.2" not in html and "75.0" not in html
    assert "hidden so that a figure for fewer than 10 respondents cannot be worked out by subtraction" in html


def test_protect_hides_the_smallest_part_when_the_rest_of_a_total_is_small():
    n = {"all": 200, "community:women": 195}
    assert selectors.protect(n, set()) == {"community:women"}  # the 5 others could be worked out
    assert selectors.protect({"all": 200, "community:women": 150}, set()) == set()
    # Parts that overlap (more respondents than the total) cannot be subtracted exactly.
    n = {"community:indigenous": 20, "community:first_nations": 15, "community:metis": 9, "community:inuit": 0}
    assert selectors.protect(n, {"community:metis"}) == set()
    n = {"community:indigenous": 30, "community:first_nations": 22, "community:metis": 5, "community:inuit": 3}
    assert selectors.protect(n, {"community:metis", "community:inuit"}) == {"community:first_nations"}


# --- the CSV -----------------------------------------------------------------------------------------


def test_the_csv_has_every_published_cell_with_its_flag_and_no_hidden_figure(client, scenario, campaign):
    response = client.get(f"/fr/survey/{campaign.slug}/results.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="{campaign.slug}-indicators.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    header = next(csv.reader(io.StringIO(text[1:])))
    assert tuple(header) == selectors.CSV_COLUMNS == (
        "campaign", "wave", "wave_title_en", "wave_title_fr", "sample", "place", "questionnaire", "opens",
        "closes", "indicator", "indicator_label_en", "indicator_label_fr", "domain", "domain_label_en",
        "domain_label_fr", "estimate", "se", "ci_low", "ci_high", "cv", "n", "flag", "flag_reason",
    )  # fmt: skip
    rows = csv_rows(client.get(f"/en/survey/{campaign.slug}/results.csv"))
    assert len(rows) == Estimate.objects.filter(wave__is_published=True).count()
    assert "draft" not in {r["wave"] for r in rows}
    for digits in ("0.8642", "0.3777", "0.6123", "1234"):
        assert digits not in text
    by_cell = {(r["wave"], r["indicator"], r["domain"]): r for r in rows}
    nunavut = by_cell["follow", "css_belonging", "province:NU"]
    assert (nunavut["flag"], nunavut["flag_reason"]) == ("F", "fewer_than_10")
    assert [nunavut[c] for c in ("estimate", "se", "ci_low", "ci_high", "cv", "n")] == [""] * 6
    pei = by_cell["follow", "css_belonging", "province:PE"]
    assert (pei["flag"], pei["flag_reason"]) == ("F", "cv_above_33_3")
    assert [pei[c] for c in ("estimate", "se", "ci_low", "ci_high", "cv", "n")] == [""] * 6
    youth = by_cell["follow", "css_belonging", "community:youth"]
    assert (youth["flag"], youth["flag_reason"], youth["estimate"], youth["n"]) == (
        "E", "cv_16_6_to_33_3", "0.2555", "88",
    )  # fmt: skip
    everyone = by_cell["base", "css_belonging", "all"]
    assert everyone["estimate"] == "0.472" and everyone["se"] == "0.02" and everyone["n"] == "2500"
    assert everyone["ci_low"] == str(round(0.472 - Z * 0.02, 4)) and everyone["cv"] == "4.2"
    assert everyone["wave_title_fr"] == "Référence 2025" and everyone["sample"] == "open"
    assert everyone["domain_label_en"] == "Everyone" and everyone["indicator_label_en"].startswith("Very or")
    assert everyone["questionnaire"] == "2026.1" and everyone["place"] == ""
    assert everyone["opens"] == timezone.localdate(scenario["base"].opens_at).isoformat()
    assert by_cell["invited", "css_belonging", "all"]["sample"] == "invited"
    # Ordered by wave (oldest first), then indicator, then domain.
    assert [r["wave"] for r in rows] == sorted((r["wave"] for r in rows), key=["base", "invited", "follow"].index)


def test_the_csv_without_published_waves_has_only_its_header(client, campaign):
    add_all_indicators(add_wave(campaign, "draft", days_ago=5, published=False), {})
    response = client.get(f"/en/survey/{campaign.slug}/results.csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.strip() == "\ufeff" + ",".join(selectors.CSV_COLUMNS)


def test_place_waves_are_their_own_series(client, campaign):
    place = Place.objects.create(
        campaign=campaign, slug="halifax", kind=Place.Kind.MUNICIPALITY, name_en="Halifax", name_fr="Halifax",
        province="NS",
    )  # fmt: skip
    national = add_wave(campaign, "national", days_ago=300)
    add_all_indicators(national, {"css_belonging": 0.47})
    local = add_wave(campaign, "halifax", days_ago=100, kind=Wave.Kind.FOLLOW_UP, place=place)
    add_all_indicators(local, {"css_belonging": 0.57})
    data = selectors.dashboard(campaign, "en")
    assert [s.key for s in data.series] == ["open-all", "open-halifax"]
    assert data.series[1].changes == []  # no Halifax baseline: never compared with the national one
    rows = csv_rows(client.get(f"/en/survey/{campaign.slug}/results.csv"))
    assert {r["place"] for r in rows if r["wave"] == "halifax"} == {"halifax"}
