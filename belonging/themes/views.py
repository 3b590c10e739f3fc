"""Themes pages: the public "What we heard" report and its PDF; organizers' runs, progress and curation.

Views stay thin: reads come from ``selectors``, writes go through ``services``, and who may do what is
decided in ``access``. Every form posts, redirects and shows the result (errors keep what was typed).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from belonging.core.i18n import current_language
from belonging.core.models import Campaign
from belonging.themes import access, pdf, selectors, services
from belonging.themes.forms import EmptyForm, MergeForm, PinForm, RenameForm, StartRunForm
from belonging.themes.models import SynthesisRun, Theme
from belonging.voices.models import Voice

REPORT_CACHE_SECONDS = 600  # also invalidated at once by any change (see selectors.report_stamp)

# --- public -----------------------------------------------------------------------------------------


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """ "What we heard" of the featured campaign."""
    campaign = selectors.featured_campaign()
    if campaign is None:
        raise Http404
    return redirect("themes:report", slug=campaign.slug)


@require_safe
def report(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    run = selectors.latest_published_run(campaign)
    context: dict[str, Any] = {"campaign": campaign, "report": None}
    if run is not None:
        context["report_stamp"] = selectors.report_stamp(run)
        context["report"] = _public_report(run, current_language(), context["report_stamp"])
    return render(request, "themes/report.html", context)


def _public_report(run: SynthesisRun, language: str, stamp: str) -> selectors.Report:
    """The public report, cached until anything in it could change (``report_stamp``: curation,
    publication, a voice withdrawn or taken down), so visitors do not recount every voice."""
    key = f"themes:report:{language}:{stamp}"
    found = cache.get(key)
    if found is None:
        found = selectors.report(run, language)
        cache.set(key, found, REPORT_CACHE_SECONDS)
    return found


@require_safe
def report_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    run = selectors.latest_published_run(campaign)
    if run is None:
        raise Http404
    language = current_language()
    stamp = selectors.report_stamp(run)
    key = f"themes:pdf:{language}:{stamp}"
    document = cache.get(key)
    if document is None:
        document = pdf.render_report(_public_report(run, language, stamp))
        cache.set(key, document, REPORT_CACHE_SECONDS)
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pdf.filename(campaign, language)}"'
    return response


# --- organizers: runs -------------------------------------------------------------------------------


def _add_errors(form: Any, exc: ValidationError) -> None:
    """Show a service's refusal on the form: by field where it names one the form has, else above it."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _require_organizer(user: Any) -> None:
    """Runs and curation pages are for people who may start runs or curate themes."""
    if not (access.can_synthesize(user) or access.can_curate(user)):
        raise PermissionDenied


