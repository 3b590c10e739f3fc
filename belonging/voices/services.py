"""Every write to voices goes through these functions (views, admin, commands, tests).

Contributors share, confirm, edit and withdraw; moderators claim, approve (optionally redacting),
return for edits and reject. Each moderation step is checked against the voice's current state
under a row lock and written to the log; the contributor is told the outcome in their language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from belonging.core import identity
from belonging.core.models import ConsentRecord
from belonging.core.services import consent_record_many
from belonging.core.tokens import code_hash, code_matches, new_code
from belonging.lib import neardup, pii, textfold
from belonging.lib.emails import normalize_email
from belonging.themes import services as theme_services
from belonging.themes import tasks as theme_tasks
from belonging.voices import tasks
from belonging.voices.models import Display, ModerationAction, Prompt, ReasonCode, SelfIdentification, Voice

logger = logging.getLogger(__name__)

CONSENT_WORDING_VERSION = "voice-2026-11"
REDACTION_MARKER = {"en": "[removed]", "fr": "[retiré]"}
DUPLICATE_WINDOW = 5000  # recent voices compared with each new one


class ConfirmError(Exception):
    """Why a confirmation failed: 'invalid', 'expired', 'attempts' or 'withdrawn'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModerationError(Exception):
    """Why a moderation step was refused: 'claimed' (by someone else), 'state' (already decided)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VoiceInput:
    prompt: Prompt
    kind: str
    text: str
    language: str
    province: str
    display: str
    email: str
    page_language: str
    title: str = ""
    community: str = ""
    display_name: str = ""
    consent_publish: bool = False
    consent_analysis: bool = False
    consent_self_id: bool = False
    self_id: identity.Answers | None = field(default=None)


def _apply(voice: Voice, data: VoiceInput) -> None:
    voice.prompt = data.prompt
    voice.campaign_id = data.prompt.campaign_id
    voice.kind = data.kind
    voice.title = " ".join(data.title.split())
    voice.text = data.text.strip()
    voice.language = data.language
    voice.province = data.province
    voice.community = " ".join(data.community.split())
    voice.display = data.display
    voice.display_name = "" if data.display == Display.ANONYMOUS else " ".join(data.display_name.split())
    voice.consent_publish = data.consent_publish
    voice.consent_analysis = data.consent_analysis
    voice.consent_self_id = data.consent_self_id
    voice.page_language = data.page_language
    _derive(voice)


def _validate(voice: Voice) -> None:
    """Field checks plus the constraints' rules, as clear errors before anything is written."""
    voice.full_clean(exclude=["campaign", "prompt"], validate_constraints=False)
    if voice.display != Display.ANONYMOUS and not voice.display_name:
        raise ValidationError({"display_name": "a first name or pseudonym is needed unless anonymous"})


def _derive(voice: Voice) -> None:
    """Fields computed from the text: search document and near-duplicate fingerprint."""
    voice.search_text = textfold.search_document(voice.title, voice.public_text, voice.community)
    voice.fingerprint = neardup.fingerprint(voice.text) if voice.text else None


def _record_consents(voice: Voice) -> None:
    consent_record_many(
        subject=voice.consent_subject,
        consents={
            ConsentRecord.Purpose.PUBLISH_VOICE: voice.consent_publish,
            ConsentRecord.Purpose.ANALYSIS: voice.consent_analysis,
            ConsentRecord.Purpose.SELF_ID_STATS: voice.consent_self_id,
        },
        wording_version=CONSENT_WORDING_VERSION,
        language=voice.page_language,
    )


def _store_self_id(voice: Voice, answers: identity.Answers | None) -> None:
    """Keep self-identification only with consent to statistics; replace any earlier answers."""
    SelfIdentification.objects.filter(voice=voice).delete()
    if not voice.consent_self_id or answers is None:
        return
    SelfIdentification.objects.create(
        voice=voice,
        indigenous=",".join(answers.indigenous),
        population_groups=",".join(answers.population_groups),
        gender=answers.gender,
        two_slgbtq=answers.two_slgbtq,
        disability=answers.disability,
        first_official_language=answers.first_official_language,
        arrival=answers.arrival,
        age_band=answers.age_band,
        financial_difficulty=answers.financial_difficulty,
        communities=identity.encode_communities(identity.communities(answers, voice.province)),
    )


