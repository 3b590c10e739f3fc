"""Themes services without HTTP: runs, consent and scope, stable keys, curation across runs, new voices,
withdrawal, failure."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from belonging.core.models import Place
from belonging.lib import themes as engine
from belonging.themes import services
from belonging.themes.models import NEW, Curation, CurationAction, Membership, SynthesisRun, Theme, VoiceEmbedding
from belonging.voices import services as voice_services
from belonging.voices.models import Voice
from tests.factories import VoiceFactory
from tests.themes.conftest import add_voice, members, run_now, theme_of_topic
from tests.themes.corpus import LATER

pytestmark = pytest.mark.django_db


def later_voices(prompt) -> dict[int, str]:
    return {add_voice(prompt, topic, lang, text).pk: topic for topic, lang, text in LATER}


# --- a run ----------------------------------------------------------------------------------------------


def test_a_run_finds_the_three_topics_across_english_and_french(campaign, corpus, organizer):
    run = run_now(campaign, organizer)

    assert run.status == SynthesisRun.Status.DONE
    assert (run.progress, run.stage, run.error) == (1.0, "done", "")
    assert run.finished_at is not None and run.started_by == organizer
    assert run.backend_name == "e5-small-q4"
    themes = list(run.themes.order_by("position"))
    assert len(themes) == 3
    placed = members(run)
    # Every voice analysed has exactly one membership, and each theme is one topic in both languages.
    assert set(placed) == set(corpus)
    for theme in themes:
        topics = [corpus[v] for v, key in placed.items() if key == theme.key]
        assert len(topics) == theme.size
        assert max(topics.count(t) for t in set(topics)) / len(topics) >= 0.8
        assert set(theme.languages) == {"en", "fr"}
        assert theme.keyphrases["en"] and theme.keyphrases["fr"]
    assert set(theme_of_topic(run, corpus)) == {"housing", "transit", "food"}
    assert len(set(theme_of_topic(run, corpus).values())) == 3
    housing = Theme.objects.get(run=run, key=theme_of_topic(run, corpus)["housing"])
    assert {"housing", "rent"} <= set(housing.keyphrases["en"])
    assert {"logement", "loyer"} <= set(housing.keyphrases["fr"])
    # Coverage adds up, sizes add up, positions follow sizes.
    assert run.total == len(corpus) == run.in_themes + sum(run.excluded.values())
    assert sum(t.size for t in themes) == run.in_themes
    assert set(run.excluded) >= set(engine.REASONS)
    assert [t.size for t in themes] == sorted((t.size for t in themes), reverse=True)
    # Quotes are published members only, the most representative first.
    for theme in themes:
        assert 1 <= len(theme.quote_ids) <= 5
        quoted = Voice.objects.filter(pk__in=theme.quote_ids)
        assert all(v.status == Voice.Status.PUBLISHED for v in quoted)
        assert all(placed[q] == theme.key for q in theme.quote_ids)
    # What the next run is matched to: the engine's own themes, and the run's language centring.
    assert set(run.raw_themes) == {t.key for t in themes}
    assert all(len(data["centroid"]) == 384 for data in run.raw_themes.values())
    assert set(run.offsets) == {"en", "fr"}
    assert Membership.objects.filter(run=run).exclude(raw_key="").count() == len(corpus)
    assert run.k == 3


def test_only_approved_voices_consented_to_analysis_are_used(campaign, prompts, corpus):
    prompt = prompts["needs-to-have"]
    text = "Affordable housing and lower rent would let my family stay in the neighbourhood."
    left_out = [
        VoiceFactory(prompt=prompt, text=text, published=True, consent_analysis=False),
        VoiceFactory(prompt=prompt, text=text, status="accepted", consent_publish=False, consent_analysis=False),
        VoiceFactory(prompt=prompt, text=text),  # pending
        VoiceFactory(prompt=prompt, text=text, submitted=True),
        VoiceFactory(prompt=prompt, text=text, status="returned"),
        VoiceFactory(prompt=prompt, text=text, status="rejected"),
        VoiceFactory(prompt=prompt, status="withdrawn", text="", email="", withdrawn_at=timezone.now()),
    ]
    run = run_now(campaign)
    assert set(members(run)) == set(corpus)
    assert not Membership.objects.filter(voice__in=left_out).exists()
    assert not VoiceEmbedding.objects.filter(voice__in=left_out).exists()
    assert run.total == len(corpus)


def test_the_same_seed_gives_the_same_themes_and_memberships(campaign, corpus):
    first = run_now(campaign, seed=7)
    keys, placed = set(first.themes.values_list("key", flat=True)), members(first)
    first.delete()  # no previous run to match: the keys come from the members alone
    second = run_now(campaign, seed=7)
    assert set(second.themes.values_list("key", flat=True)) == keys
    assert members(second) == placed


def test_a_run_never_embeds_a_voice_twice(campaign, corpus, embedded):
    run_now(campaign)
    assert len(embedded) == len(corpus) and set(embedded.values()) == {1}
    assert VoiceEmbedding.objects.count() == len(corpus)
    embedded.clear()
    run_now(campaign)
    assert not embedded  # every vector was reused
    # A changed text (a moderator's redaction) is embedded again; only that one.
    voice = Voice.objects.get(pk=next(iter(corpus)))
    voice.redacted_text = voice.text.split(" ", 3)[0] + " [removed]"
    voice.save()
    run_now(campaign)
    assert list(embedded) == [services.analysis_text(voice)]
    stored = VoiceEmbedding.objects.get(voice=voice)
    assert stored.text_hash == services.text_hash(services.analysis_text(voice))


def test_embed_voice_stores_once_and_again_only_when_the_text_changes(campaign, prompts, embedded):
    voice = VoiceFactory(prompt=prompts["needs-to-have"], submitted=True, text="The bus never comes on Sundays.")
    assert services.embed_voice(voice) is True
    assert services.embed_voice(voice) is False
    assert VoiceEmbedding.objects.filter(voice=voice).count() == 1
    voice.text = "The bus never comes on Sundays, so we walk."
    voice.save()
    assert services.embed_voice(voice) is True
    row = VoiceEmbedding.objects.get(voice=voice)
    assert row.text_hash == services.text_hash(voice.text)
    assert engine.from_bytes(bytes(row.vector)).shape == (384,)
    unconsented = VoiceFactory(prompt=prompts["needs-to-have"], submitted=True, consent_analysis=False)
    assert services.embed_voice(unconsented) is False
    assert not VoiceEmbedding.objects.filter(voice=unconsented).exists()


def test_scope_by_prompt_place_and_dates(campaign, prompts, corpus):
    other = next(p for slug, p in sorted(prompts.items()) if slug != "needs-to-have")
    ontario = Place.objects.create(
        campaign=campaign, slug="ontario", kind=Place.Kind.PROVINCE, name_en="Ontario", name_fr="Ontario", province="ON"
    )
    toronto = Place.objects.create(
        campaign=campaign,
        slug="toronto",
        kind=Place.Kind.MUNICIPALITY,
        name_en="Toronto",
        name_fr="Toronto",
        province="ON",
        parent=ontario,
    )
    ids = sorted(corpus)
    Voice.objects.filter(pk__in=ids[:20]).update(province="QC")
    Voice.objects.filter(pk__in=ids[20:26]).update(place=toronto, province="QC")  # placed in Toronto
    Voice.objects.filter(pk__in=ids[26:30]).update(prompt=other)
    Voice.objects.filter(pk__in=ids[:10]).update(submitted_at=timezone.now() - timedelta(days=40))

    by_prompt = run_now(campaign, prompt=other, min_themes=1, max_themes=2)
    assert set(members(by_prompt)) == set(ids[26:30])

    by_province = run_now(campaign, place=ontario, min_themes=2, max_themes=3)
    assert set(members(by_province)) == set(ids[20:])  # Ontario's voices, and Toronto's
    by_city = run_now(campaign, place=toronto, min_themes=1, max_themes=2)
    assert set(members(by_city)) == set(ids[20:26])

    today = timezone.localdate()
    recent = run_now(campaign, date_from=today - timedelta(days=7), date_to=today)
    assert set(members(recent)) == set(ids[10:])
    old = run_now(campaign, date_to=today - timedelta(days=30), min_themes=1, max_themes=2)
    assert set(members(old)) == set(ids[:10])


def test_start_run_checks_its_options_with_clear_messages(campaign, prompts, organizer, settings):
    settings.THEMES_MAX_THEMES = 40
    with pytest.raises(ValidationError) as error:
        services.start_run(campaign, organizer, min_themes=0, max_themes=50, backend="word2vec", enqueue=False)
    assert set(error.value.message_dict) == {"min_themes", "max_themes", "backend"}
    assert error.value.message_dict["max_themes"] == ["Ask for at most 40 themes."]
    with pytest.raises(ValidationError) as error:
        services.start_run(campaign, organizer, min_themes=5, max_themes=4, enqueue=False)
    assert "fewer than the fewest" in error.value.message_dict["max_themes"][0]
    today = timezone.localdate()
    with pytest.raises(ValidationError) as error:
        services.start_run(campaign, organizer, date_from=today, date_to=today - timedelta(days=1), enqueue=False)
    assert error.value.message_dict == {"date_to": ["The end date is before the start date."]}
    with pytest.raises(ValidationError) as error:
        services.start_run(campaign, organizer, backend="sentence-transformers", enqueue=False)
    assert "backend" in error.value.message_dict
    assert not SynthesisRun.objects.exists()
    run = services.start_run(campaign, organizer, min_themes=2, max_themes=8, seed=3, enqueue=False)
    assert (run.status, run.stage, run.backend, run.seed, run.started_by) == ("queued", "queued", "e5", 3, organizer)


def test_an_engine_error_fails_the_run_and_writes_nothing(campaign, corpus, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the clustering fell over")

    monkeypatch.setattr(services.engine, "synthesize", broken)
    run = services.execute_run(services.start_run(campaign, None, enqueue=False))
    assert run.status == SynthesisRun.Status.FAILED
    assert run.error == "RuntimeError: the clustering fell over"
    assert run.finished_at is not None
    assert not run.themes.exists() and not run.memberships.exists()
    assert (run.total, run.in_themes, run.raw_themes) == (0, 0, {})
    # A failed (or finished) run is never started again.
    monkeypatch.undo()
    assert services.execute_run(run).status == SynthesisRun.Status.FAILED


def test_a_failure_while_saving_leaves_no_half_written_run(campaign, corpus, monkeypatch):
    real = Membership.objects.bulk_create

    def failing(objs, *args, **kwargs):
        real(list(objs)[:3], *args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(Membership.objects, "bulk_create", failing)
    run = services.execute_run(services.start_run(campaign, None, enqueue=False))
    assert run.status == SynthesisRun.Status.FAILED and "disk full" in run.error
    assert not Theme.objects.filter(run=run).exists()
    assert not Membership.objects.filter(run=run).exists()


def test_progress_is_written_to_the_run_as_it_goes(campaign, corpus):
    seen = []
    run = services.start_run(campaign, None, enqueue=False, min_themes=3, max_themes=3)

    def watch(fraction, stage):
        seen.append((fraction, stage, SynthesisRun.objects.values_list("stage", flat=True).get(pk=run.pk)))

    services.execute_run(run, on_progress=watch)
    stages = [stage for _, stage, _ in seen]
    assert stages[0] == "embed" and stages[-1] == "done"
    assert {"cluster", "curate", "save"} <= set(stages)
    fractions = [f for f, _, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Each new stage is in the database by the time the next step starts.
    assert any(stored == "curate" for _, stage, stored in seen if stage == "save")


def test_publish_only_a_finished_run(campaign, corpus, organizer):
    queued = services.start_run(campaign, organizer, enqueue=False)
    with pytest.raises(ValidationError):
        services.publish(queued, organizer)
    run = run_now(campaign)
    run = services.publish(run, organizer)
    assert run.published_at is not None and run.published_by == organizer
    assert services.unpublish(run, organizer).published_at is None


# --- stable keys ------------------------------------------------------------------------------------------


def test_a_second_run_with_new_voices_keeps_every_theme_key(campaign, prompts, corpus):
    first = run_now(campaign)
    before = theme_of_topic(first, corpus)
    everyone = {**corpus, **later_voices(prompts["needs-to-have"])}
    second = run_now(campaign)
    assert theme_of_topic(second, everyone) == before
    assert set(second.themes.values_list("key", flat=True)) == set(before.values())
    placed = members(second)
    assert set(placed) == set(everyone)
    # Voices stay where they were: the themes changed size, not meaning.
    kept = [v for v in corpus if placed[v] == members(first)[v]]
    assert len(kept) >= 0.9 * len(corpus)
    assert sum(placed[v] == before[topic] for v, topic in everyone.items()) >= 0.9 * len(everyone)


# --- curation -----------------------------------------------------------------------------------------------


def test_rename_hide_and_pin_apply_at_once_and_survive_a_rerun(campaign, prompts, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    housing, transit = keys["housing"], keys["transit"]
    services.rename(campaign, housing, "  Housing   we can afford ", "Logement abordable", organizer)
    services.hide(campaign, transit, organizer)
    services.hide(campaign, transit, organizer)  # already hidden: no second entry in the history
    # Pin a published housing voice that the run did not pick as a quote.
    theme = Theme.objects.get(run=run, key=housing)
    candidate = (
        Membership.objects.filter(run=run, theme=theme, voice__status=Voice.Status.PUBLISHED)
        .exclude(voice_id__in=theme.quote_ids)
        .values_list("voice_id", flat=True)
        .first()
    )
    pinned = Voice.objects.get(pk=candidate)
    services.pin_quote(campaign, housing, pinned, organizer)
    theme.refresh_from_db()
    assert theme.quote_ids[0] == pinned.pk and len(theme.quote_ids) == 5  # at once

    curation = Curation.objects.get(campaign=campaign, key=housing)
    assert (curation.name_en, curation.name_fr) == ("Housing we can afford", "Logement abordable")
    assert Curation.objects.get(campaign=campaign, key=transit).hidden is True

    later_voices(prompts["needs-to-have"])
    second = run_now(campaign)
    assert theme_of_topic(second, {**corpus}) == keys
    new_theme = Theme.objects.get(run=second, key=housing)
    assert new_theme.quote_ids[0] == pinned.pk
    assert Curation.objects.get(campaign=campaign, key=housing).name_en == "Housing we can afford"
    assert Curation.objects.get(campaign=campaign, key=transit).hidden is True

    history = list(CurationAction.objects.filter(campaign=campaign).order_by("at", "id"))
    assert [(a.key, a.action) for a in history] == [(housing, "rename"), (transit, "hide"), (housing, "pin")]
    assert all(a.actor == organizer for a in history)
    assert history[0].detail == {
        "before": {"name_en": "", "name_fr": ""},
        "after": {"name_en": "Housing we can afford", "name_fr": "Logement abordable"},
    }
    assert history[2].detail == {"before": {"voice": ""}, "after": {"voice": str(pinned.public_id)}}

    services.show(campaign, transit, organizer)
    services.unpin(campaign, housing, organizer)
    assert Curation.objects.get(campaign=campaign, key=transit).hidden is False
    assert Curation.objects.get(campaign=campaign, key=housing).pinned_quote is None
    assert CurationAction.objects.filter(action__in=["show", "unpin"]).count() == 2
    # Unpinning gives back the quotes the run chose, as a run without the pin chooses them.
    new_theme.refresh_from_db()
    third = run_now(campaign)
    assert Theme.objects.get(run=third, key=housing).quote_ids == new_theme.quote_ids
    assert new_theme.quote_ids[0] != pinned.pk


def test_pinning_needs_a_published_voice_of_the_theme(campaign, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    unpublished = Voice.objects.filter(pk__in=corpus, status=Voice.Status.ACCEPTED).first()
    with pytest.raises(ValidationError, match="Only a published voice"):
        services.pin_quote(campaign, members(run)[unpublished.pk], unpublished, organizer)
    transit_voice = next(
        Voice.objects.get(pk=v)
        for v, topic in corpus.items()
        if topic == "transit" and members(run)[v] == keys["transit"] and Voice.objects.get(pk=v).status == "published"
    )
    with pytest.raises(ValidationError, match="not in this theme"):
        services.pin_quote(campaign, keys["housing"], transit_voice, organizer)
    with pytest.raises(ValidationError, match="no theme"):
        services.rename(campaign, "t0000000000", "Nothing", "Rien", organizer)
    assert not Curation.objects.filter(pinned_quote__isnull=False).exists()
    assert not CurationAction.objects.exists()


def test_merge_applies_at_once_and_survives_a_rerun(campaign, prompts, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    food, transit = keys["food"], keys["transit"]
    sizes = dict(run.themes.values_list("key", "size"))
    with pytest.raises(ValidationError):
        services.merge(campaign, food, food, organizer)

    services.merge(campaign, food, transit, organizer)

    themes = dict(Theme.objects.filter(run=run).values_list("key", "size"))
    assert food not in themes
    assert themes[transit] == sizes[food] + sizes[transit]
    merged = Theme.objects.get(run=run, key=transit)
    assert merged.merged_from == [food]
    assert {"en", "fr"} <= set(merged.keyphrases)
    run.refresh_from_db()
    assert run.in_themes == len(corpus) and run.total == len(corpus)
    assert all(key != food for key in members(run).values())
    # The engine's own themes are kept: the next run is matched to them, then the merge applies again.
    assert food in run.raw_themes

    later_voices(prompts["needs-to-have"])
    second = run_now(campaign)
    after = dict(second.themes.values_list("key", "size"))
    assert set(after) == {keys["housing"], transit}
    # Every voice of the engine's food theme went to the theme it was merged into: most food voices.
    food_raw = list(Membership.objects.filter(run=second, raw_key=food).values_list("voice_id", flat=True))
    assert {members(second)[v] for v in food_raw} == {transit}
    food_voices = [v for v, topic in corpus.items() if topic == "food"]
    assert sum(members(second)[v] == transit for v in food_voices) >= 0.8 * len(food_voices)
    action = CurationAction.objects.get(action="merge")
    assert (action.key, action.detail, action.actor) == (
        food,
        {"before": {"merged_into": ""}, "after": {"merged_into": transit}},
        organizer,
    )


def test_split_applies_at_once_and_survives_a_rerun(campaign, prompts, corpus, organizer):
    run = run_now(campaign)
    housing = theme_of_topic(run, corpus)["housing"]
    size = Theme.objects.get(run=run, key=housing).size
    with pytest.raises(ValidationError):
        services.split(campaign, housing, organizer, parts=1)

    curation = services.split(campaign, housing, organizer, parts=2)

    children = [part["key"] for part in curation.split_into]
    assert len(children) == 2 and housing not in children
    themes = {t.key: t for t in Theme.objects.filter(run=run)}
    assert housing not in themes and set(children) <= set(themes)
    assert sum(themes[c].size for c in children) == size
    assert all(themes[c].size >= 1 and themes[c].split_from == housing for c in children)
    housing_voices = [v for v, topic in corpus.items() if topic == "housing" and members(run)[v] in children]
    assert len(housing_voices) >= size - 2

    later_voices(prompts["needs-to-have"])
    second = run_now(campaign)
    placed = members(second)
    assert housing not in set(placed.values())
    assert {placed[v] for v in housing_voices} == set(children)  # both parts live on
    # Most voices stay in the part they were in.
    same = sum(placed[v] == members(run)[v] for v in housing_voices)
    assert same >= 0.8 * len(housing_voices)
    action = CurationAction.objects.get(action="split")
    assert action.detail["after"]["split_into"] == children
    assert sum(action.detail["after"]["sizes"]) == size


def test_curation_of_a_split_part_and_a_merge_into_it_follow_the_parts(campaign, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    parts = [p["key"] for p in services.split(campaign, keys["housing"], organizer).split_into]
    services.rename(campaign, parts[0], "Rent", "Loyer", organizer)
    services.merge(campaign, keys["food"], parts[1], organizer)
    second = run_now(campaign)
    themes = dict(second.themes.values_list("key", "merged_from"))
    assert set(themes) == {parts[0], parts[1], keys["transit"]}
    assert themes[parts[1]] == [keys["food"]]
    assert Curation.objects.get(campaign=campaign, key=parts[0]).name_en == "Rent"


# --- new voices and withdrawal ---------------------------------------------------------------------------------


def test_a_new_voice_joins_its_nearest_theme_provisionally(campaign, prompts, corpus, settings):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    voice = add_voice(
        prompts["needs-to-have"], "transit", "fr", "Il faut plus d'autobus le soir et un métro accessible."
    )
    assert services.embed_voice(voice) is True
    membership = services.assign_new_voice(voice)
    assert membership.provisional is True and membership.raw_key == ""
    assert membership.theme.key == keys["transit"]
    assert membership.similarity >= settings.THEMES_ASSIGN_FLOOR
    assert services.assign_new_voice(voice) is None  # already placed
    run.refresh_from_db()
    assert run.total == len(corpus) + 1 and run.in_themes == len(corpus) + 1
    assert (
        Theme.objects.get(run=run, key=keys["transit"]).size == len([t for t in corpus.values() if t == "transit"]) + 1
    )

    # About none of the themes: "new, not yet in a theme" until the next run.
    other = add_voice(prompts["needs-to-have"], "none", "en", "I like turtles and the colour blue.")
    membership = services.assign_new_voice(other)
    assert (membership.theme, membership.reason, membership.provisional) == (None, NEW, True)
    run.refresh_from_db()
    assert run.excluded[NEW] == 1 and run.total == run.in_themes + sum(run.excluded.values())

    unconsented = VoiceFactory(prompt=prompts["needs-to-have"], published=True, consent_analysis=False)
    assert services.assign_new_voice(unconsented) is None
    # The next run takes the new voices in for good.
    second = run_now(campaign)
    assert not second.memberships.filter(provisional=True).exists()
    assert members(second)[voice.pk] == keys["transit"]


def test_a_merge_moves_provisional_voices_too(campaign, prompts, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    voice = add_voice(prompts["needs-to-have"], "food", "en", "A community garden where neighbours share meals.")
    services.embed_voice(voice)
    assert services.assign_new_voice(voice).theme.key == keys["food"]
    services.merge(campaign, keys["food"], keys["housing"], organizer)
    membership = Membership.objects.get(run=run, voice=voice)
    assert membership.provisional and membership.theme.key == keys["housing"]


def test_a_withdrawn_voice_leaves_every_theme_and_its_embeddings_are_erased(campaign, corpus, organizer):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    theme = Theme.objects.get(run=run, key=keys["housing"])
    voice = Voice.objects.get(pk=theme.quote_ids[1])
    services.pin_quote(campaign, keys["housing"], voice, organizer)
    size = Theme.objects.get(pk=theme.pk).size

    voice_services.voice_withdraw(voice=voice)

    assert not Membership.objects.filter(voice=voice).exists()
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()
    theme.refresh_from_db()
    assert theme.size == size - 1 and voice.pk not in theme.quote_ids
    assert Curation.objects.get(campaign=campaign, key=keys["housing"]).pinned_quote is None
    run.refresh_from_db()
    assert run.total == len(corpus) - 1 and run.in_themes == len(corpus) - 1
    second = run_now(campaign)
    assert voice.pk not in members(second)


def test_a_taken_down_voice_leaves_the_themes(campaign, corpus, prompts):
    from belonging.voices.models import ReasonCode

    run = run_now(campaign)
    voice = Voice.objects.filter(pk__in=corpus, status=Voice.Status.PUBLISHED).first()
    reason = ReasonCode.objects.first()
    voice_services.voice_take_down(voice=voice, moderator=None, reason=reason)
    assert not Membership.objects.filter(voice=voice).exists()
    run.refresh_from_db()
    assert run.total == len(corpus) - 1


# --- keys follow runs of the same scope ---------------------------------------------------------------------


def test_a_province_run_between_two_full_runs_leaves_the_full_runs_keys(campaign, prompts, corpus):
    ontario = Place.objects.create(
        campaign=campaign, slug="ontario", kind=Place.Kind.PROVINCE, name_en="Ontario", name_fr="Ontario", province="ON"
    )
    first = run_now(campaign)
    keys = theme_of_topic(first, corpus)
    # Ontario's voices are about housing and transit only: its run has no food theme.
    Voice.objects.filter(pk__in=[v for v, topic in corpus.items() if topic != "food"]).update(province="ON")
    Voice.objects.filter(pk__in=[v for v, topic in corpus.items() if topic == "food"]).update(province="QC")
    province = run_now(campaign, place=ontario, min_themes=2, max_themes=2)
    assert keys["food"] not in set(province.themes.values_list("key", flat=True))
    assert services._previous_run(province).pk == first.pk  # no earlier run of its scope: the latest

    everyone = {**corpus, **later_voices(prompts["needs-to-have"])}
    second = run_now(campaign)
    # Matched to the first full run (same scope), not to the province's run in between: food keeps its key.
    assert theme_of_topic(second, everyone) == keys
    assert services._previous_run(second).pk == first.pk


# --- interrupted and stale runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_run_is_marked_failed_and_the_interruption_goes_on(campaign, corpus, monkeypatch, interruption):
    def interrupted(*args, **kwargs):
        raise interruption()

    monkeypatch.setattr(services.engine, "synthesize", interrupted)
    run = services.start_run(campaign, None, enqueue=False)
    with pytest.raises(interruption):
        services.execute_run(run)
    run.refresh_from_db()
    assert run.status == SynthesisRun.Status.FAILED and run.finished_at is not None
    assert run.error == f"The run was interrupted ({interruption.__name__}) before it finished."
    assert not run.themes.exists() and not run.memberships.exists()


def test_the_heartbeat_is_written_with_the_progress(campaign, corpus):
    run = services.start_run(campaign, None, enqueue=False, min_themes=3, max_themes=3)
    long_ago = timezone.now() - timedelta(hours=2)
    SynthesisRun.objects.filter(pk=run.pk).update(updated_at=long_ago)
    beats = []

    def watch(fraction, stage):
        beats.append(SynthesisRun.objects.values_list("updated_at", flat=True).get(pk=run.pk))

    services.execute_run(run, on_progress=watch)
    assert beats[1] > long_ago  # from the first progress step on
    assert beats == sorted(beats)


def test_starting_a_run_fails_runs_whose_worker_stopped(campaign, corpus, organizer):
    stale = services.start_run(campaign, organizer, enqueue=False)
    alive = services.start_run(campaign, organizer, enqueue=False)
    waiting = services.start_run(campaign, organizer, enqueue=False)
    now = timezone.now()
    SynthesisRun.objects.filter(pk=stale.pk).update(status="running", updated_at=now - timedelta(minutes=31))
    SynthesisRun.objects.filter(pk=alive.pk).update(status="running", updated_at=now - timedelta(minutes=29))
    SynthesisRun.objects.filter(pk=waiting.pk).update(updated_at=now - timedelta(hours=3))  # queued: waits

    services.start_run(campaign, organizer, enqueue=False)

    stale.refresh_from_db()
    assert (stale.status, stale.error) == ("failed", "The worker stopped before the run finished.")
    assert stale.finished_at is not None
    assert SynthesisRun.objects.get(pk=alive.pk).status == "running"
    assert SynthesisRun.objects.get(pk=waiting.pk).status == "queued"
    # A run given up as stale that wakes up writes nothing.
    SynthesisRun.objects.filter(pk=waiting.pk).update(status="running", updated_at=now - timedelta(hours=1))
    real = services._lock_campaign

    def fail_meanwhile(campaign_id):
        services.fail_stale_runs(campaign_id)
        return real(campaign_id)

    SynthesisRun.objects.filter(pk=waiting.pk).update(status="queued")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "_lock_campaign", fail_meanwhile)
        patch.setattr(services, "STALE_AFTER", timedelta(seconds=-60))
        run = services.execute_run(SynthesisRun.objects.get(pk=waiting.pk))
    assert run.status == "failed" and not run.themes.exists() and not run.memberships.exists()


# --- one run per form ------------------------------------------------------------------------------------------


def test_the_same_request_key_starts_one_run(campaign, prompts, organizer):
    key = uuid.uuid4()
    first = services.start_run(campaign, organizer, request_key=key)
    again = services.start_run(campaign, organizer, request_key=str(key), min_themes=4, max_themes=9)
    assert again.pk == first.pk and SynthesisRun.objects.count() == 1
    other = services.start_run(campaign, organizer, request_key=uuid.uuid4())
    assert other.pk != first.pk
    # Without a key (the command, an old form), every request starts a run.
    services.start_run(campaign, organizer)
    services.start_run(campaign, organizer, request_key="")
    assert SynthesisRun.objects.count() == 4


# --- races: what changes while a run computes or a voice is placed -------------------------------------------------


def withdraw_unseen(voice: Voice) -> None:
    """The voice is withdrawn by another request, whose own clean-up of the themes this one cannot see."""
    Voice.objects.filter(pk=voice.pk).update(
        status=Voice.Status.WITHDRAWN, consent_analysis=False, text="", email="", withdrawn_at=timezone.now()
    )


@pytest.mark.parametrize("retries", [2, 0])
def test_a_merge_made_while_a_run_saves_applies_to_it(campaign, corpus, organizer, monkeypatch, retries):
    first = run_now(campaign)
    keys = theme_of_topic(first, corpus)
    real = services._build_themes
    calls = []

    def merge_meanwhile(campaign_id, raw_groups, space, config):
        built = real(campaign_id, raw_groups, space, config)
        calls.append(len(calls))
        if len(calls) == 1:  # the new run's themes are built: an organizer merges before they are saved
            services.merge(campaign, keys["food"], keys["transit"], organizer)
        return built

    monkeypatch.setattr(services, "CURATION_RETRIES", retries)
    monkeypatch.setattr(services, "_build_themes", merge_meanwhile)
    second = run_now(campaign)
    assert len(calls) == 3  # the run's build, the merge's, the run's again (outside or under the lock)
    themes = dict(second.themes.values_list("key", "merged_from"))
    assert keys["food"] not in themes and themes[keys["transit"]] == [keys["food"]]
    food = [v for v, topic in corpus.items() if topic == "food"]
    assert sum(members(second)[v] == keys["transit"] for v in food) >= 0.8 * len(food)


def test_a_voice_withdrawn_while_a_run_saves_leaves_it(campaign, corpus, monkeypatch):
    run_now(campaign)
    voice = Voice.objects.filter(pk__in=corpus, status=Voice.Status.PUBLISHED).first()
    real = Membership.objects.bulk_create
    done = []

    def withdrawn_meanwhile(objs, *args, **kwargs):
        created = real(objs, *args, **kwargs)
        if not done:  # withdrawn after the run checked who may be analysed, before its results commit
            done.append(True)
            withdraw_unseen(voice)
        return created

    monkeypatch.setattr(Membership.objects, "bulk_create", withdrawn_meanwhile)
    second = run_now(campaign)
    assert not Membership.objects.filter(run=second, voice=voice).exists()
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()
    assert second.total == len(corpus) - 1 == second.in_themes + sum(second.excluded.values())
    assert sum(second.themes.values_list("size", flat=True)) == second.in_themes
    assert all(voice.pk not in quotes for quotes in second.themes.values_list("quote_ids", flat=True))


def test_a_voice_approved_while_a_run_computes_joins_it(campaign, prompts, corpus, monkeypatch):
    first = run_now(campaign)
    keys = theme_of_topic(first, corpus)
    real = services.engine.synthesize
    late = []

    def approved_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        late.append(
            add_voice(prompts["needs-to-have"], "transit", "en", "More buses at night and a free transit pass.")
        )
        return result

    monkeypatch.setattr(services.engine, "synthesize", approved_meanwhile)
    second = run_now(campaign)
    membership = Membership.objects.get(run=second, voice=late[0])
    assert membership.provisional and membership.theme.key == keys["transit"]
    assert second.total == len(corpus) + 1 == second.in_themes


def test_a_voice_withdrawn_while_being_placed_is_not_placed(campaign, prompts, corpus, monkeypatch):
    run = run_now(campaign)
    voice = add_voice(prompts["needs-to-have"], "transit", "en", "The bus should come every ten minutes.")
    real = services.ensure_embeddings

    def withdrawn_meanwhile(voices, *args, **kwargs):
        vectors = real(voices, *args, **kwargs)
        withdraw_unseen(voice)
        return vectors

    monkeypatch.setattr(services, "ensure_embeddings", withdrawn_meanwhile)
    assert services.assign_new_voice(voice) is None
    assert not Membership.objects.filter(voice=voice).exists()
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()
    run.refresh_from_db()
    assert run.total == len(corpus)


def test_a_new_voice_reaches_the_published_run_when_a_newer_one_is_not_published(campaign, prompts, corpus, organizer):
    published = services.publish(run_now(campaign), organizer)
    newer = run_now(campaign)
    keys = theme_of_topic(newer, corpus)
    voice = add_voice(prompts["needs-to-have"], "food", "en", "A community garden where neighbours share meals.")

    membership = services.assign_new_voice(voice)

    assert membership.run_id == newer.pk and membership.theme.key == keys["food"]
    in_published = Membership.objects.get(run=published, voice=voice)
    assert in_published.provisional and in_published.theme.key == theme_of_topic(published, corpus)["food"]
    published.refresh_from_db()
    assert published.total == len(corpus) + 1
    assert services.assign_new_voice(voice) is None
    # Once the newer run is published, new voices go to it alone.
    services.publish(newer, organizer)
    other = add_voice(prompts["needs-to-have"], "housing", "en", "Affordable rent so families can stay.")
    assert services.assign_new_voice(other).run_id == newer.pk
    assert list(Membership.objects.filter(voice=other).values_list("run_id", flat=True)) == [newer.pk]


# --- the cached report is invalidated by every write --------------------------------------------------------------


def test_every_write_invalidates_the_cached_report(
    campaign, prompts, corpus, organizer, monkeypatch, django_capture_on_commit_callbacks
):
    from belonging.themes import selectors

    bumped = []
    monkeypatch.setattr(selectors, "bump_report_version", bumped.append)

    def bumps(action) -> list[int]:
        bumped.clear()
        with django_capture_on_commit_callbacks(execute=True):
            action()
        return list(bumped)

    run = services.execute_run(services.start_run(campaign, None, enqueue=False, min_themes=3, max_themes=3))
    assert run.status == "done"
    assert bumps(lambda: run_now(campaign)) == [campaign.pk]
    run = services.latest_run(campaign)
    keys = theme_of_topic(run, corpus)
    assert bumps(lambda: services.publish(run, organizer)) == [campaign.pk]
    assert bumps(lambda: services.unpublish(run, organizer)) == [campaign.pk]
    assert bumps(lambda: services.rename(campaign, keys["food"], "Food", "Nourriture", organizer)) == [campaign.pk]
    assert bumps(lambda: services.hide(campaign, keys["food"], organizer)) == [campaign.pk]
    assert bumps(lambda: services.show(campaign, keys["food"], organizer)) == [campaign.pk]
    theme = Theme.objects.get(run=run, key=keys["housing"])
    assert bumps(
        lambda: services.pin_quote(campaign, keys["housing"], Voice.objects.get(pk=theme.quote_ids[1]), organizer)
    )
    assert bumps(lambda: services.unpin(campaign, keys["housing"], organizer)) == [campaign.pk]
    assert bumps(lambda: services.merge(campaign, keys["food"], keys["transit"], organizer)) == [campaign.pk]
    assert bumps(lambda: services.split(campaign, keys["housing"], organizer)) == [campaign.pk]
    voice = add_voice(prompts["needs-to-have"], "transit", "en", "The bus should come every ten minutes.")
    assert bumps(lambda: services.assign_new_voice(voice)) == [campaign.pk]
    assert bumps(lambda: services.remove_voice(voice)) == [campaign.pk]
    assert bumps(lambda: services.relabel_run(run.pk)) == [campaign.pk]


# --- curation at scale ------------------------------------------------------------------------------------------------


def test_a_merge_writes_only_what_changed_in_a_few_queries(campaign, corpus, organizer, django_assert_max_num_queries):
    run = run_now(campaign)
    keys = theme_of_topic(run, corpus)
    # About 30 queries whatever the number of voices (51 here): none per voice or per theme.
    with django_assert_max_num_queries(40):
        services.merge(campaign, keys["food"], keys["transit"], organizer)
    run.refresh_from_db()
    assert run.in_themes == len(corpus) and run.themes.count() == 2