@login_required
@require_safe
def manage(request: HttpRequest) -> HttpResponse:
    _require_organizer(request.user)
    rows = [(c, selectors.latest_run(c), selectors.latest_published_run(c)) for c in selectors.campaigns()]
    return render(request, "themes/manage.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def runs(request: HttpRequest, slug: str) -> HttpResponse:
    _require_organizer(request.user)
    campaign = get_object_or_404(Campaign, slug=slug)
    can_start = access.can_synthesize(request.user)
    if request.method == "POST":
        access.require_synthesizer(request.user)
        form = StartRunForm(request.POST, campaign=campaign)
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = services.start_run(
                    campaign,
                    request.user,
                    place=data["place"],
                    prompt=data["prompt"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    min_themes=data["min_themes"],
                    max_themes=data["max_themes"],
                    backend=data["backend"],
                    request_key=data.get("request_key"),
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("The analysis has started. This page shows its progress."))
                return redirect("themes:run", run_id=run.pk)
    else:
        form = StartRunForm(campaign=campaign)
    status = 400 if (form.is_bound and form.errors) else 200
    return render(
        request,
        "themes/runs.html",
        {
            "campaign": campaign,
            "runs": selectors.runs(campaign)[:50],
            "form": form,
            "can_start": can_start,
            "published": selectors.latest_published_run(campaign),
        },
        status=status,
    )


def _run(request: HttpRequest, run_id: int) -> SynthesisRun:
    _require_organizer(request.user)
    run = selectors.run_for_campaign_page(run_id)
    if run is None:
        raise Http404
    return run


@login_required
@require_safe
def run(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    return render(
        request,
        "themes/run.html",
        {
            "run": run,
            "status": selectors.run_status(run),
            "can_publish": access.can_synthesize(request.user),
            "can_curate": access.can_curate(request.user),
        },
    )


@login_required
@require_safe
def run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = _run(request, run_id)
    response = JsonResponse(selectors.run_status(run))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def publish(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    access.require_synthesizer(request.user)
    try:
        services.publish(run, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("themes:curate", run_id=run.pk)
    messages.success(request, _("Published: “What we heard” now shows this analysis."))
    return redirect("themes:curate", run_id=run.pk)


# --- organizers: curation ---------------------------------------------------------------------------

ACTIONS = ("rename", "merge", "split", "hide", "show", "pin", "unpin")


def _prefix(action: str, key: str) -> str:
    return f"{action}-{slugify(key)}"


def _theme_forms(theme: Any, targets: list[tuple[str, str]], candidates: list[Voice]) -> dict[str, Any]:
    """Unbound forms for one theme's actions (ids made unique by a prefix per action and theme)."""
    return {
        "rename": RenameForm(
            prefix=_prefix("rename", theme.key), initial={"name_en": theme.name_en, "name_fr": theme.name_fr}
        ),
        "merge": MergeForm(prefix=_prefix("merge", theme.key), targets=[t for t in targets if t[0] != theme.key]),
        "pin": PinForm(
            prefix=_prefix("pin", theme.key),
            candidates=_candidate_choices(candidates),
            initial={"voice": next((str(v.public_id) for v in candidates if v.pk == theme.pinned_voice_id), "")},
        ),
    }


def _candidate_choices(candidates: list[Voice]) -> list[tuple[str, str]]:
    return [(str(v.public_id), (v.title or v.public_text)[:90]) for v in candidates]


def _curation_page(
    request: HttpRequest,
    run: SynthesisRun,
    *,
    bound: tuple[str, str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    rep = selectors.report(run, current_language(), include_hidden=True)
    latest = selectors.latest_done_run(run.campaign)
    is_latest = latest is not None and latest.pk == run.pk
    themes = {t.pk: t for t in Theme.objects.filter(run=run)}
    targets = [(t.key, t.name) for t in rep.themes]
    names = dict(targets)
    rows = []
    for theme in rep.themes:
        candidates = selectors.pin_candidates(themes[theme.pk]) if theme.pk in themes else []
        forms = _theme_forms(theme, targets, candidates)
        if bound is not None and bound[0] == theme.key:
            forms[bound[1]] = bound[2]
        rows.append({"theme": theme, "forms": forms, "has_candidates": bool(candidates)})
    return render(
        request,
        "themes/curate.html",
        {
            "run": run,
            "report": rep,
            "rows": rows,
            "history": [(a, names.get(a.key, a.key)) for a in selectors.history(run.campaign)],
            "bound_form": bound[2] if bound else None,
            "can_publish": access.can_synthesize(request.user),
            "can_curate": access.can_curate(request.user) and is_latest,
            "is_latest": is_latest,
            "latest": latest,
            "has_errors": bound is not None,
        },
        status=status,
    )


@login_required
@require_safe
def curate(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    if run.status != SynthesisRun.Status.DONE:
        return redirect("themes:run", run_id=run.pk)
    return _curation_page(request, run)


@login_required
@require_POST
def curate_action(request: HttpRequest, run_id: int, key: str, action: str) -> HttpResponse:
    run = _run(request, run_id)
    access.require_curator(request.user)
    if action not in ACTIONS or run.status != SynthesisRun.Status.DONE:
        raise Http404
    if not _is_latest(run):
        messages.error(request, _("Curation applies to the latest analysis; open that one to change its themes."))
        return redirect("themes:curate", run_id=run.pk)
    theme = Theme.objects.filter(run=run, key=key).first()
    if theme is None:
        raise Http404
    campaign, actor = run.campaign, request.user
    form: Any = EmptyForm(request.POST)
    prefix = _prefix(action, key)
    try:
        if action == "rename":
            form = RenameForm(request.POST, prefix=prefix)
            if form.is_valid():
                services.rename(
                    campaign=campaign,
                    key=key,
                    name_en=form.cleaned_data["name_en"].strip(),
                    name_fr=form.cleaned_data["name_fr"].strip(),
                    actor=actor,
                )
        elif action == "merge":
            targets = [(t.key, t.key) for t in Theme.objects.filter(run=run).exclude(key=key)]
            form = MergeForm(request.POST, prefix=prefix, targets=targets)
            if form.is_valid():
                services.merge(campaign=campaign, source_key=key, target_key=form.cleaned_data["target"], actor=actor)
        elif action == "pin":
            candidates = selectors.pin_candidates(theme)
            form = PinForm(request.POST, prefix=prefix, candidates=_candidate_choices(candidates))
            if form.is_valid():
                voice = next(v for v in candidates if str(v.public_id) == form.cleaned_data["voice"])
                services.pin_quote(campaign=campaign, key=key, voice=voice, actor=actor)
        elif action == "split":
            services.split(campaign=campaign, key=key, actor=actor)
        elif action == "hide":
            services.hide(campaign=campaign, key=key, actor=actor)
        elif action == "show":
            services.show(campaign=campaign, key=key, actor=actor)
        elif action == "unpin":
            services.unpin(campaign=campaign, key=key, actor=actor)
    except ValidationError as exc:
        if action in ("rename", "merge", "pin"):
            _add_errors(form, exc)
        else:
            messages.error(request, " ".join(exc.messages))
            return redirect("themes:curate", run_id=run.pk)
    if form.errors:
        return _curation_page(request, run, bound=(key, action, form), status=400)
    messages.success(request, _done_message(action))
    return redirect(reverse("themes:curate", kwargs={"run_id": run.pk}) + f"#theme-{slugify(key)}")


def _is_latest(run: SynthesisRun) -> bool:
    latest = selectors.latest_done_run(run.campaign)
    return latest is not None and latest.pk == run.pk


def _done_message(action: str) -> str:
    return {
        "rename": _("The theme's name is saved."),
        "merge": _("The themes are merged."),
        "split": _("The theme is split in two."),
        "hide": _("The theme is hidden from the public report."),
        "show": _("The theme is shown in the public report again."),
        "pin": _("The quote is pinned: it is shown first."),
        "unpin": _("The quote is no longer pinned."),
    }[action]
