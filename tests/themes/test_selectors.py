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
    assert rows[scenario.theme_a.key].total == 30
    # Theme B: 30 people of the run's own (voice 29, provisional, is not counted): Ontario 20, Quebec 5,
    # Nova Scotia 5 (voices 25 to 28 and the voice without consent to statistics). Quebec and Nova
    # Scotia are too small; the total of people is published.
    assert rows[scenario.theme_b.key].cells == [None, None, 20]
    assert rows[scenario.theme_b.key].total == 30


def test_themes_by_province_hide_every_cell_of_a_theme_of_fewer_than_ten(scenario):
    small = Theme.objects.create(run=scenario.run, key="tsmall", position=3, keyphrases={"en": ["small"]})
    add_members(scenario.run, small, [make_voice(scenario.prompt, province="QC") for _ in range(6)])
    rows = {r.key: r for r in selectors.report(scenario.run, "en").by_province.rows}
    assert rows["tsmall"].cells == [None, None, None]
    assert rows["tsmall"].total is None  # 6 people: not even their number


def test_themes_by_language_are_exact(scenario):
    table = selectors.report(scenario.run, "fr").by_language
    assert [c.code for c in table.columns] == ["en", "fr"]
    rows = {r.key: r.cells for r in table.rows}
    assert rows == {scenario.theme_a.key: [30, 0], scenario.theme_b.key: [21, 10]}


# --- the equity lens -----------------------------------------------------------------------------------


def test_equity_lens_shares_and_suppression_by_hand(scenario):
    report = selectors.report(scenario.run, "en")
    # Self-identified people with consent, of the run's own memberships: A's 30 and B's 29 (not the voice
    # without consent to statistics, nor voice 29 of B, added since the run).
    assert report.equity.base == 59
    a, b = lens(report, scenario.theme_a.key), lens(report, scenario.theme_b.key)
    bases = {t.key: t.base for t in report.equity.themes}
    assert bases == {scenario.theme_a.key: 30, scenario.theme_b.key: 29}

    # Seniors: 10 of 30 in A, 10 of 29 in B, 20 of 59 overall.
    assert (a[Community.SENIOR].count, b[Community.SENIOR].count) == (10, 10)
    assert a[Community.SENIOR].share == pytest.approx(100 / 3)
    assert b[Community.SENIOR].share == pytest.approx(100 * 10 / 29)
    assert a[Community.SENIOR].overall_count == 20
    assert a[Community.SENIOR].overall_share == pytest.approx(100 * 20 / 59)

    # Youth: 3 in A is too small; B's 15 is then hidden too, or A's would be 18 − 15.
    assert (a[Community.YOUTH].count, a[Community.YOUTH].share) == (None, None)
    assert (b[Community.YOUTH].count, b[Community.YOUTH].share) == (None, None)
    assert a[Community.YOUTH].overall_count == 18

    # Women: 25 of B's 29 leaves 4 who are not women: hidden; so is A's 12 (37 − 25 would give it away).
    assert a[Community.WOMEN].count is None and b[Community.WOMEN].count is None
    assert a[Community.WOMEN].overall_count == 37
    assert a[Community.WOMEN].overall_share == pytest.approx(100 * 37 / 59)

    # Black people: none of A's (0% against 32% overall): under-represented; B 19 of 29 (voice 29 of B,
    # Black, is provisional and not counted).
    assert (a[Community.BLACK].count, a[Community.BLACK].share) == (0, 0)
    assert a[Community.BLACK].under_represented is True
    assert (b[Community.BLACK].count, b[Community.BLACK].under_represented) == (19, False)
    assert b[Community.BLACK].share == pytest.approx(100 * 19 / 29)
    assert b[Community.BLACK].overall_count == 19

    # Indigenous peoples and First Nations: all 10 in A; none in B (0% against 16.9%): flagged in B.
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
    # Theme A's (30) and B's (29) self-identified totals cannot both stay published: with the four in no
    # other theme, the overall total (63) minus A and B gives 4; so the smaller, B's, is hidden, and its
    # column with it.
    bases = {t.key: t.base for t in report.equity.themes}
    assert bases == {scenario.theme_a.key: 30, scenario.theme_b.key: None, "tfew": None}
    assert all(row.count is None for row in lens(report, scenario.theme_b.key).values())


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
    assert shown.equity.base == 59


