"""Taking the survey (no account) and the organizers' wave pages.

Views stay thin: writes go through ``services``; who may manage waves is decided in ``access``.

A respondent's token (their resume code) is remembered per wave in a signed cookie on their device,
not in the server-side session: sessions are stored in the database (and may belong to a signed-in
person), and the token must never be stored there, nor linked to anyone. Only its hash is stored,
with the response. On another device, the resume page takes the code.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.core import is_ratelimited

from belonging.core.exports import csv_response
from belonging.core.i18n import current_language
from belonging.core.models import Campaign
from belonging.measure import access, services
from belonging.measure.forms import InvitationsForm, PageForm, ResumeForm, StartForm, WaveForm
from belonging.measure.models import Response, Wave

COOKIE_SALT = "belonging.measure.resume"
COOKIE_DAYS_AFTER_CLOSE = 30  # the thanks page stays reachable a while after the wave closes
MINUTES = 5  # how long the survey takes, said on its first page


# --- taking the survey: helpers ---------------------------------------------------------------------


def _wave(slug: str, wave_slug: str) -> Wave:
    return get_object_or_404(Wave.objects.select_related("campaign"), campaign__slug=slug, slug=wave_slug)


def _cookie_name(wave: Wave) -> str:
    return f"survey{wave.pk}"


def _token(request: HttpRequest, wave: Wave) -> str | None:
    return request.get_signed_cookie(_cookie_name(wave), default=None, salt=COOKIE_SALT)


def _remember(response: HttpResponse, wave: Wave, token: str) -> HttpResponse:
    """Keep the token on this device (HTTP-only, signed) until a while after the wave closes."""
    until = wave.closes_at + timedelta(days=COOKIE_DAYS_AFTER_CLOSE)
    seconds = max(3600, int((until - timezone.now()).total_seconds()))
    response.set_signed_cookie(
        _cookie_name(wave),
        token,
        salt=COOKIE_SALT,
        max_age=seconds,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def _current(request: HttpRequest, wave: Wave) -> tuple[Response | None, str | None]:
    """This device's response to the wave, and its token (None, None when it has none)."""
    token = _token(request, wave)
    found = services.find_response(wave, token)
    return (found, token) if found is not None else (None, None)


def _page_url(wave: Wave, number: int) -> str:
    return reverse("measure:page", kwargs={"slug": wave.campaign.slug, "wave": wave.slug, "number": number})


def _start_url(wave: Wave) -> str:
    return reverse("measure:start", kwargs={"slug": wave.campaign.slug, "wave": wave.slug})


def _thanks_url(wave: Wave) -> str:
    return reverse("measure:thanks", kwargs={"slug": wave.campaign.slug, "wave": wave.slug})


def _continue_url(wave: Wave, response: Response) -> str:
    if response.status == Response.Status.SUBMITTED:
        return _thanks_url(wave)
    return _page_url(wave, services.continue_number(response))


def _wave_context(wave: Wave) -> dict[str, Any]:
    return {
        "wave": wave,
        "campaign": wave.campaign,
        "state": services.wave_state(wave),
        "first_day": services.first_day(wave),
        "last_day": services.last_day(wave),
        "invited": wave.sample == Wave.Sample.INVITED,
        "total_pages": len(wave.questions.pages),
        "minutes": MINUTES,
    }


IMPORT_ONLY = gettext_lazy(
    "This survey cannot be answered on this site: its results come from responses collected by another survey."
)


def _start_refusal(reason: str, wave: Wave) -> str:
    if reason == "unknown_code":
        return _("This invitation code is not one of this survey’s codes. Check the code in your invitation and try again.")
    if reason == "used_code":
        return _("This invitation code has already been used. Each code can start the survey once.")
    if reason == "code_required":
        return _("Enter the invitation code you received.")
    if reason == "import_only":
        return str(IMPORT_ONLY)
    if reason == "upcoming":
        return _("This survey opens on %(date)s.") % {"date": _date(services.first_day(wave))}
    return _("This survey closed on %(date)s.") % {"date": _date(services.last_day(wave))}


def _date(day: date) -> str:
    return date_format(day, "DATE_FORMAT")


def _too_many(request: HttpRequest, group: str, rate: str, *, increment: bool) -> bool:
    return is_ratelimited(request, group=group, key="ip", rate=rate, increment=increment)


