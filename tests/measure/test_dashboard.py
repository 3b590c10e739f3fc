"""The public indicators page and the open-data CSV: only published waves, Statistics Canada's release
rule everywhere (an "F" cell never shows a figure), samples never pooled or compared, change in words,
the national figure set apart, both languages.

Waves and estimates are written straight to the database (the small factories below), so these tests
do not depend on the computation.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from belonging.core import identity
from belonging.core.models import Campaign, Place
from belonging.core.provinces import Province
from belonging.lib import survey
from belonging.measure import domains, reference, selectors
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
    that is not published; cells chosen so the follow-up shows an increase (equity, +8.0 points), no
    clear change, a decrease (power, −10.0), a change significant on its own but not among the wave's 7
    comparisons (sense of belonging, +5.9: p = 0.037, adjusted 0.13), an "E", and two "F" cells (too few
    respondents, CV too high)."""
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
    add_all_indicators(
        follow, {"css_belonging": 0.531, "contribution": 0.41, "power": 0.50, "belonging": 0.56, "equity": 0.58}
    )
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
    # Change since the baseline, in words: +8.0 points is real; +1.0 is not; −10.0 is a real decrease;
    # +5.9 (p = 0.037 on its own) is not, among the wave's 7 comparisons.
    assert "<strong>A real increase</strong>: +8.0 percentage points" in html
    assert "<strong>No clear change</strong>: +1.0 percentage points" in html
    assert "<strong>A real decrease</strong>: \u221210.0 percentage points" in html
    assert "<strong>No clear change</strong>: +5.9 percentage points" in html
    assert "The verdicts allow for the 7 comparisons of this wave with its baseline on this page" in html
    assert "the Benjamini–Hochberg method" in html
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


# --- change, allowing for the number of comparisons -----------------------------------------------------


def change_cell(points: float, p_value: float) -> selectors.ChangeCell:
    return selectors.ChangeCell("Base", True, points=points, ci_low_points=points - 1, ci_high_points=points + 1,
                                p_value=p_value)  # fmt: skip


def test_judge_calls_a_change_real_only_after_benjamini_hochberg():
    # Two tests at 0.04 and 0.045: both real (step-up: 2 × 0.04 / 1 > 0.05, but 0.045 carries it).
    judged = selectors.judge({"a": change_cell(3.0, 0.04), "b": change_cell(-2.0, 0.045)})
    assert [judged[k].direction for k in "ab"] == [selectors.INCREASE, selectors.DECREASE]
    assert judged["a"].p_adjusted == pytest.approx(0.045) and judged["a"].comparisons == 2
    # One test at 0.01 among 20: adjusted 0.2, no clear change; a hidden figure does not count.
    changes = {"real?": change_cell(4.0, 0.01)}
    changes |= {f"null{i}": change_cell(0.1, 0.5 + i / 100) for i in range(19)}
    changes["hidden"] = selectors.ChangeCell("Base", False, why_not="not shown")
    judged = selectors.judge(changes)
    assert judged["real?"].direction == selectors.NO_CLEAR_CHANGE
    assert judged["real?"].p_adjusted == pytest.approx(0.2) and judged["real?"].comparisons == 20
    assert judged["real?"].p_value == 0.01  # the change's own p-value is kept
    assert judged["hidden"].direction == "" and judged["hidden"].p_adjusted is None