# --- the chart -------------------------------------------------------------------------------------


def test_bar_chart_geometry(scenario):
    chart = selectors.report(scenario.run, "en").chart
    assert [b.value for b in chart.bars] == [30, 31]
    longest = max(b.width for b in chart.bars)
    assert chart.bars[1].width == longest
    assert chart.bars[0].width == pytest.approx(longest * 30 / 31, abs=0.1)
    assert chart.height > chart.bars[-1].y + chart.bar_height
    assert chart.bars[0].full_label == NAME_A_EN


# --- people, not voices ---------------------------------------------------------------------------------


def _campaign_and_prompt():
    seed()
    from belonging.core.models import Campaign
    from belonging.voices.models import Prompt

    campaign = Campaign.objects.get(slug="strategy-for-belonging")
    return campaign, Prompt.objects.filter(campaign=campaign).order_by("position", "id").first()


def test_one_person_with_twelve_voices_counts_once_and_is_hidden(db):
    """20 women and 10 seniors, one voice each, and one Inuk person who shared 12 voices: 42 voices but
    31 people. Counted by voices, Inuit would show as 12 (12 of 42); counted by people it is 1 of 31."""
    campaign, prompt = _campaign_and_prompt()
    run = make_run(campaign, published=True)
    theme = Theme.objects.create(run=run, key="tone", position=0, keyphrases={"en": ["one"]})
    C = Community
    voices = [make_voice(prompt, communities={C.WOMEN}) for _ in range(20)]
    voices += [make_voice(prompt, communities={C.SENIOR}) for _ in range(10)]
    voices += [
        make_voice(prompt, communities={C.INUIT, C.INDIGENOUS}, email="Nuka@Example.org", province="NU")
        for _ in range(12)
    ]
    add_members(run, theme, voices)
    report = selectors.report(run, "en")
    assert report.themes[0].size == 42  # sizes stay voices
    assert report.equity.base == 31
    rows = lens(report, "tone")
    assert (rows[C.WOMEN].count, rows[C.SENIOR].count) == (20, 10)  # complements 11 and 21: shown
    assert rows[C.WOMEN].share == pytest.approx(100 * 20 / 31)
    # One person: hidden, overall too, and with the Indigenous group its children (even the zeros).
    for code in (C.INUIT, C.INDIGENOUS, C.FIRST_NATIONS, C.METIS):
        assert (rows[code].count, rows[code].share, rows[code].overall_count) == (None, None, None)
    # By province, the same person counts once: Nunavut 1 (hidden), and Ontario with it, out of 31.
    table = report.by_province
    cells = dict(zip([c.code for c in table.columns], table.rows[0].cells, strict=True))
    assert cells == {"NU": None, "ON": None}
    assert table.rows[0].total == 31


def test_a_person_counts_once_in_each_of_their_themes_and_once_overall(db):
    campaign, prompt = _campaign_and_prompt()
    run = make_run(campaign, published=True)
    one = Theme.objects.create(run=run, key="tone", position=0, keyphrases={"en": ["one"]})
    two = Theme.objects.create(run=run, key="ttwo", position=1, keyphrases={"en": ["two"]})
    C = Community
    # 12 people write one voice in each theme (women); 10 seniors write in theme one only.
    for i in range(12):
        email = f"both{i}@example.org"
        add_members(run, one, [make_voice(prompt, communities={C.WOMEN}, email=email)])
        add_members(run, two, [make_voice(prompt, communities={C.WOMEN}, email=email)])
    add_members(run, one, [make_voice(prompt, communities={C.SENIOR}) for _ in range(10)])
    report = selectors.report(run, "en")
    assert report.equity.base == 22
    bases = {t.key: t.base for t in report.equity.themes}
    assert bases == {"tone": 22, "ttwo": 12}
    first, second = lens(report, "tone"), lens(report, "ttwo")
    assert (first[C.WOMEN].count, first[C.SENIOR].count) == (12, 10)
    assert second[C.WOMEN].count == 12 and second[C.WOMEN].share == pytest.approx(100)
    assert first[C.WOMEN].overall_count == 12  # not 24
    assert {r.key: r.total for r in report.by_province.rows} == {"tone": 22, "ttwo": 12}