def voice_share(*, data: VoiceInput) -> Voice:
    """Record a voice (pending until its email is confirmed) and send the confirmation code."""
    if not data.prompt.is_open:
        raise ValidationError({"prompt": "this prompt is closed"})
    voice = Voice(email=data.email.strip(), email_normalized=normalize_email(data.email))
    _apply(voice, data)
    voice.expires_at = timezone.now() + timedelta(days=settings.PLEDGE_CONFIRM_DAYS)
    _validate(voice)
    with transaction.atomic():
        voice.save()
        _record_consents(voice)
        _store_self_id(voice, data.self_id)
        # In the same transaction: the email task exists exactly when the voice does.
        tasks.send_voice_code.enqueue(voice.pk)
    return voice


def voice_resend_code(*, email: str) -> bool:
    """Send a fresh code for the newest pending voice of this email; False if there is none."""
    try:
        normalized = normalize_email(email)
    except ValueError:
        return False
    voice = (
        Voice.objects.filter(email_normalized=normalized, status=Voice.Status.PENDING, expires_at__gt=timezone.now())
        .order_by("-id")
        .first()
    )
    if voice is None:
        return False
    tasks.send_voice_code.enqueue(voice.pk)
    return True


def voice_issue_code(*, voice_id: int) -> str | None:
    """Make a fresh code for a pending voice and store its hash; None if it needs no code."""
    with transaction.atomic():
        voice = Voice.objects.select_for_update().filter(pk=voice_id).first()
        if voice is None or voice.status != Voice.Status.PENDING or voice.expires_at < timezone.now():
            return None
        code = new_code()
        voice.code_hash = code_hash(voice.public_id, code)
        voice.code_attempts = 0
        voice.save(update_fields=["code_hash", "code_attempts"])
    return code


def _themes_follow(voice: Voice) -> None:
    """Themes: once this transaction commits, embed the voice (again if its text changed) and place it
    in the latest synthesis; without consent to analysis it leaves every theme instead."""
    if voice.consent_analysis:
        voice_id = voice.pk
        transaction.on_commit(lambda: theme_tasks.embed_voice.enqueue(voice_id))
    else:
        theme_services.remove_voice(voice)


def _submit(voice: Voice) -> Voice:
    if voice.status == Voice.Status.WITHDRAWN:
        raise ConfirmError("withdrawn")
    if voice.status != Voice.Status.PENDING:
        return voice
    if voice.expires_at and voice.expires_at < timezone.now():
        raise ConfirmError("expired")
    voice.status = Voice.Status.SUBMITTED
    voice.submitted_at = timezone.now()
    voice.code_hash = ""
    voice.duplicate_of = _find_duplicate(voice)
    voice.save(update_fields=["status", "submitted_at", "code_hash", "duplicate_of"])
    _themes_follow(voice)
    return voice


def _find_duplicate(voice: Voice) -> Voice | None:
    """The earliest recent voice of the campaign that is nearly the same text (a suggestion only)."""
    if voice.fingerprint is None:
        return None
    recent = (
        Voice.objects.filter(campaign_id=voice.campaign_id, fingerprint__isnull=False)
        .exclude(pk=voice.pk)
        .exclude(status__in=[Voice.Status.PENDING, Voice.Status.WITHDRAWN])
        .order_by("-id")
        .values_list("pk", "fingerprint", "duplicate_of_id")[:DUPLICATE_WINDOW]
    )
    matches = [(pk, dup) for pk, fp, dup in recent if neardup.near(voice.fingerprint, fp)]
    if not matches:
        return None
    pk, dup = min(matches)
    return Voice(pk=dup or pk)


def voice_confirm_with_code(*, email: str, code: str) -> Voice:
    """Confirm the newest pending voice of this email whose code matches; wrong tries count."""
    try:
        normalized = normalize_email(email)
    except ValueError:
        raise ConfirmError("invalid") from None
    code = code.strip()
    with transaction.atomic():
        pending = list(
            Voice.objects.select_for_update()
            .filter(email_normalized=normalized, status=Voice.Status.PENDING)
            .order_by("-id")[:10]
        )
        if not pending:
            raise ConfirmError("invalid")
        for voice in pending:
            if voice.code_attempts < settings.PLEDGE_CODE_MAX_ATTEMPTS and code_matches(
                voice.public_id, code, voice.code_hash
            ):
                return _submit(voice)
        newest = pending[0]
        if newest.expires_at and newest.expires_at < timezone.now():
            raise ConfirmError("expired")
        newest.code_attempts += 1
        newest.save(update_fields=["code_attempts"])
        error = "attempts" if newest.code_attempts >= settings.PLEDGE_CODE_MAX_ATTEMPTS else "invalid"
    raise ConfirmError(error)


