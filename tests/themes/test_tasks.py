"""Themes background work with the real database worker: runs as tasks, and voices embedded when
confirmed, embedded again when edited or redacted, placed in the latest themes when approved."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django_tasks_db.models import DBTaskResult

from belonging.lib import themes as engine
from belonging.themes import services, tasks
from belonging.themes.models import Membership, SynthesisRun, Theme, VoiceEmbedding
from belonging.voices import services as voice_services
from belonging.voices.models import Voice
from tests.themes.conftest import add_voice, run_now, theme_of_topic
from tests.voices.conftest import share_and_submit, voice_input

pytestmark = pytest.mark.django_db

HOUSING = "Rent went up again and affordable housing is out of reach; my family may have to move away."


def queued(name: str) -> int:
    return DBTaskResult.objects.filter(status="READY", task_path__endswith=name).count()


def test_a_run_started_by_an_organizer_is_done_by_the_worker(campaign, corpus, organizer, run_tasks):
    run = services.start_run(campaign, organizer, min_themes=3, max_themes=3)
    assert run.status == SynthesisRun.Status.QUEUED
    assert queued("execute_run") == 1
    run_tasks()
    run.refresh_from_db()
    assert run.status == SynthesisRun.Status.DONE, run.error
    assert run.themes.count() == 3 and run.total == len(corpus)
    # The task again (a retry, a second worker): the run is not started twice.
    assert tasks.execute_run.call(run.pk) == "done"
    assert run.memberships.count() == len(corpus)


def test_a_confirmed_voice_is_embedded_once_by_a_task(prompts, run_tasks, django_capture_on_commit_callbacks):
    prompt = prompts["needs-to-have"]
    with django_capture_on_commit_callbacks(execute=True):
        voice = share_and_submit(prompt, run_tasks, text=HOUSING)
    assert voice.status == Voice.Status.SUBMITTED
    assert queued("embed_voice") == 1
    run_tasks()
    stored = VoiceEmbedding.objects.get(voice=voice)
    assert stored.backend == "e5-small-q4"
    assert stored.text_hash == services.text_hash(HOUSING)
    assert engine.from_bytes(bytes(stored.vector)).shape == (384,)
    # The same task again computes nothing.
    assert tasks.embed_voice.call(voice.pk) is True
    assert VoiceEmbedding.objects.filter(voice=voice).get().pk == stored.pk


def test_a_voice_without_consent_to_analysis_is_never_embedded(prompts, run_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        voice = share_and_submit(prompts["needs-to-have"], run_tasks, text=HOUSING, consent_analysis=False)
    run_tasks()
    assert queued("embed_voice") == 0
    assert tasks.embed_voice.call(voice.pk) is False
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()


def test_an_edit_embeds_the_new_text(prompts, run_tasks, django_capture_on_commit_callbacks):
    prompt = prompts["needs-to-have"]
    with django_capture_on_commit_callbacks(execute=True):
        voice = share_and_submit(prompt, run_tasks, text=HOUSING)
    run_tasks()
    edited = "The night bus was cut, and now I cannot get home from work."
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_edit(voice=voice, data=voice_input(prompt, text=edited))
    run_tasks()
    assert VoiceEmbedding.objects.get(voice=voice).text_hash == services.text_hash(edited)
    # Taking back consent to analysis in an edit erases the embedding.
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_edit(voice=voice, data=voice_input(prompt, text=edited, consent_analysis=False))
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()


def test_an_approved_voice_joins_the_latest_themes(
    campaign, corpus, prompts, moderator, run_tasks, django_capture_on_commit_callbacks
):
    run = run_now(campaign)
    housing = theme_of_topic(run, corpus)["housing"]
    with django_capture_on_commit_callbacks(execute=True):
        voice = share_and_submit(prompts["needs-to-have"], run_tasks, text=HOUSING)
    run_tasks()
    assert not Membership.objects.filter(voice=voice).exists()  # waiting for review: not analysed yet
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_approve(voice=voice, moderator=moderator)
    run_tasks()
    membership = Membership.objects.get(run=run, voice=voice)
    assert membership.provisional and membership.theme.key == housing
    run.refresh_from_db()
    assert run.total == len(corpus) + 1


def test_a_redaction_at_approval_is_what_gets_embedded(
    prompts, moderator, run_tasks, django_capture_on_commit_callbacks
):
    text = "Rent went up again, said my landlord Bob Tremblay, and affordable housing is out of reach."
    with django_capture_on_commit_callbacks(execute=True):
        voice = share_and_submit(prompts["needs-to-have"], run_tasks, text=text)
    run_tasks()
    redacted = "Rent went up again, said my landlord [removed], and affordable housing is out of reach."
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_approve(voice=voice, moderator=moderator, redacted_text=redacted)
    run_tasks()
    assert VoiceEmbedding.objects.get(voice=voice).text_hash == services.text_hash(redacted)


def test_another_backend_embeds_separately_and_still_keeps_keys(campaign, corpus):
    """The lexical backend (no model) stores its own vectors beside e5's; a run with it is still matched
    to the previous e5 run by the voices themes share."""
    first = run_now(campaign)
    second = run_now(campaign, backend="lexical")
    assert second.backend_name.startswith("lexical")
    assert VoiceEmbedding.objects.filter(backend=second.backend_name).count() == len(corpus)
    assert VoiceEmbedding.objects.filter(backend=first.backend_name).count() == len(corpus)
    assert second.total == len(corpus) == second.in_themes + sum(second.excluded.values())
    shared = set(first.themes.values_list("key", flat=True)) & set(second.themes.values_list("key", flat=True))
    assert shared  # at least one theme continued across the change of embeddings


# --- a withdrawal describes the themes again ----------------------------------------------------------

TOWERS = [
    "The rent at Maplewood Towers went up again and affordable housing is gone for families like mine.",
    "Maplewood Towers tenants face another rent increase; we need affordable housing near work.",
    "Our landlord at Maplewood Towers raised the rent and housing is now unaffordable for seniors.",
]


def phrase_users(phrase: str, texts) -> int:
    """How many of ``texts`` use ``phrase`` (as the engine sees words: folded, without accents)."""
    from belonging.lib.textfold import fold

    words = phrase.split()
    count = 0
    for text in texts:
        tokens = re.findall(r"[a-z][a-z0-9]+", fold(text.lower()))
        if any(tokens[i : i + len(words)] == words for i in range(len(tokens))):
            count += 1
    return count


def test_a_withdrawal_takes_its_words_out_of_the_keyphrases(
    campaign, prompts, corpus, run_tasks, django_capture_on_commit_callbacks
):
    """A phrase used by exactly as many voices as a keyphrase needs stops being one when one of them is
    withdrawn, once the relabelling task has run; no keyphrase is left that only the withdrawn voice used."""
    towers = [add_voice(prompts["needs-to-have"], "housing", "en", text) for text in TOWERS]
    run = run_now(campaign)
    housing = Theme.objects.get(
        run=run, key=theme_of_topic(run, {**corpus, **{v.pk: "housing" for v in towers}})["housing"]
    )
    assert any("maplewood" in phrase for phrase in housing.keyphrases["en"]), housing.keyphrases
    withdrawn = towers[0]
    withdrawn_text = services.analysis_text(withdrawn)

    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_withdraw(voice=withdrawn)
    assert queued("relabel_run") == 1
    run_tasks()

    housing.refresh_from_db()
    remaining = [
        services.analysis_text(v)
        for v in Voice.objects.filter(theme_memberships__theme=housing, theme_memberships__provisional=False)
    ]
    assert len(remaining) == housing.size
    phrases = [phrase for by_language in housing.keyphrases.values() for phrase in by_language]
    assert phrases and not any("maplewood" in phrase for phrase in phrases)
    for phrase in phrases:
        # Never a word only the withdrawn voice used; every keyphrase is still used by enough voices.
        assert phrase_users(phrase, remaining) >= engine.Config.min_phrase_voices, phrase
    assert phrase_users("maplewood", [withdrawn_text]) == 1 and phrase_users("maplewood", remaining) == 2
    assert housing.languages == dict(
        Counter(Voice.objects.filter(theme_memberships__theme=housing).values_list("language", flat=True))
    )
    assert withdrawn.pk not in housing.quote_ids and len(housing.quote_ids) == 5
    # The task again: nothing changes.
    before = (housing.keyphrases, housing.quote_ids)
    assert tasks.relabel_run.call(run.pk) is True
    housing.refresh_from_db()
    assert (housing.keyphrases, housing.quote_ids) == before
    assert tasks.relabel_run.call(0) is False


# --- rejected and returned voices keep no embedding --------------------------------------------------------


def test_a_rejected_or_returned_voice_keeps_no_embedding(
    prompts, moderator, run_tasks, django_capture_on_commit_callbacks
):
    from belonging.voices.models import ReasonCode

    prompt = prompts["needs-to-have"]
    reason = ReasonCode.objects.first()
    with django_capture_on_commit_callbacks(execute=True):
        rejected = share_and_submit(prompt, run_tasks, text=HOUSING)
        returned = share_and_submit(prompt, run_tasks, text="The night bus was cut and I cannot get home.")
    run_tasks()
    assert VoiceEmbedding.objects.filter(voice__in=[rejected, returned]).count() == 2

    voice_services.voice_reject(voice=rejected, moderator=moderator, reason=reason)
    voice_services.voice_return(voice=returned, moderator=moderator, note="Please leave out the street name.")

    assert not VoiceEmbedding.objects.filter(voice__in=[rejected, returned]).exists()
    # A task queued before the decision embeds nothing afterwards.
    assert tasks.embed_voice.call(rejected.pk) is False
    assert tasks.embed_voice.call(returned.pk) is False
    assert not VoiceEmbedding.objects.filter(voice__in=[rejected, returned]).exists()
    # The author's edit puts the returned voice back in the queue: embedded again.
    edited = "The night bus was cut and I cannot get home from my evening shift."
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_edit(voice=returned, data=voice_input(prompt, text=edited))
    run_tasks()
    assert VoiceEmbedding.objects.get(voice=returned).text_hash == services.text_hash(edited)


def test_a_voice_taken_down_keeps_no_embedding(campaign, corpus, moderator):
    from belonging.voices.models import ReasonCode

    run_now(campaign)
    voice = Voice.objects.filter(pk__in=corpus, status=Voice.Status.PUBLISHED).first()
    voice_services.voice_take_down(voice=voice, moderator=moderator, reason=ReasonCode.objects.first())
    assert not VoiceEmbedding.objects.filter(voice=voice).exists()
    assert not Membership.objects.filter(voice=voice).exists()