def test_a_person_counts_with_the_answers_of_their_latest_voice(db):
    campaign, prompt = _campaign_and_prompt()
    run = make_run(campaign, published=True)
    theme = Theme.objects.create(run=run, key="tone", position=0, keyphrases={"en": ["one"]})
    C = Community
    # 10 people answered "woman" on a first voice and "senior" on a later one; 10 more are women.
    early = [make_voice(prompt, communities={C.WOMEN}, email=f"p{i}@example.org") for i in range(10)]
    late = [make_voice(prompt, communities={C.SENIOR}, email=f"p{i}@example.org") for i in range(10)]
    others = [make_voice(prompt, communities={C.WOMEN}) for _ in range(10)]
    add_members(run, theme, [*late, *early, *others])  # the order of the rows does not matter
    rows = lens(selectors.report(run, "en"), "tone")
    assert (rows[C.WOMEN].count, rows[C.SENIOR].count) == (10, 10)


# --- provisional voices change no count by identity or place ----------------------------------------------


def _people_figures(report):
    equity = [(t.key, t.base, [(r.community, r.count, r.overall_count) for r in t.rows]) for t in report.equity.themes]
    provinces = [(r.key, r.cells, r.total) for r in report.by_province.rows]
    return report.equity.base, equity, provinces


def test_a_voice_added_after_the_run_moves_no_count_of_people(scenario):
    before = selectors.report(scenario.run, "en")
    # A newly approved voice, self-identified Inuit, in Nunavut, placed in theme A until the next run.
    newcomer = make_voice(
        scenario.prompt, status="published", province="NU", communities={Community.INUIT, Community.INDIGENOUS}
    )
    add_members(scenario.run, scenario.theme_a, [newcomer], provisional=True)
    after = selectors.report(scenario.run, "en")
    a = by_key(after, scenario.theme_a.key)
    assert (a.size, a.provisional) == (31, 1)  # the size and the note say a voice was added
    assert after.coverage.added_since_run == 2
    assert _people_figures(after) == _people_figures(before)  # no "14 → 15" to watch
    assert "NU" not in [c.code for c in after.by_province.columns]


def test_a_withdrawal_still_subtracts_from_the_counts_of_people(scenario):
    Voice.objects.filter(pk=scenario.b_voices[10].pk).update(
        status=Voice.Status.WITHDRAWN, text="", email="", email_normalized="", withdrawn_at=timezone.now()
    )
    report = selectors.report(scenario.run, "en")
    b = lens(report, scenario.theme_b.key)
    assert next(t.base for t in report.equity.themes if t.key == scenario.theme_b.key) == 28
    assert b[Community.BLACK].count == 18
    assert report.equity.base == 58


# --- the report's cache version ---------------------------------------------------------------------------


def test_the_stamp_reads_no_database_and_changes_with_the_version(scenario, django_assert_num_queries):
    with django_assert_num_queries(0):
        first = selectors.report_stamp(scenario.run)
        assert selectors.report_stamp(scenario.run) == first
    selectors.bump_report_version(scenario.campaign.pk)
    second = selectors.report_stamp(scenario.run)
    assert second != first
    assert second.startswith(f"{scenario.run.pk}:")
    assert selectors.report_version(scenario.campaign.pk) == int(second.rsplit(":", 1)[1])