def voice_confirm_with_link(*, voice: Voice) -> Voice:
    """Confirm from the emailed link (the caller has checked the link's token)."""
    with transaction.atomic():
        return _submit(Voice.objects.select_for_update().get(pk=voice.pk))


def voice_edit(*, voice: Voice, data: VoiceInput) -> Voice:
    """The contributor changes their voice before publication; it goes back to the queue."""
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=voice.pk)
        if not voice.is_editable:
            raise ModerationError("state")
        _apply(voice, data)
        voice.redacted_text = ""
        _derive(voice)
        _validate(voice)
        if voice.status in (Voice.Status.RETURNED, Voice.Status.SUBMITTED):
            voice.status = Voice.Status.SUBMITTED
            voice.submitted_at = timezone.now()
            voice.claimed_by = None
            voice.claimed_at = None
            voice.duplicate_of = _find_duplicate(voice)
            ModerationAction.objects.create(voice=voice, action=ModerationAction.Action.RESUBMIT)
        voice.save()
        _record_consents(voice)
        _store_self_id(voice, data.self_id)
        _themes_follow(voice)
    return voice


def voice_withdraw(*, voice: Voice) -> Voice:
    """Withdraw: unpublish everywhere, leave every analysis, erase everything personal.

    A tombstone (status, dates, prompt) remains so the moderation log keeps its meaning; the
    consent records gain a "withdrawn" line for each purpose.
    """
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=voice.pk)
        if voice.status == Voice.Status.WITHDRAWN:
            return voice
        voice.status = Voice.Status.WITHDRAWN
        voice.withdrawn_at = timezone.now()
        voice.text = voice.redacted_text = voice.title = voice.community = voice.moderator_note = ""
        voice.email = voice.email_normalized = voice.code_hash = voice.search_text = ""
        voice.display, voice.display_name = Display.ANONYMOUS, ""
        voice.consent_publish = voice.consent_analysis = voice.consent_self_id = False
        voice.fingerprint = None
        voice.claimed_by = voice.claimed_at = None
        voice.save()
        SelfIdentification.objects.filter(voice=voice).delete()
        Voice.objects.filter(duplicate_of=voice).update(duplicate_of=None)
        voice.actions.update(note="")  # notes may quote the erased text
        ModerationAction.objects.create(voice=voice, action=ModerationAction.Action.WITHDRAW)
        _record_consents(voice)
        theme_services.remove_voice(voice)  # out of every theme, its embeddings erased
    return voice


# --- moderation -------------------------------------------------------------------------------


def claim_expired_before() -> Any:
    return timezone.now() - timedelta(minutes=settings.VOICE_CLAIM_MINUTES)


def _free_or_mine(moderator: Any) -> Q:
    return Q(claimed_by__isnull=True) | Q(claimed_by=moderator) | Q(claimed_at__lt=claim_expired_before())


def _take(voice: Voice, moderator: Any) -> Voice:
    """Hold the voice for ``moderator`` with one conditional UPDATE, atomic on every database.

    Refused with 'state' when it no longer waits for review, 'claimed' while someone else holds it.
    """
    taken = Voice.objects.filter(_free_or_mine(moderator), pk=voice.pk, status=Voice.Status.SUBMITTED).update(
        claimed_by=moderator, claimed_at=timezone.now()
    )
    current = Voice.objects.select_for_update().get(pk=voice.pk)
    if not taken:
        raise ModerationError("state" if current.status != Voice.Status.SUBMITTED else "claimed")
    return current


def voice_claim(*, voice: Voice, moderator: Any) -> Voice:
    """Take a voice for review so no one else reviews it; refused while another holds it."""
    with transaction.atomic():
        held_before = Voice.objects.filter(pk=voice.pk, claimed_by=moderator).exists()
        voice = _take(voice, moderator)
        if not held_before:
            ModerationAction.objects.create(voice=voice, moderator=moderator, action=ModerationAction.Action.CLAIM)
    return voice


def voice_release(*, voice: Voice, moderator: Any) -> Voice:
    with transaction.atomic():
        if Voice.objects.filter(pk=voice.pk, claimed_by=moderator).update(claimed_by=None, claimed_at=None):
            ModerationAction.objects.create(voice=voice, moderator=moderator, action=ModerationAction.Action.RELEASE)
    return Voice.objects.get(pk=voice.pk)


