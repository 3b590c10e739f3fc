"""The moderation team's pages: queue, review with claim and decision, the log and its export."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from belonging.core.exports import csv_response
from belonging.lib import pii
from belonging.voices import access, selectors, services
from belonging.voices.forms import DecisionForm, QueueFilterForm, TakeDownForm
from belonging.voices.models import Voice

QUEUE_STATUSES = [
    Voice.Status.SUBMITTED,
    Voice.Status.RETURNED,
    Voice.Status.PUBLISHED,
    Voice.Status.ACCEPTED,
    Voice.Status.REJECTED,
]


@login_required
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    access.require_moderator(request.user)
    counts = selectors.queue_counts()
    statuses = [(s.value, f"{s.label} ({counts.get(s.value, 0)})") for s in QUEUE_STATUSES]
    form = QueueFilterForm(request.GET or None, prompts=selectors.prompts_all(), statuses=statuses)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "status": data["status"] or Voice.Status.SUBMITTED,
            "prompt": data["prompt"],
            "language": data["language"],
            "province": data["province"],
            "older_than_days": int(data["age"]) if data["age"] else None,
            "duplicates_only": data["duplicates"],
        }
    paginator = Paginator(selectors.queue(**filters), settings.VOICE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "voices/moderation/queue.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "claim_expired_before": services.claim_expired_before(),
            "can_export": access.can_export_log(request.user),
        },
    )


def _refusal(reason: str) -> str:
    if reason == "claimed":
        return _("Another moderator is reviewing this voice. Choose another one from the queue.")
    return _("This voice was already decided or changed by its contributor; nothing was done.")


@login_required
@require_POST
def claim(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    voice = access.voice_for_moderation(request.user, public_id)
    try:
        services.voice_claim(voice=voice, moderator=request.user)
    except services.ModerationError as exc:
        messages.error(request, _refusal(exc.reason))
        return redirect("moderation:queue")
    return redirect("moderation:review", public_id=public_id)


@login_required
@require_POST
def release(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    voice = access.voice_for_moderation(request.user, public_id)
    services.voice_release(voice=voice, moderator=request.user)
    messages.info(request, _("You released the voice; another moderator can take it."))
    return redirect("moderation:queue")


@login_required
@require_POST
def take_down(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    voice = access.voice_for_moderation(request.user, public_id)
    form = TakeDownForm(request.POST, prefix="down")
    if not form.is_valid():
        return _review_page(request, voice, DecisionForm(), form, status=400)
    try:
        services.voice_take_down(
            voice=voice, moderator=request.user, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
        )
    except services.ModerationError as exc:
        messages.error(request, _refusal(exc.reason))
    else:
        messages.success(request, _("The voice is taken down; the contributor is told by email."))
    return redirect("moderation:review", public_id=public_id)


def _decide(request: HttpRequest, voice: Voice, form: DecisionForm) -> str | None:
    """Apply the decision; an error message when it was refused."""
    data = form.cleaned_data
    try:
        if data["decision"] == DecisionForm.APPROVE:
            services.voice_approve(
                voice=voice, moderator=request.user, redacted_text=data["redacted_text"], note=data["note"]
            )
        elif data["decision"] == DecisionForm.RETURN:
            services.voice_return(voice=voice, moderator=request.user, reason=data["reason"], note=data["note"])
        else:
            services.voice_reject(voice=voice, moderator=request.user, reason=data["reason"], note=data["note"])
    except services.ModerationError as exc:
        return _refusal(exc.reason)
    except ValidationError:
        form.add_error(
            "redacted_text",
            _("A redaction may only replace parts of the text with the marker; it cannot add or change words."),
        )
        return ""
    return None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def review(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    voice = access.voice_for_moderation(request.user, public_id)
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if form.is_valid():
            refusal = _decide(request, voice, form)
            if refusal is None:
                messages.success(request, _("Decision recorded; the contributor is told by email."))
                return redirect("moderation:queue")
            if refusal:
                messages.error(request, refusal)
                return redirect("moderation:queue")
    else:
        form = DecisionForm(initial={"redacted_text": voice.public_text})
    return _review_page(request, voice, form, TakeDownForm(prefix="down"), status=400 if form.errors else 200)


def _review_page(
    request: HttpRequest, voice: Voice, form: DecisionForm, take_down_form: TakeDownForm, status: int
) -> HttpResponse:
    findings = pii.find_pii(voice.text) if voice.text else []
    held_by_other = (
        voice.claimed_by_id
        and voice.claimed_by_id != request.user.pk
        and voice.claimed_at
        and voice.claimed_at >= services.claim_expired_before()
    )
    return render(
        request,
        "voices/moderation/review.html",
        {
            "voice": voice,
            "form": form,
            "take_down_form": take_down_form,
            "marker": services.REDACTION_MARKER[voice.language],
            "findings": findings,
            "highlighted": _highlight(voice.text, findings),
            "duplicates": selectors.near_duplicates(voice)[:10],
            "held_by_other": held_by_other,
            "mine": voice.claimed_by_id == request.user.pk,
            "actions": voice.actions.select_related("moderator", "reason")[:50],
        },
        status=status,
    )


def _highlight(text: str, findings: list[pii.Finding]) -> list[tuple[str, pii.Finding | None]]:
    """The text cut into plain pieces and detected personal information, for the template to mark."""
    pieces: list[tuple[str, pii.Finding | None]] = []
    at = 0
    for finding in findings:
        pieces.append((text[at : finding.start], None))
        pieces.append((finding.text, finding))
        at = finding.end
    pieces.append((text[at:], None))
    return [p for p in pieces if p[0]]


@login_required
@require_safe
def log(request: HttpRequest) -> HttpResponse:
    access.require_moderator(request.user)
    page = Paginator(selectors.moderation_log(), 50).get_page(request.GET.get("page"))
    return render(
        request, "voices/moderation/log.html", {"page": page, "can_export": access.can_export_log(request.user)}
    )


LOG_FIELDS = ["at", "voice", "action", "moderator", "reason", "note"]


@login_required
@require_safe
def log_csv(request: HttpRequest) -> StreamingHttpResponse:
    if not access.can_export_log(request.user):
        raise PermissionDenied
    rows = (
        [
            action.at.isoformat(),
            str(action.voice.public_id),
            action.action,
            action.moderator.email if action.moderator else "",
            action.reason.code if action.reason else "",
            action.note,
        ]
        for action in selectors.moderation_log().iterator(chunk_size=2000)
    )
    return csv_response("moderation-log.csv", LOG_FIELDS, rows)
