"""Background work for voices: the confirmation code and the moderation outcome emails."""

from __future__ import annotations

from django_tasks import task


@task()
def send_voice_code(voice_id: int) -> bool:
    """Issue a fresh code for a pending voice and email it; False if nothing was sent."""
    from belonging.voices import emails, services
    from belonging.voices.models import Voice

    code = services.voice_issue_code(voice_id=voice_id)
    if code is None:
        return False
    emails.send_confirmation(Voice.objects.select_related("prompt").get(pk=voice_id), code)
    return True


@task()
def send_voice_outcome(voice_id: int) -> bool:
    """Tell the contributor what the moderators decided, in the language they used."""
    from belonging.voices import emails
    from belonging.voices.models import Voice

    voice = Voice.objects.select_related("prompt", "reason").filter(pk=voice_id).first()
    if voice is None or not voice.email or voice.status not in emails.OUTCOME_TEMPLATES:
        return False
    emails.send_outcome(voice)
    return True