def _decide(voice: Voice, moderator: Any) -> Voice:
    """Take the voice for a decision (inside the caller's transaction) and clear the claim."""
    voice = _take(voice, moderator)
    voice.claimed_by = voice.claimed_at = None
    return voice


def voice_approve(*, voice: Voice, moderator: Any, redacted_text: str = "", note: str = "") -> Voice:
    """Approve: published if the contributor consented to publication, else accepted for analysis.

    ``redacted_text``, when given, must be the text with parts replaced by the redaction marker (a
    moderator removes, never adds); it becomes what the public sees.
    """
    redacted_text = redacted_text.strip()
    with transaction.atomic():
        voice = _decide(voice, moderator)
        action = ModerationAction.Action.APPROVE
        if redacted_text and redacted_text != voice.text:
            marker = REDACTION_MARKER[voice.language]
            if not pii.is_redaction_of(voice.text, redacted_text, marker):
                raise ValidationError({"redacted_text": "a redaction may only remove text"})
            voice.redacted_text = redacted_text
            action = ModerationAction.Action.REDACT
        if voice.consent_publish:
            voice.status = Voice.Status.PUBLISHED
            voice.published_at = timezone.now()
        else:
            voice.status = Voice.Status.ACCEPTED
        voice.reason = None
        voice.moderator_note = note.strip()
        _derive(voice)
        voice.save()
        ModerationAction.objects.create(voice=voice, moderator=moderator, action=action, note=note.strip())
        tasks.send_voice_outcome.enqueue(voice.pk)
        _themes_follow(voice)  # a redaction changes the analysed text; placed in the latest themes
    return voice


def _decline(voice: Voice, moderator: Any, status: str, action: str, reason: ReasonCode | None, note: str) -> Voice:
    with transaction.atomic():
        voice = _decide(voice, moderator)
        voice.status = status
        voice.reason = reason
        voice.moderator_note = note.strip()
        voice.save()
        ModerationAction.objects.create(voice=voice, moderator=moderator, action=action, reason=reason, note=note)
        tasks.send_voice_outcome.enqueue(voice.pk)
        theme_services.remove_voice(voice)  # rejected or returned: its embeddings go (an edit embeds again)
    return voice


def voice_reject(*, voice: Voice, moderator: Any, reason: ReasonCode, note: str = "") -> Voice:
    return _decline(voice, moderator, Voice.Status.REJECTED, ModerationAction.Action.REJECT, reason, note)


def voice_return(*, voice: Voice, moderator: Any, note: str, reason: ReasonCode | None = None) -> Voice:
    """Send back to the contributor with what to change; their edit puts it back in the queue."""
    if not note.strip() and reason is None:
        raise ValidationError({"note": "say what needs to change"})
    return _decline(voice, moderator, Voice.Status.RETURNED, ModerationAction.Action.RETURN, reason, note)


def voice_take_down(*, voice: Voice, moderator: Any, reason: ReasonCode, note: str = "") -> Voice:
    """Reverse an approval (a published voice found to break the policy): it becomes rejected,
    leaves the gallery, the open data and analysis, and the contributor is told why."""
    with transaction.atomic():
        voice = Voice.objects.select_for_update().get(pk=voice.pk)
        if voice.status not in Voice.APPROVED:
            raise ModerationError("state")
        voice.status = Voice.Status.REJECTED
        voice.reason = reason
        voice.moderator_note = note.strip()
        voice.save()
        ModerationAction.objects.create(
            voice=voice, moderator=moderator, action=ModerationAction.Action.TAKE_DOWN, reason=reason, note=note
        )
        theme_services.remove_voice(voice)  # leaves analysis; a rejected voice keeps no embedding
        tasks.send_voice_outcome.enqueue(voice.pk)
    return voice


def voices_purge_expired(*, now: Any = None) -> int:
    """Delete voices never confirmed before their expiry, with their consents and self-identification."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Voice.objects.filter(status=Voice.Status.PENDING, expires_at__lt=now).values_list("pk", "public_id")
        )
        ConsentRecord.objects.filter(subject__in=[f"voices.voice:{pid}" for _, pid in expired]).delete()
        Voice.objects.filter(pk__in=[pk for pk, _ in expired]).delete()
    return len(expired)
