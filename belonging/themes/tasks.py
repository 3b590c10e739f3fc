"""Background work for themes: a voice's embedding (and its provisional theme), and synthesis runs."""

from __future__ import annotations

from django_tasks import task


@task()
def embed_voice(voice_id: int) -> bool:
    """Embed a confirmed voice once (again if its text changed), then, if it may be analysed and a run
    exists, place it provisionally in that run's nearest theme. False if there was nothing to do."""
    from belonging.themes import services
    from belonging.voices.models import Voice

    voice = Voice.objects.filter(pk=voice_id).first()
    if voice is None or not services.embeddable(voice):
        return False
    services.embed_voice(voice)
    services.assign_new_voice(voice)
    return True


@task()
def execute_run(run_id: int) -> str:
    """Run a queued synthesis; returns the run's final status ("done" or "failed"). Safe to run twice:
    only a queued run is started."""
    from belonging.themes import services
    from belonging.themes.models import SynthesisRun

    run = SynthesisRun.objects.filter(pk=run_id).first()
    if run is None:
        return "missing"
    return services.execute_run(run).status


@task()
def relabel_run(run_id: int) -> bool:
    """Describe a finished run's themes again from the voices now in them (after a withdrawal or a
    take-down: no keyphrase keeps a word only a voice that left used). False if the run is gone."""
    from belonging.themes import services
    from belonging.themes.models import SynthesisRun

    SynthesisRun.objects.filter(pk=run_id).update(relabel_pending=False)
    return services.relabel_run(run_id)