def test_a_change_significant_alone_is_no_clear_change_among_many(client, campaign):
    """+6 points (p = 0.034 on its own, its interval leaves out 0) in a wave compared with its baseline
    for everyone and 12 provinces is not called real; a +10 point change still is."""
    base = add_wave(campaign, "base", days_ago=400, title_en="Baseline 2025")
    follow = add_wave(campaign, "follow", days_ago=100, kind=Wave.Kind.FOLLOW_UP, title_en="Follow-up 2026")
    add_estimate(base, "css_belonging", "all", 0.50, 0.02, 2000)
    add_estimate(follow, "css_belonging", "all", 0.56, 0.02, 2000)
    add_estimate(base, "contribution", "all", 0.40, 0.02, 2000)
    add_estimate(follow, "contribution", "all", 0.50, 0.02, 2000)
    provinces = [d.code for d in domains.DOMAINS if d.kind == "province"][:11]
    for code in provinces:
        add_estimate(base, "css_belonging", code, 0.5, 0.04, 150)
        add_estimate(follow, "css_belonging", code, 0.5, 0.04, 150)
    data = selectors.dashboard(campaign, "en")
    (series,) = data.series
    assert series.comparisons == 13
    by_label = {label: change for label, _before, _after, change in series.changes}
    belonging = by_label["Sense of belonging (Statistics Canada’s question)"]
    assert belonging.p_value == pytest.approx(0.0339, abs=1e-4) and belonging.ci_low_points > 0
    assert belonging.p_adjusted == pytest.approx(min(1, 13 * belonging.p_value / 2))
    assert belonging.direction == selectors.NO_CLEAR_CHANGE
    assert by_label["Contribution"].direction == selectors.INCREASE
    # The trend table and the table of groups say the same.
    trend = next(t for t in series.trends if t.indicator == "css_belonging")
    assert trend.rows[1].change == belonging
    html = page_text(client.get(f"/en/survey/{campaign.slug}/results/"))
    assert "<strong>No clear change</strong>: +6.0 percentage points" in html
    assert "<strong>A real increase</strong>: +10.0 percentage points" in html
    assert "The verdicts allow for the 13 comparisons of this wave with its baseline on this page" in html
    assert 'href="#reading-change"' in html and 'id="reading-change"' in html
    assert "A change whose interval leaves out zero can therefore still be “no clear change”" in html


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
    # First Nations are inside Indigenous peoples, whoever else reports two groups: the 5 Indigenous
    # respondents who are not First Nations (here the Métis, a hidden cell) would be exposed.
    n = {"community:indigenous": 20, "community:first_nations": 15, "community:metis": 9, "community:inuit": 0}
    assert selectors.protect(n, {"community:metis"}) == {"community:first_nations"}
    n = {"community:indigenous": 30, "community:first_nations": 22, "community:metis": 5, "community:inuit": 3}
    assert selectors.protect(n, {"community:metis", "community:inuit"}) == {"community:first_nations"}


# --- complementary suppression: every family a published total and its parts form -----------------------
#
# The checks below do not trust ``selectors``' idea of which domains overlap: they derive it from
# ``identity.communities`` itself, over every combination of the answers communities depend on, and
# count, respondent by respondent, whom a subtraction of published figures describes.

INDIGENOUS = ("first_nations", "metis", "inuk")
GROUPS = ("white", "black", "chinese")


