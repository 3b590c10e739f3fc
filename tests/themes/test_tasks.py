"""Themes background work with the real database worker: runs as tasks, and voices embedded when
confirmed, embedded again when edited or redacted, placed in the latest themes when approved."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from belonging.lib import themes as engine
from belonging.themes import services, tasks
from belonging.themes.models import Membership, SynthesisRun, VoiceEmbedding
from belonging.voices import services as voice_services
from belonging.voices.models import Voice
from tests.themes.conftest import run_now, theme_of_topic
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