# --- taking the survey ------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def start(request: HttpRequest, slug: str, wave: str) -> HttpResponse:
    """What the survey is, and the button (with an invitation code for an invited sample) that starts it."""
    the_wave = _wave(slug, wave)
    current, _token_value = _current(request, the_wave)
    context = _wave_context(the_wave)
    invited = context["invited"]
    # Only asked of an open wave: a closed or upcoming one says so first.
    context["import_only"] = context["state"] == "open" and services.import_only(the_wave)
    refusal = None
    used_here = False
    posted = request.method == "POST" and context["state"] == "open" and not context["import_only"]
    form = StartForm(request.POST if posted else None, invited=invited)
    if posted and form.is_valid():
        code_rate = settings.SURVEY_CODE_RATE_PER_IP
        if invited and _too_many(request, "survey-code", code_rate, increment=False):
            refusal = _("Too many wrong codes have come from your connection in a short time. Please try again in an hour.")
        elif not invited and _too_many(request, "survey-start", settings.SURVEY_RATE_PER_IP, increment=True):
            refusal = _(
                "Many surveys have been started from your connection in a short time. Please try again in an hour."
            )
        else:
            try:
                response, token = services.start_response(
                    the_wave,
                    invitation_code=form.cleaned_data.get("code"),
                    language=current_language(),
                    request_key=form.cleaned_data.get("request_key"),
                )
            except services.SurveyError as exc:
                if exc.reason in ("unknown_code", "used_code"):
                    _too_many(request, "survey-code", code_rate, increment=True)
                used_here = exc.reason == "used_code" and current is not None
                on_code = invited and exc.reason in ("unknown_code", "used_code", "code_required")
                form.add_error("code" if on_code else None, _start_refusal(exc.reason, the_wave))
                context["state"] = services.wave_state(the_wave)
            else:
                return _remember(redirect(_page_url(the_wave, services.continue_number(response))), the_wave, token)
    status = 429 if refusal else (400 if form.is_bound and form.errors else 200)
    context.update(
        {
            "form": form,
            "current": current,
            "continue_url": _continue_url(the_wave, current) if current else "",
            "used_here": used_here,
            "refusal": refusal,
            "import_only_message": IMPORT_ONLY,
        }
    )
    return render(request, "measure/start.html", context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def resume(request: HttpRequest, slug: str, wave: str) -> HttpResponse:
    """Continue on another device: the resume code finds the response and this device remembers it."""
    the_wave = _wave(slug, wave)
    current, _token_value = _current(request, the_wave)
    refusal = None
    if request.method == "POST":
        form = ResumeForm(request.POST)
        if form.is_valid():
            rate = settings.SURVEY_CODE_RATE_PER_IP
            if _too_many(request, "survey-resume", rate, increment=False):
                refusal = _(
                    "Too many wrong codes have come from your connection in a short time. Please try again in an hour."
                )
            else:
                code = form.cleaned_data["code"]
                found = services.find_response(the_wave, code)
                if found is None:
                    _too_many(request, "survey-resume", rate, increment=True)
                    form.add_error(
                        "code",
                        _("No answers to this survey were found with this code. Check the code and try again."),
                    )
                else:
                    target = redirect(_continue_url(the_wave, found))
                    return _remember(target, the_wave, services.normalize_code(code))
    else:
        form = ResumeForm()
    status = 429 if refusal else (400 if form.is_bound and form.errors else 200)
    context = _wave_context(the_wave)
    context.update(
        {
            "form": form,
            "refusal": refusal,
            "current": current,
            "continue_url": _continue_url(the_wave, current) if current else "",
        }
    )
    return render(request, "measure/resume.html", context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def page(request: HttpRequest, slug: str, wave: str, number: int) -> HttpResponse:
    """One question group. "Next" and "Previous" both save what is on the page; the last page submits."""
    the_wave = _wave(slug, wave)
    current, token = _current(request, the_wave)
    if current is None:
        messages.info(request, _("Start the survey here, or continue with your resume code."))
        return redirect(_start_url(the_wave))
    if current.status == Response.Status.SUBMITTED:
        return redirect(_thanks_url(the_wave))
    if services.wave_state(the_wave) != "open":
        return redirect(_start_url(the_wave))
    pages = the_wave.questions.pages
    if not 1 <= number <= len(pages):
        raise Http404
    furthest = services.continue_number(current)
    if number > furthest:
        return redirect(_page_url(the_wave, furthest))
    question_page = pages[number - 1]
    last = number == len(pages)
    if request.method == "POST":
        form = PageForm(request.POST, page=question_page)
        action = request.POST.get("action", "next")
        if form.is_valid():
            try:
                services.save_page(current, number - 1, form.answers())
                if action == "previous" and number > 1:
                    return redirect(_page_url(the_wave, number - 1))
                if not last:
                    return redirect(_page_url(the_wave, number + 1))
                services.submit(current)
            except services.SurveyError as exc:
                if exc.reason == "submitted":
                    return redirect(_thanks_url(the_wave))
                return redirect(_start_url(the_wave))  # closed meanwhile: the start page says so
            except ValidationError as exc:  # the form checks the same rules; kept for safety
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                return redirect(_thanks_url(the_wave))
    else:
        form = PageForm(page=question_page, initial=current.answers)
    context = _wave_context(the_wave)
    context.update(
        {
            "form": form,
            "question_page": question_page,
            "number": number,
            "last": last,
            "previous_url": _page_url(the_wave, number - 1) if number > 1 else "",
            "resume_code": services.format_code(token or ""),
            "resume_url": request.build_absolute_uri(
                reverse("measure:resume", kwargs={"slug": the_wave.campaign.slug, "wave": the_wave.slug})
            ),
        }
    )
    return render(request, "measure/page.html", context, status=400 if form.errors else 200)


@never_cache
@require_safe
def thanks(request: HttpRequest, slug: str, wave: str) -> HttpResponse:
    the_wave = _wave(slug, wave)
    current, _token_value = _current(request, the_wave)
    if current is None or current.status != Response.Status.SUBMITTED:
        return redirect(_start_url(the_wave))
    context = _wave_context(the_wave)
    context["response"] = current
    return render(request, "measure/thanks.html", context)


# --- organizers -------------------------------------------------------------------------------------


def _add_errors(form: WaveForm, exc: ValidationError) -> None:
    """A service's refusal on the form: by field where the form has it, else above the form."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            name = WaveForm.FIELD_OF.get(name, name)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_safe
def waves(request: HttpRequest) -> HttpResponse:
    access.require_manager(request.user)
    by_campaign: dict[int, dict[str, Any]] = {}
    for campaign in Campaign.objects.order_by("title_en"):
        by_campaign[campaign.pk] = {"campaign": campaign, "waves": []}
    for row in services.waves_with_counts():
        row.state = services.wave_state(row)
        by_campaign[row.campaign_id]["waves"].append(row)
    return render(request, "measure/waves.html", {"campaigns": list(by_campaign.values())})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def wave_create(request: HttpRequest) -> HttpResponse:
    access.require_manager(request.user)
    if request.method == "POST":
        form = WaveForm(request.POST)
        if form.is_valid():
            try:
                created = services.create_wave(form.chosen_campaign, form.wave_data())
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("The wave is created."))
                return redirect("measure:wave", wave_id=created.pk)
    else:
        campaign = Campaign.objects.filter(slug=request.GET.get("campaign", "")).first()
        form = WaveForm(campaign=campaign)
    return render(request, "measure/wave_form.html", {"form": form}, status=400 if form.errors else 200)


def _wave_page_context(request: HttpRequest, wave: Wave) -> dict[str, Any]:
    counted = services.wave_with_counts(wave.pk)
    start_path = _start_url(wave)
    return {
        "wave": counted,
        "state": services.wave_state(wave),
        "first_day": services.first_day(wave),
        "last_day": services.last_day(wave),
        "invited": wave.sample == Wave.Sample.INVITED,
        "import_only": services.import_only(wave),
        "survey_url": request.build_absolute_uri(start_path),
        "survey_path": start_path,
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def wave(request: HttpRequest, wave_id: int) -> HttpResponse:
    """A wave: its counts, its links (survey, invitations, import, margins, estimates) and its settings."""
    access.require_manager(request.user)
    the_wave = get_object_or_404(Wave.objects.select_related("campaign", "place"), pk=wave_id)
    if request.method == "POST":
        form = WaveForm(request.POST, wave=the_wave)
        if form.is_valid():
            try:
                services.update_wave(the_wave, form.wave_data())
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("The wave’s settings are saved."))
                return redirect("measure:wave", wave_id=the_wave.pk)
    else:
        form = WaveForm(wave=the_wave)
    context = _wave_page_context(request, the_wave)
    context["form"] = form
    return render(request, "measure/wave.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def invitations(request: HttpRequest, wave_id: int) -> HttpResponse:
    """Make single-use invitation codes: they come back at once as a CSV file and are never shown again."""
    access.require_manager(request.user)
    the_wave = get_object_or_404(Wave.objects.select_related("campaign"), pk=wave_id)
    invited = the_wave.sample == Wave.Sample.INVITED
    if request.method == "POST":
        form = InvitationsForm(request.POST)
        if not invited:
            form.add_error(None, _("Invitation codes are only for waves with an invited sample."))
        elif form.is_valid():
            try:
                codes = services.generate_invitations(the_wave, form.cleaned_data["count"])
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
                filename = f"invitations-{the_wave.campaign.slug}-{the_wave.slug}-{stamp}.csv"
                download = csv_response(filename, ["code"], ([code] for code in codes))
                download["Cache-Control"] = "no-store"
                return download
    else:
        form = InvitationsForm()
    context = _wave_page_context(request, the_wave)
    context["form"] = form
    return render(request, "measure/invitations.html", context, status=400 if form.errors else 200)
