"""Public voice pages: share, confirm (a POST always), the private page, gallery, numbers, open data."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.core import is_ratelimited

from belonging.core.exports import csv_response
from belonging.core.forms import ConfirmCodeForm, EmailAddressField, started_token
from belonging.core.i18n import current_language
from belonging.lib.emails import normalize_email
from belonging.voices import access, selectors, services
from belonging.voices.emails import private_links
from belonging.voices.forms import GalleryFilterForm, ShareForm, VoiceForm
from belonging.voices.models import Voice

SESSION_EMAIL = "voices:email"


def _rate_limited(request: HttpRequest, email: str) -> str | None:
    """A message saying why the visitor is refused, or None; counts this attempt."""
    if is_ratelimited(request, group="voice-share-ip", key="ip", rate=settings.VOICE_RATE_PER_IP, increment=True):
        return _(
            "Too many voices have come from your connection in a short time, so this one was not recorded yet. "
            "Please try again in an hour; your text is still here."
        )
    normalized = normalize_email(email)
    if is_ratelimited(
        request,
        group="voice-share-email",
        key=lambda _group, _request: normalized,
        rate=settings.VOICE_RATE_PER_EMAIL,
        increment=True,
    ):
        return _(
            "Too many voices have come from this email address in a short time, so this one was not recorded yet. "
            "Please try again later; your text is still here."
        )
    return None


def _voice_input(form: VoiceForm, email: str) -> services.VoiceInput:
    data = form.cleaned_data
    return services.VoiceInput(
        prompt=data["prompt"],
        kind=data["kind"],
        title=data["title"],
        text=data["text"],
        language=data["language"],
        province=data["province"],
        community=data["community"],
        display=data["display"],
        display_name=data["display_name"],
        email=email,
        page_language=current_language(),
        consent_publish=data["consent_publish"],
        consent_analysis=data["consent_analysis"],
        consent_self_id=data["consent_self_id"],
        self_id=form.self_id_answers(),
    )


@require_http_methods(["GET", "HEAD", "POST"])
def share(request: HttpRequest) -> HttpResponse:
    prompts = selectors.prompts_open()
    refusal = None
    if request.method == "POST":
        form = ShareForm(request.POST, prompts=prompts)
        if form.is_valid():
            email = form.cleaned_data["email"]
            # The same rendered form sent again with the same email is a double submit: record it once.
            key = "voices:submitted:" + hashlib.sha256(f"{form.cleaned_data['started']}|{email.lower()}".encode()).hexdigest()
            if cache.get(key) is None:
                refusal = _rate_limited(request, email)
                if refusal is None:
                    services.voice_share(data=_voice_input(form, email))
                    cache.set(key, True, 3600)
            if refusal is None:
                request.session[SESSION_EMAIL] = email
                return redirect("voices:confirm_code")
        elif form.needs_new_started:
            form.refresh_started()
    else:
        chosen = prompts.filter(slug=request.GET.get("prompt", "")).first()
        form = ShareForm(
            prompts=prompts,
            initial={"started": started_token(), "language": current_language(), "prompt": chosen},
        )
    status = 429 if refusal else (400 if form.is_bound and not form.is_valid() else 200)
    return render(
        request, "voices/share.html", {"form": form, "refusal": refusal, "prompts": prompts}, status=status
    )


def _confirm_error_message(reason: str) -> str:
    if reason == "expired":
        days = settings.PLEDGE_CONFIRM_DAYS
        return ngettext(
            "This voice was not confirmed within %(days)d day and has expired. Please share it again.",
            "This voice was not confirmed within %(days)d days and has expired. Please share it again.",
            days,
        ) % {"days": days}
    if reason == "attempts":
        return _("Too many wrong codes were entered. Share your voice again to get a new code.")
    if reason == "withdrawn":
        return _("This voice was withdrawn.")
    return _("That code does not match. Check the latest email we sent you and try again.")


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_code(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST" and "resend" in request.POST:
        return _resend_code(request)
    if request.method == "POST":
        form = ConfirmCodeForm(request.POST)
        if form.is_valid():
            try:
                services.voice_confirm_with_code(
                    email=form.cleaned_data["email"], code=form.cleaned_data["code"]
                )
            except services.ConfirmError as exc:
                error = _confirm_error_message(exc.reason)
            else:
                request.session.pop(SESSION_EMAIL, None)
                return redirect("voices:thanks")
    else:
        form = ConfirmCodeForm(initial={"email": request.session.get(SESSION_EMAIL, "")})
    status = 400 if (form.is_bound and (error or not form.is_valid())) else 200
    return render(
        request,
        "voices/confirm_code.html",
        {"form": form, "error": error, "days": settings.PLEDGE_CONFIRM_DAYS},
        status=status,
    )


def _resend_code(request: HttpRequest) -> HttpResponse:
    try:
        email = EmailAddressField().clean(request.POST.get("email", ""))
    except ValidationError:
        email = ""
    if not email:
        form = ConfirmCodeForm(initial={"email": request.POST.get("email", "")})
        error = _("Please enter the email address you used, so we can send a new code.")
        context = {"form": form, "error": error, "days": settings.PLEDGE_CONFIRM_DAYS}
        return render(request, "voices/confirm_code.html", context, status=400)
    if not is_ratelimited(request, group="voice-resend", key="ip", rate=settings.VOICE_RATE_PER_IP, increment=True):
        services.voice_resend_code(email=email)
    request.session[SESSION_EMAIL] = email
    # The same answer whether or not a voice waits for this address: it reveals nothing.
    messages.info(request, _("If a voice from this address waits for confirmation, a new code is on its way."))
    return redirect("voices:confirm_code")


@require_http_methods(["GET", "HEAD", "POST"])
def confirm_link(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    """GET shows a button; only the POST confirms, so mail scanners that follow links do nothing."""
    voice = access.voice_from_link(public_id, token)
    error = None
    if request.method == "POST":
        try:
            services.voice_confirm_with_link(voice=voice)
        except services.ConfirmError as exc:
            error = _confirm_error_message(exc.reason)
        else:
            request.session.pop(SESSION_EMAIL, None)
            return redirect("voices:thanks")
    return render(request, "voices/confirm_link.html", {"voice": voice, "error": error}, status=400 if error else 200)


@require_safe
def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "voices/thanks.html", {"share_url": settings.SITE_URL + reverse("voices:share")})


@require_http_methods(["GET", "HEAD"])
def manage(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    voice = access.voice_from_link(public_id, token)
    others = [(v, private_links(v)["manage_url"]) for v in selectors.voices_of_contributor(voice)]
    return render(
        request,
        "voices/manage.html",
        {"voice": voice, "token": token, "others": others},
    )


def _initial_from(voice: Voice) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(voice, name)
        for name in (
            "kind", "title", "text", "language", "province", "community", "display", "display_name",
            "consent_publish", "consent_analysis", "consent_self_id",
        )
    }
    initial["prompt"] = voice.prompt
    self_id = getattr(voice, "self_identification", None)
    if self_id is not None:
        for name in VoiceForm.SELF_ID_FIELDS:
            value = getattr(self_id, name)
            initial[name] = [v for v in value.split(",") if v] if name in ("indigenous", "population_groups") else value
    return initial


@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    voice = access.voice_from_link(public_id, token)
    if not voice.is_editable:
        messages.info(request, _("This voice can no longer be edited. You can still withdraw it."))
        return redirect("voices:manage", public_id=public_id, token=token)
    prompts = selectors.prompts_for_edit(voice)
    if request.method == "POST":
        form = VoiceForm(request.POST, prompts=prompts)
        if form.is_valid():
            try:
                services.voice_edit(voice=voice, data=_voice_input(form, voice.email))
            except services.ModerationError:
                messages.info(request, _("This voice can no longer be edited. You can still withdraw it."))
            else:
                messages.success(request, _("Your changes are saved. Your voice goes back to the moderation team."))
            return redirect("voices:manage", public_id=public_id, token=token)
    else:
        form = VoiceForm(prompts=prompts, initial=_initial_from(voice))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "voices/edit.html", {"form": form, "voice": voice, "token": token}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def withdraw(request: HttpRequest, public_id: uuid.UUID, token: str) -> HttpResponse:
    voice = access.voice_from_link(public_id, token)
    if request.method == "POST":
        services.voice_withdraw(voice=voice)
        messages.success(
            request, _("Your voice is withdrawn: it is no longer published or analysed, and what you wrote is erased.")
        )
        return redirect("voices:gallery")
    return render(request, "voices/withdraw.html", {"voice": voice, "token": token})


@require_safe
def gallery(request: HttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET or None, prompts=selectors.prompts_all())
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    paginator = Paginator(selectors.gallery(**filters), settings.VOICE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "voices/gallery.html",
        {"form": form, "page": page, "filtered": bool(filters), "query": query.urlencode()},
    )


@require_safe
def detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    voice = access.voice_public(public_id)
    url = settings.SITE_URL + request.path
    return render(request, "voices/detail.html", {"voice": voice, "share_url": url})


@require_safe
def numbers(request: HttpRequest) -> HttpResponse:
    return render(request, "voices/numbers.html", {"figures": selectors.aggregates()})


@require_safe
def policy(request: HttpRequest) -> HttpResponse:
    return render(request, "voices/policy.html", {"reasons": selectors.reason_codes()})


@require_safe
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every published voice as CSV; the columns are described in docs/data-dictionary.md."""
    fields = selectors.EXPORT_FIELDS
    rows = ([row[f] for f in fields] for row in selectors.export_rows())
    return csv_response("voices.csv", fields, rows)