def _subsets(values: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [c for r in range(len(values) + 1) for c in itertools.combinations(values, r)]


@functools.cache
def domain_masks() -> dict[str, int]:
    """Each domain as a bit set over every possible kind of respondent (province, communities)."""
    kinds = set()
    for ind, groups, gender, lgbt, disability, language, arrival, age, money, province in itertools.product(
        _subsets(INDIGENOUS), _subsets(GROUPS), ("woman", "man", "non_binary", "another", ""), ("yes", "no"),
        ("yes", "no"), ("english", "french"), ("under_5", "born_in_canada"), ("15_17", "45_54", "65_74", ""),
        ("difficult", "easy"), ("ON", "QC", ""),
    ):  # fmt: skip
        answers = identity.Answers(
            indigenous=ind, population_groups=groups, gender=gender, two_slgbtq=lgbt, disability=disability,
            first_official_language=language, arrival=arrival, age_band=age, financial_difficulty=money,
        )  # fmt: skip
        kinds.add((province, frozenset(identity.communities(answers, province))))
    # Each kind is one bit per province it can live in: Ontario stands for every province and territory
    # but Quebec (the official-language minority is the only thing a province changes).
    by_place: dict[str, int] = defaultdict(int)
    kind_bits = []
    position = 0
    for province, communities in sorted(kinds, key=repr):
        places = [p for p in Province.values if p != "QC"] if province == "ON" else [province]
        bits = 0
        for place in places:
            by_place[place] |= 1 << position
            bits |= 1 << position
            position += 1
        kind_bits.append((province, set(communities), bits))
    masks = {}
    for domain in domains.DOMAINS:
        if domain.kind == "province":
            masks[domain.code] = by_place[domain.province]
        else:
            masks[domain.code] = sum(bits for province, c, bits in kind_bits if domain.contains(province, c))
    return masks


def test_which_domains_overlap_is_what_identity_communities_decides():
    masks = domain_masks()
    for a in domains.DOMAINS:
        for b in domains.DOMAINS:
            meet = bool(masks[a.code] & masks[b.code])
            assert selectors._can_meet(a, b, nominal=False) == meet, (a.code, b.code)
            inside = masks[a.code] & ~masks[b.code] == 0
            assert selectors._inside(a, b, nominal=False) == inside, (a.code, b.code)
    # Every Indigenous respondent is in one of the three groups (and can be in several).
    groups = [masks[f"community:{g}"] for g in selectors.INDIGENOUS_GROUPS]
    assert masks["community:indigenous"] == groups[0] | groups[1] | groups[2]
    assert groups[0] & groups[1] and masks["community:black"] & masks["community:indigenous"]


def test_every_set_of_disjoint_parts_inside_a_total_is_a_family():
    """Every published total, and every set of two or more domains that are inside it and never share a
    respondent (by ``identity.communities``), is checked; the provinces as one family of everyone."""
    masks = domain_masks()
    listed = {(f.total, frozenset(f.parts)): f for f in selectors.FAMILIES}
    provinces = tuple(d.code for d in domains.DOMAINS if d.kind == "province")
    assert listed["all", frozenset(provinces)].published_members
    found = 0
    for total in domains.DOMAINS:
        inside = [
            d.code for d in domains.DOMAINS
            if d != total and d.kind != "province" and masks[d.code] & ~masks[total.code] == 0
        ]  # fmt: skip

        def extend(chosen: list[str], start: int, total: str = total.code, inside: list[str] = inside) -> None:
            nonlocal found
            for i in range(start, len(inside)):
                if any(masks[inside[i]] & masks[other] for other in chosen):
                    continue
                family = [*chosen, inside[i]]
                assert listed[total, frozenset(family)].exact, (total, family)
                found += 1
                extend(family, i + 1)

        extend([], 0)
    assert found > 40
    # The review's examples, among them.
    for total, parts in [
        ("all", ("community:indigenous", "community:racialized")),
        ("all", ("community:women", "community:gender_diverse")),
        ("all", ("community:youth", "community:senior")),
        ("community:women", ("community:indigenous+community:women", "community:racialized+community:women")),
        ("all", ("community:indigenous+community:women", "community:racialized+community:women",
                 "community:gender_diverse")),
    ]:  # fmt: skip
        assert listed[total, frozenset(parts)].exact
    # Families that only look disjoint are checked too, with the n arithmetic made safe for overlaps.
    assert not listed["community:indigenous", frozenset(f"community:{g}" for g in selectors.INDIGENOUS_GROUPS)].exact
    assert not listed["community:racialized", frozenset({"community:black"})].exact
    assert not listed["all", frozenset({"community:indigenous", "community:black"})].exact


def involved(members: dict[str, set[int]], total: str, parts: Iterable[str]) -> int:
    """How many respondents ``total − Σ parts`` describes: those whose count in it is not 0."""
    counts = Counter({i: 1 for i in members.get(total, set())})
    for part in parts:
        for i in members.get(part, set()):
            counts[i] -= 1
    return sum(1 for c in counts.values() if c != 0)


def exposed_groups(members: dict[str, set[int]], published: set[str]) -> list[tuple[str, tuple[str, ...], int]]:
    """Every family whose published figures single out 1 to 9 respondents by subtraction."""
    found = []
    for family in selectors.FAMILIES:
        if family.total not in published:
            continue
        if family.published_members:
            parts = tuple(p for p in family.parts if p in published)
        elif all(p in published for p in family.parts):
            parts = family.parts
        else:
            continue
        if parts and 0 < (count := involved(members, family.total, parts)) < selectors.MIN_RESPONDENTS:
            found.append((family.total, parts, count))
    return found


def random_people(rng: random.Random, size: int) -> list[tuple[str, set[str]]]:
    """Respondents with many small groups: several Indigenous groups at once, Indigenous Black people,
    few gender-diverse people or seniors, a province left blank."""
    people = []
    for _ in range(size):
        ind: tuple[str, ...] = ()
        if rng.random() < 0.35:
            ind = tuple(g for g in INDIGENOUS if rng.random() < 0.45) or (rng.choice(INDIGENOUS),)
        groups = tuple(g for g, chance in zip(GROUPS, (0.5, 0.35, 0.15), strict=True) if rng.random() < chance)
        answers = identity.Answers(
            indigenous=ind,
            population_groups=groups,
            gender=rng.choices(["woman", "man", "non_binary", ""], [45, 40, 6, 9])[0],
            two_slgbtq=rng.choice(["yes", "no", "no"]),
            disability=rng.choice(["yes", "no", "no"]),
            first_official_language=rng.choice(["english", "french"]),
            arrival=rng.choice(["under_5", "born_in_canada", "born_in_canada"]),
            age_band=rng.choices(["18_24", "45_54", "65_74", ""], [30, 50, 12, 8])[0],
            financial_difficulty=rng.choice(["difficult", "easy"]),
        )
        province = rng.choices(["ON", "QC", "NS", "NU", ""], [50, 30, 12, 4, 4])[0]
        people.append((province, identity.communities(answers, province)))
    return people


def test_no_family_of_published_cells_singles_out_1_to_9_respondents():
    """Random populations full of small groups: whatever protect hides, no subtraction of published
    figures of any family describes 1 to 9 respondents (counted person by person)."""
    rng = random.Random(20260301)
    hidden_total = 0
    for _ in range(300):
        people = random_people(rng, rng.randint(12, 160))
        members = {
            d.code: {i for i, (province, communities) in enumerate(people) if d.contains(province, communities)}
            for d in domains.DOMAINS
        }
        n = {code: len(who) for code, who in members.items() if who}
        primary = {code for code, count in n.items() if count < 10 or rng.random() < 0.08}  # some "F" by CV
        hidden = primary | selectors.protect(n, primary)
        hidden_total += len(hidden - primary)
        published = {code for code in n if code not in hidden}
        assert exposed_groups(members, published) == []
    assert hidden_total > 100  # the check had work to do


def test_the_review_scenario_two_parts_that_never_overlap_cannot_expose_the_rest():
    """100 respondents: 40 First Nations, 57 Black, 3 White. Everyone − Indigenous − racialized would be
    the 3 White respondents."""
    n = {
        "all": 100, "community:indigenous": 40, "community:first_nations": 40, "community:racialized": 57,
        "community:black": 57,
    }  # fmt: skip
    added = selectors.protect(n, set())
    published = set(n) - added
    assert not {"community:indigenous", "community:racialized"} <= published
    assert not {"community:first_nations", "community:racialized"} <= published
    assert not {"community:indigenous", "community:black"} <= published  # Black people look racialized


def test_two_indigenous_groups_reported_by_one_person_do_not_switch_the_check_off():
    """25 First Nations and 12 Métis, one respondent being both, and 3 Inuit (hidden): Indigenous 39.
    Indigenous − First Nations − Métis (−1 in n) mixes the 3 Inuit with the one in two groups."""
    n = {"community:indigenous": 39, "community:first_nations": 25, "community:metis": 12, "community:inuit": 3}
    assert selectors.protect(n, {"community:inuit"}) == {"community:metis"}
    # All three groups published and nobody in two: Indigenous is exactly their sum, nothing to hide.
    n = {"community:indigenous": 60, "community:first_nations": 25, "community:metis": 20, "community:inuit": 15}
    assert selectors.protect(n, set()) == set()
    # Two respondents in two groups each: the subtraction is about those 2 people.
    n = {"community:indigenous": 58, "community:first_nations": 25, "community:metis": 20, "community:inuit": 15}
    assert selectors.protect(n, set()) == {"community:inuit"}
    # Forty extra memberships: at least 20 people are mixed in, however they are spread.
    n = {"community:indigenous": 200, "community:first_nations": 120, "community:metis": 70, "community:inuit": 50}
    assert selectors.protect(n, set()) == set()


def test_women_inside_women_and_the_three_gender_groups():
    # Women 60: 25 Indigenous women and 30 racialized women leave 5 other women.
    n = {"all": 200, "community:women": 60, "community:indigenous+community:women": 25,
         "community:racialized+community:women": 30}  # fmt: skip
    assert selectors.protect(n, set()) == {"community:indigenous+community:women"}
    # Youth and seniors leave 4 people in between.
    assert selectors.protect({"all": 100, "community:youth": 60, "community:senior": 36}, set()) == {"community:senior"}


def published_csv_cells(client, campaign) -> dict[str, dict[str, str]]:
    rows = csv_rows(client.get(f"/en/survey/{campaign.slug}/results.csv"))
    return {r["domain"]: r for r in rows if r["indicator"] == "css_belonging"}


def computed_wave(wave: Wave, people: list[dict[str, Any]]) -> dict[str, set[int]]:
    """Responses written, computed and published; who is in each domain, by response id."""
    from belonging.measure import estimation, instrument
    from tests.measure.conftest import add_response

    responses = [add_response(wave, answers) for answers in people]
    estimation.compute_estimates(wave)
    assert estimation.publish(wave) is not None
    wave.refresh_from_db()
    assert wave.is_published
    members: dict[str, set[int]] = defaultdict(set)
    for response in responses:
        person, province = instrument.answers_identity(response.answers)
        communities = identity.communities(person, province)
        for domain in domains.DOMAINS:
            if domain.contains(province, communities):
                members[domain.code].add(response.pk)
    return members


def test_the_published_csv_of_the_review_scenario_lets_no_one_recover_the_three(client, campaign):
    """Probe 13 of the review, computed for real and read back from the public CSV."""
    from tests.measure.conftest import create_wave

    wave = create_wave(campaign)
    rng = random.Random(3)
    people = []
    for i in range(100):
        if i < 40:
            identity_answers: dict[str, Any] = {"indigenous": ["first_nations"]}
        elif i < 97:
            identity_answers = {"population_groups": ["black"]}
        else:
            identity_answers = {"population_groups": ["white"]}
        three = ["very_strong", "very_weak", "very_weak"]
        answer = rng.choice(["very_strong", "somewhat_weak"]) if i < 97 else three[i - 97]
        people.append({"css_belonging": answer, **identity_answers})
    members = computed_wave(wave, people)
    cells = published_csv_cells(client, campaign)
    published = {code for code, row in cells.items() if row["flag"] in ("", "E")}
    assert {row["flag"] for code, row in cells.items() if code not in published} <= {"F", "x"}
    assert exposed_groups(members, published) == []
    assert "all" in published
    assert not {"community:indigenous", "community:racialized"} <= published
    hidden = [code for code in ("community:indigenous", "community:racialized") if code not in published]
    assert all(cells[code]["flag"] == "x" and cells[code]["flag_reason"] == "complement" for code in hidden)
    assert all(cells[code]["estimate"] == cells[code]["n"] == "" for code in hidden)


def test_the_published_csv_of_a_random_population_exposes_no_small_group(client, campaign):
    """A population with many small groups, computed for real: every family of published CSV cells."""
    from tests.measure.conftest import create_wave

    wave = create_wave(campaign)
    rng = random.Random(11)
    people = []
    for _ in range(120):
        ind = [g for g in INDIGENOUS if rng.random() < 0.2]
        people.append(
            {
                "css_belonging": rng.choice(["very_strong", "somewhat_strong", "somewhat_weak", "very_weak"]),
                "province": rng.choices(["ON", "QC", "NS", "NU"], [55, 30, 10, 5])[0],
                "gender": rng.choices(["woman", "man", "non_binary"], [50, 44, 6])[0],
                "age_band": rng.choices(["18_24", "45_54", "65_74"], [35, 55, 10])[0],
                "population_groups": [g for g in GROUPS if rng.random() < 0.4] or ["white"],
                **({"indigenous": ind} if ind else {}),
            }
        )
    members = computed_wave(wave, people)
    cells = published_csv_cells(client, campaign)
    published = {code for code, row in cells.items() if row["flag"] in ("", "E")}
    assert len(published) > 5
    assert exposed_groups(members, published) == []
    assert any(row["flag"] == "x" for row in cells.values())


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