def test_a_bump_increments_the_version_of_that_campaign_only(db):
    version, other = selectors.report_version(1), selectors.report_version(2)
    selectors.bump_report_version(1)
    selectors.bump_report_version(1)
    assert selectors.report_version(1) == version + 2
    assert selectors.report_version(2) == other


def test_a_bump_in_a_transaction_moves_the_version_again_on_commit(db, django_capture_on_commit_callbacks):
    """A visitor reading between the bump and the commit sees the old rows and may cache them under the
    new version: the bump on commit moves past it."""
    version = selectors.report_version(3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        selectors.bump_report_version(3)
        assert selectors.report_version(3) == version + 1
    assert len(callbacks) == 1
    assert selectors.report_version(3) == version + 2


def test_a_missing_version_reads_as_a_fresh_one(db):
    from django.core.cache import cache

    seen = {selectors.report_version(7)}
    for _ in range(3):
        selectors.bump_report_version(7)
        seen.add(selectors.report_version(7))
    cache.delete(selectors.REPORT_VERSION_KEY.format(campaign_id=7))  # evicted, or the cache restarted
    fresh = selectors.report_version(7)
    assert fresh not in seen  # so a report cached under an old version is never served again
    assert selectors.report_version(7) == fresh  # and then it holds


def test_a_bump_of_a_missing_version_starts_a_fresh_one(db):
    from django.core.cache import cache

    before = selectors.report_version(8)
    cache.delete(selectors.REPORT_VERSION_KEY.format(campaign_id=8))
    selectors.bump_report_version(8)
    assert selectors.report_version(8) not in (before, before + 1)


def test_quote_swap_with_equal_counts_gets_a_new_stamp(scenario):
    """The old stamp counted eligible and published voices: a published voice leaving and another joining
    kept both counts, so the cached report went on quoting the withdrawn voice. The version changes with
    each change instead (``services.remove_voice`` and ``assign_new_voice`` bump it; here by hand)."""
    from belonging.voices.services import voice_withdraw

    first = selectors.report_stamp(scenario.run)
    voice_withdraw(voice=scenario.a_voices[1])
    selectors.bump_report_version(scenario.campaign.pk)
    second = selectors.report_stamp(scenario.run)
    newcomer = make_voice(scenario.prompt, status="published")
    add_members(scenario.run, scenario.theme_a, [newcomer], provisional=True)
    selectors.bump_report_version(scenario.campaign.pk)
    assert len({first, second, selectors.report_stamp(scenario.run)}) == 3
    quotes = by_key(selectors.report(scenario.run, "en"), scenario.theme_a.key).quotes
    assert scenario.a_voices[1].pk not in {q.voice_id for q in quotes}


# --- the chart ----------------------------------------------------------------------------------------------


def test_chart_bars_carry_the_language_of_the_names(scenario):
    Curation.objects.create(campaign=scenario.campaign, key=scenario.theme_b.key, name_fr="Se loger")
    bars = selectors.report(scenario.run, "en").chart.bars
    assert [(b.full_label, b.language) for b in bars] == [(NAME_A_EN, "en"), ("Se loger", "fr")]


def test_the_chart_marks_a_name_in_the_other_language(client, scenario):
    Curation.objects.create(campaign=scenario.campaign, key=scenario.theme_b.key, name_fr="Se loger")
    html = client.get(f"/en/themes/{scenario.campaign.slug}/").content.decode()
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'lang="fr">Se loger</text>' in svg
    assert f'lang="en">{NAME_A_EN}</text>' in svg


# --- curation history, in words -----------------------------------------------------------------------------


def _record(scenario, key, action, detail):
    from belonging.themes.models import CurationAction

    return CurationAction.objects.create(campaign=scenario.campaign, key=key, action=action, detail=detail)


def _change(scenario, language="en"):
    from django.utils import translation

    with translation.override(language):
        return str(selectors.history(scenario.campaign)[0].change)


def test_history_says_how_a_theme_was_renamed(scenario):
    _record(
        scenario,
        scenario.theme_b.key,
        "rename",
        {"before": {"name_en": "", "name_fr": "Logement"}, "after": {"name_en": "Homes", "name_fr": "Se loger"}},
    )
    change = _change(scenario)
    assert 'English name: “<span lang="en">Homes</span>” (it was named by its key words)' in change
    assert 'French name: “<span lang="fr">Logement</span>” became “<span lang="fr">Se loger</span>”' in change


def test_history_renaming_to_the_key_words_again(scenario):
    _record(
        scenario,
        scenario.theme_b.key,
        "rename",
        {"before": {"name_en": "Homes", "name_fr": ""}, "after": {"name_en": "", "name_fr": ""}},
    )
    assert _change(scenario) == (
        'English name: “<span lang="en">Homes</span>” removed (it is named by its key words again)'
    )


def test_history_names_the_theme_merged_into_in_the_page_language(scenario):
    _record(
        scenario,
        scenario.theme_b.key,
        "merge",
        {"before": {"merged_into": ""}, "after": {"merged_into": scenario.theme_a.key}},
    )
    assert f'“<span lang="en">{NAME_A_EN}</span>”' in _change(scenario, "en")
    assert f'<span lang="fr">{NAME_A_FR}</span>' in _change(scenario, "fr")


def test_history_lists_the_parts_of_a_split(scenario):
    _record(
        scenario,
        scenario.theme_a.key,
        "split",
        {"before": {"split_into": []}, "after": {"split_into": [scenario.theme_b.key, "tgone"], "sizes": [12, 1]}},
    )
    change = _change(scenario)
    assert f'“<span lang="en">{NAME_B_EN}</span>” (12 voices)' in change
    assert "“<code>tgone</code>” (1 voice)" in change  # a part no longer in the latest run: its key


def test_history_shows_the_quote_pinned_and_the_one_it_replaced(scenario):
    a = scenario.a_voices
    _record(
        scenario,
        scenario.theme_a.key,
        "pin",
        {"before": {"voice": str(scenario.withdrawn.public_id)}, "after": {"voice": str(a[1].public_id)}},
    )
    change = _change(scenario)
    assert f'<q lang="en"><a href="/en/voices/{a[1].public_id}/">Voice number' in change
    assert "instead of a voice no longer published" in change  # the withdrawn voice is not quoted


def test_history_escapes_names(scenario):
    _record(
        scenario,
        scenario.theme_b.key,
        "rename",
        {"before": {"name_en": "", "name_fr": ""}, "after": {"name_en": "<b>Homes</b>", "name_fr": ""}},
    )
    change = _change(scenario)
    assert "&lt;b&gt;Homes&lt;/b&gt;" in change and "<b>" not in change


def test_history_of_hiding_and_of_details_from_older_versions(scenario):
    # The scenario's own action was recorded with a bare {"hidden": true}, not before/after.
    change = _change(scenario)
    assert change.startswith("Left out of the public report")


def test_the_curation_page_shows_what_changed_and_that_changes_are_public_at_once(client, scenario, organizer):
    _record(
        scenario,
        scenario.theme_b.key,
        "merge",
        {"before": {"merged_into": ""}, "after": {"merged_into": scenario.theme_a.key}},
    )
    client.force_login(organizer)
    html = client.get(f"/en/themes/manage/runs/{scenario.run.pk}/curate/").content.decode()
    assert "What changed" in html
    assert f'Merged into “<span lang="en">{NAME_A_EN}</span>”' in html
    assert "This analysis is public: every change to its themes appears on “What we heard” at once." in html
    assert "Publish again" not in html  # nothing to publish again: there is no review step


def test_the_curation_page_of_an_unpublished_run_says_when_changes_go_public(client, organizer, db):
    scenario = build_scenario(published=False)
    client.force_login(organizer)
    html = client.get(f"/en/themes/manage/runs/{scenario.run.pk}/curate/").content.decode()
    assert "Nothing is public yet." in html
    assert "Once this analysis is published, every change to its themes appears" in html
    assert "Publish as “What we heard”" in html
