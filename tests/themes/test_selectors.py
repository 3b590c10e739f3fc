"""The report's reads: sizes of eligible voices only, quotes of published voices only, names in each
language, the method-and-coverage figures, tables by province and language, and the equity lens with
small-cell suppression (expectations worked out by hand from ``fixtures_report``)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from belonging.core.identity import Community
from belonging.lib import suppression
from belonging.themes import selectors
from belonging.themes.models import Curation, SynthesisRun, Theme
from belonging.voices.models import Voice
from tests.themes.fixtures_report import (
    NAME_A_EN,
    NAME_A_FR,
    NAME_B_EN,
    NAME_B_FR,
    NAME_C_FR,
    add_members,
    build_scenario,
    make_run,
    make_voice,
    seed,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario():
    return build_scenario()


def by_key(report, key):
    return next(t for t in report.themes if t.key == key)


def lens(report, key):
    return {row.community: row for row in next(t for t in report.equity.themes if t.key == key).rows}


# --- runs -------------------------------------------------------------------------------------------


def test_the_latest_published_run_is_shown_not_the_latest_run(scenario):
    newer = make_run(scenario.campaign)  # finished, not published
    queued = make_run(scenario.campaign, status=SynthesisRun.Status.QUEUED, finished_at=None, progress=0)
    assert selectors.latest_published_run(scenario.campaign) == scenario.run
    assert selectors.latest_run(scenario.campaign) == queued
    assert selectors.latest_done_run(scenario.campaign) == newer


def test_no_published_run_means_none(db):
    seed()
    from belonging.core.models import Campaign

    campaign = Campaign.objects.get(slug="strategy-for-belonging")
    make_run(campaign)
    assert selectors.latest_published_run(campaign) is None


def test_run_status_for_the_progress_bar(scenario):
    run = make_run(
        scenario.campaign, status=SynthesisRun.Status.RUNNING, finished_at=None, progress=0.425, stage="cluster"
    )
    status = selectors.run_status(run)
    assert status["percent"] == 42 or status["percent"] == 43
    assert status["finished"] is False
    assert status["stage"] == "cluster" and status["stage_label"]
    assert selectors.run_status(scenario.run)["finished"] is True


# --- themes, names, quotes ---------------------------------------------------------------------------


def test_public_report_leaves_hidden_themes_out_and_organizers_see_them(scenario):
    public = selectors.report(scenario.run, "en")
    assert [t.key for t in public.themes] == [scenario.theme_a.key, scenario.theme_b.key]
    organizer = selectors.report(scenario.run, "en", include_hidden=True)
    assert [t.key for t in organizer.themes] == [scenario.theme_a.key, scenario.theme_b.key, scenario.theme_c.key]
    hidden = by_key(organizer, scenario.theme_c.key)
    assert hidden.hidden is True
    assert (hidden.name, hidden.name_language) == (NAME_C_FR, "fr")  # no English name: the French one
    assert organizer.hidden_count == 1


def test_names_in_the_page_language_with_fallbacks(scenario):
    en, fr = selectors.report(scenario.run, "en"), selectors.report(scenario.run, "fr")
    assert (by_key(en, scenario.theme_a.key).name, by_key(en, scenario.theme_a.key).name_language) == (NAME_A_EN, "en")
    assert (by_key(fr, scenario.theme_a.key).name, by_key(fr, scenario.theme_a.key).name_language) == (NAME_A_FR, "fr")
    # No curation: the first keyphrases, in the page's language where the theme has them.
    assert by_key(en, scenario.theme_b.key).name == NAME_B_EN
    assert by_key(fr, scenario.theme_b.key).name == NAME_B_FR
    assert by_key(fr, scenario.theme_b.key).keyphrases == NAME_B_FR.split(", ")
    # Theme A has English keyphrases only: the French page shows them, marked as English.
    a_fr = by_key(fr, scenario.theme_a.key)
    assert (a_fr.keyphrases, a_fr.keyphrases_language) == (["library", "tuesday", "welcome"], "en")


def test_a_theme_without_names_or_keyphrases_gets_a_numbered_name(scenario):
    Theme.objects.filter(pk=scenario.theme_b.pk).update(keyphrases={})
    assert by_key(selectors.report(scenario.run, "en"), scenario.theme_b.key).name == "Theme 2"


def test_sizes_count_eligible_voices_only(scenario):
    report = selectors.report(scenario.run, "en")
    a, b = by_key(report, scenario.theme_a.key), by_key(report, scenario.theme_b.key)
    assert a.size == 30  # the withdrawn voice's membership is still there but does not count
    assert b.size == 31
    assert a.share == pytest.approx(100 * 30 / 61)
    assert b.provisional == 1
    assert b.languages == {"en": 21, "fr": 10}


def test_a_voice_taken_down_or_whose_consent_ended_leaves_every_figure(scenario):
    Voice.objects.filter(pk=scenario.a_voices[3].pk).update(status=Voice.Status.REJECTED)
    Voice.objects.filter(pk=scenario.a_voices[4].pk).update(consent_analysis=False)
    report = selectors.report(scenario.run, "en")
    assert by_key(report, scenario.theme_a.key).size == 28
    assert report.coverage.analysed == 72


def test_quotes_are_published_members_only_pinned_first(scenario):
    quotes = by_key(selectors.report(scenario.run, "en"), scenario.theme_a.key).quotes
    a = scenario.a_voices
    # Pinned voice 0 first; then the listed quotes that are published and in the theme (1 and 2). The
    # withdrawn voice, the accepted (never published) voice and theme B's voice are not quoted.
    assert [q.voice_id for q in quotes] == [a[0].pk, a[1].pk, a[2].pk]
    assert [q.pinned for q in quotes] == [True, False, False]
    shown = {q.voice_id for q in quotes}
    assert scenario.withdrawn.pk not in shown and scenario.unpublished_quote.pk not in shown


def test_a_quote_withdrawn_after_the_run_disappears(scenario):
    voice = scenario.a_voices[1]
    Voice.objects.filter(pk=voice.pk).update(
        status=Voice.Status.WITHDRAWN, text="", email="", email_normalized="", withdrawn_at=timezone.now()
    )
    report = selectors.report(scenario.run, "en")
    assert voice.pk not in {q.voice_id for q in by_key(report, scenario.theme_a.key).quotes}
    assert by_key(report, scenario.theme_a.key).size == 29


def test_a_pinned_voice_no_longer_published_is_not_quoted(scenario):
    Voice.objects.filter(pk=scenario.a_voices[0].pk).update(status=Voice.Status.ACCEPTED)
    quotes = by_key(selectors.report(scenario.run, "en"), scenario.theme_a.key).quotes
    assert [q.voice_id for q in quotes] == [scenario.a_voices[1].pk, scenario.a_voices[2].pk]


def test_pin_candidates_are_published_members(scenario):
    candidates = selectors.pin_candidates(scenario.theme_a)
    assert {v.pk for v in candidates} == {v.pk for v in scenario.a_voices[:3]}


# --- method and coverage ----------------------------------------------------------------------------


def test_coverage_figures(scenario):
    coverage = selectors.report(scenario.run, "en").coverage
    assert coverage.analysed == 74  # 30 + 31 + 10 in themes, 3 in none; the withdrawn voice not at all
    assert coverage.in_themes == 71
    assert coverage.in_shown_themes == 61
    assert coverage.in_hidden_themes == 10
    assert coverage.not_in_theme == 3
    assert coverage.added_since_run == 1
    assert coverage.new == 1
    assert [(e.reason, e.count) for e in coverage.excluded] == [("empty", 1), ("far", 1), ("new", 1)]
    assert all(e.explanation for e in coverage.excluded)
    assert coverage.share_in_themes == pytest.approx(100 * 71 / 74)


def test_scope_and_method(scenario):
    place_run = make_run(scenario.campaign, prompt=scenario.prompt, date_from=timezone.now().date())
    report = selectors.report(place_run, "en")
    labels = [label for label, _value in report.scope]
    assert labels == ["Question", "Voices received"]
    assert report.backend_label == "Shared words only (fast, no model)"
    assert selectors.report(scenario.run, "en").scope == []


# --- tables -------------------------------------------------------------------------------------------


def test_themes_by_province_suppress_small_cells_within_each_theme(scenario):
    table = selectors.report(scenario.run, "en").by_province
    assert [c.code for c in table.columns] == ["NS", "QC", "ON"]
    rows = {r.key: r for r in table.rows}
    assert rows[scenario.theme_a.key].cells == [0, 0, 30]
    # Theme B: Ontario 20, Quebec 5, Nova Scotia 6 of 31. Quebec is too small, and Nova Scotia is hidden
    # with it, or Quebec would be 31 − 20 − 6.
    assert rows[scenario.theme_b.key].cells == [None, None, 20]
    assert rows[scenario.theme_b.key].total == 31


def test_themes_by_province_hide_every_cell_of_a_theme_of_fewer_than_ten(scenario):
    small = Theme.objects.create(run=scenario.run, key="tsmall", position=3, keyphrases={"en": ["small"]})
    add_members(scenario.run, small, [make_voice(scenario.prompt, province="QC") for _ in range(6)])
    rows = {r.key: r for r in selectors.report(scenario.run, "en").by_province.rows}
    assert rows["tsmall"].cells == [None, None, None]
    assert rows["tsmall"].total == 6


def test_themes_by_language_are_exact(scenario):
    table = selectors.report(scenario.run, "fr").by_language
    assert [c.code for c in table.columns] == ["en", "fr"]
    rows = {r.key: r.cells for r in table.rows}
    assert rows == {scenario.theme_a.key: [30, 0], scenario.theme_b.key: [21, 10]}


# --- the equity lens -----------------------------------------------------------------------------------


def test_equity_lens_shares_and_suppression_by_hand(scenario):
    report = selectors.report(scenario.run, "en")
    assert report.equity.base == 60  # self-identified with consent; not the voice without consent
    a, b = lens(report, scenario.theme_a.key), lens(report, scenario.theme_b.key)

    # Seniors: 10 of 30 in each theme, 20 of 60 overall.
    assert (a[Community.SENIOR].count, b[Community.SENIOR].count) == (10, 10)
    assert a[Community.SENIOR].share == pytest.approx(100 / 3)
    assert a[Community.SENIOR].overall_count == 20
    assert a[Community.SENIOR].overall_share == pytest.approx(100 / 3)

    # Youth: 3 in A is too small; B's 15 is then hidden too, or A's would be 18 − 15.
    assert (a[Community.YOUTH].count, a[Community.YOUTH].share) == (None, None)
    assert (b[Community.YOUTH].count, b[Community.YOUTH].share) == (None, None)
    assert a[Community.YOUTH].overall_count == 18

    # Women: 25 of B's 30 leaves 5 who are not women: hidden; so is A's 12 (37 − 25 would give it away).
    assert a[Community.WOMEN].count is None and b[Community.WOMEN].count is None
    assert a[Community.WOMEN].overall_count == 37
    assert a[Community.WOMEN].overall_share == pytest.approx(100 * 37 / 60)

    # Black people: none of A's voices (0% against 33% overall): under-represented; B 20 of 30.
    assert (a[Community.BLACK].count, a[Community.BLACK].share) == (0, 0)
    assert a[Community.BLACK].under_represented is True
    assert (b[Community.BLACK].count, b[Community.BLACK].under_represented) == (20, False)
    assert b[Community.BLACK].share == pytest.approx(200 / 3)

    # Indigenous peoples and First Nations: all 10 in A; none in B (0% against 16.7%): flagged in B.
    assert (a[Community.INDIGENOUS].count, a[Community.FIRST_NATIONS].count) == (10, 10)
    assert b[Community.INDIGENOUS].under_represented and b[Community.FIRST_NATIONS].under_represented
    assert not a[Community.INDIGENOUS].under_represented

    # Nobody self-identified as Métis: 0 everywhere and no flag.
    assert (a[Community.METIS].count, a[Community.METIS].overall_share, a[Community.METIS].under_represented) == (
        0,
        0,
        False,
    )
    flagged = {(t.key, r.community) for t, r in report.equity.flags}
    assert flagged == {
        (scenario.theme_a.key, Community.BLACK),
        (scenario.theme_a.key, Community.RACIALIZED),
        (scenario.theme_b.key, Community.INDIGENOUS),
        (scenario.theme_b.key, Community.FIRST_NATIONS),
    }


def test_equity_lens_never_flags_a_suppressed_figure(scenario):
    report = selectors.report(scenario.run, "en")
    for theme in report.equity.themes:
        for row in theme.rows:
            if row.count is None or row.overall_count is None:
                assert not row.under_represented


def test_equity_lens_never_publishes_a_small_count_or_complement(scenario):
    report = selectors.report(scenario.run, "en")
    for theme in report.equity.themes:
        for row in theme.rows:
            if row.count is not None:
                assert not suppression.is_sensitive(row.count)
                assert not suppression.is_sensitive(theme.base - row.count)


def test_equity_lens_a_withdrawn_voice_does_not_count(scenario):
    a = lens(selectors.report(scenario.run, "en"), scenario.theme_a.key)
    assert a[Community.BLACK].count == 0  # the withdrawn voice was self-identified Black


def test_equity_lens_theme_with_few_self_identified_voices_shows_nothing(scenario):
    few = Theme.objects.create(run=scenario.run, key="tfew", position=3, keyphrases={"en": ["few"]})
    add_members(scenario.run, few, [make_voice(scenario.prompt, communities={Community.WOMEN}) for _ in range(4)])
    report = selectors.report(scenario.run, "en")
    few_lens = lens(report, "tfew")
    assert next(t for t in report.equity.themes if t.key == "tfew").base is None
    assert all(row.count is None and row.share is None for row in few_lens.values())
    # Theme A's and B's self-identified totals stay published: with the four in no other theme, the
    # overall total (64) minus A and B gives 4; so one of them is hidden, and its column with it.
    bases = {t.key: t.base for t in report.equity.themes}
    assert bases["tfew"] is None
    assert list(bases.values()).count(None) == 2


def test_equity_lens_hides_everything_when_few_voices_self_identified(db):
    seed()
    from belonging.core.models import Campaign

    campaign = Campaign.objects.get(slug="strategy-for-belonging")
    from belonging.voices.models import Prompt

    prompt = Prompt.objects.filter(campaign=campaign).first()
    run = make_run(campaign, published=True)
    theme = Theme.objects.create(run=run, key="tone", position=0, keyphrases={"en": ["one"]})
    add_members(run, theme, [make_voice(prompt, communities={Community.WOMEN}) for _ in range(7)])
    report = selectors.report(run, "en")
    assert report.equity.base is None
    assert all(r.count is None and r.overall_count is None for r in report.equity.themes[0].rows)


def test_hidden_themes_stay_in_the_equity_remainder(scenario):
    """A hidden theme's voices count in the overall shares, as voices in no shown theme."""
    Curation.objects.filter(key=scenario.theme_c.key).update(hidden=False)
    shown = selectors.report(scenario.run, "en")
    assert shown.equity.base == 60


# --- the chart -------------------------------------------------------------------------------------


def test_bar_chart_geometry(scenario):
    chart = selectors.report(scenario.run, "en").chart
    assert [b.value for b in chart.bars] == [30, 31]
    longest = max(b.width for b in chart.bars)
    assert chart.bars[1].width == longest
    assert chart.bars[0].width == pytest.approx(longest * 30 / 31, abs=0.1)
    assert chart.height > chart.bars[-1].y + chart.bar_height
    assert chart.bars[0].full_label == NAME_A_EN
