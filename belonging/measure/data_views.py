"""Organizers' data pages for a wave: importing responses, population margins, computing and
publishing the estimates.

Views stay thin: the work is in ``imports`` and ``estimation``, who may do it in ``access``. Every form
posts and shows the outcome; a refused file keeps what the organizer typed and lists every bad line.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from belonging.measure import access, data_forms, estimation, imports, instrument
from belonging.measure.domains import BY_CODE
from belonging.measure.models import ImportBatch, Response, Wave

PREVIEW_COLUMNS = 30  # columns of the file shown in the preview table


def _wave(request: HttpRequest, wave_id: int) -> Wave:
    access.require_manager(request.user)
    return get_object_or_404(Wave.objects.select_related("campaign"), pk=wave_id)


def _counts(wave: Wave) -> dict[str, int]:
    return Response.objects.filter(wave=wave).aggregate(
        submitted=Count("pk", filter=Q(status=Response.Status.SUBMITTED)),
        collected=Count("pk", filter=Q(source=Response.Source.COLLECTED)),
        imported=Count("pk", filter=Q(source=Response.Source.IMPORTED)),
    )


# --- import -----------------------------------------------------------------------------------------


def _last_mapping(wave: Wave) -> dict[str, Any]:
    """The mapping of the wave's latest import, else of the campaign's latest (same questionnaire)."""
    batch = (
        ImportBatch.objects.filter(wave=wave).order_by("-pk").first()
        or ImportBatch.objects.filter(wave__campaign=wave.campaign, wave__questionnaire=wave.questionnaire)
        .order_by("-pk")
        .first()
    )
    return batch.mapping if batch is not None else {}


def _preview_context(
    preview: imports.Preview, form: data_forms.ImportForm, questionnaire: instrument.Questionnaire
) -> dict[str, Any]:
    """The head of the file, and for each question the column the import will read and the values
    found there that are not answers and have no entry in the value map."""
    shown = preview.header[:PREVIEW_COLUMNS]
    data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    matches = []
    for item in questionnaire.items:
        column = data.get(f"column_{item.id}") or ""
        values = data.get(f"values_{item.id}") or {}
        automatic = False
        if not column:
            column = preview.suggested_columns.get(item.id, "")
            automatic = bool(column)
        name = imports.find_column(preview.header, column) if column else None
        if name is None:
            continue
        seen = preview.values.get(name, [])
        unmapped = imports.unmapped_values(item, seen, values)
        matches.append(
            {
                "item": item,
                "column": name,
                "automatic": automatic,
                "unmapped": unmapped[: imports.MAX_VALUES_SHOWN],
                "more": len(seen) > imports.MAX_VALUES_SHOWN,
            }
        )
    return {
        "header": shown,
        "hidden_columns": len(preview.header) - len(shown),
        "rows": [row[: len(shown)] for row in preview.rows],
        "delimiter": {",": _("commas"), ";": _("semicolons"), "\t": _("tabs")}.get(
            preview.delimiter, preview.delimiter
        ),
        "matches": matches,
        "weight_column": preview.weight_column,
        "replicate_prefix": preview.replicate_prefix,
        "replicate_count": preview.replicate_count,
        "column_count": len(preview.header),
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def import_responses(request: HttpRequest, wave_id: int) -> HttpResponse:
    wave = _wave(request, wave_id)
    questionnaire = wave.questions
    refusal: imports.ImportRefused | None = None
    check: imports.CheckResult | None = None
    preview: dict[str, Any] | None = None
    if request.method == "POST":
        form = data_forms.ImportForm(request.POST, request.FILES, questionnaire=questionnaire)
        checking = request.POST.get("action") == "check"
        if form.is_valid():
            upload = form.cleaned_data["file"]
            options = {
                "mapping": form.mapping(),
                "weight_column": form.cleaned_data["weight_column"],
                "replicate_columns": form.cleaned_data["replicate_columns"],
            }
            try:
                if checking:
                    preview = _preview_context(imports.preview(upload, questionnaire), form, questionnaire)
                    check = imports.check_csv(wave, upload, **options, max_rows=imports.WEB_MAX_ROWS)
                else:
                    batch = imports.import_csv(
                        wave,
                        upload,
                        user=request.user,
                        filename=upload.name,
                        max_rows=imports.WEB_MAX_ROWS,
                        **options,
                    )
            except imports.ImportRefused as exc:
                refusal = exc
            else:
                if not checking:
                    messages.success(
                        request,
                        ngettext(
                            "%(count)s response was imported from %(file)s.",
                            "%(count)s responses were imported from %(file)s.",
                            batch.rows,
                        )
                        % {"count": batch.rows, "file": batch.filename},
                    )
                    return redirect("measure:import", wave_id=wave.pk)
    else:
        form = data_forms.ImportForm(
            initial=data_forms.initial_from_mapping(_last_mapping(wave)), questionnaire=questionnaire
        )
    status = 400 if (form.is_bound and form.errors) or refusal is not None else 200
    return render(
        request,
        "measure/import.html",
        {
            "wave": wave,
            "form": form,
            "groups": form.item_groups(),
            "refusal": refusal,
            "check": check,
            "preview": preview,
            "counts": _counts(wave),
            "batches": ImportBatch.objects.filter(wave=wave).select_related("imported_by").order_by("-pk")[:50],
            "provinces_example": data_forms.format_values(imports.STATCAN_PROVINCES),
            "max_rows": imports.WEB_MAX_ROWS,
            "command": imports.import_command(wave),
        },
        status=status,
    )


# --- margins ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def margins(request: HttpRequest, wave_id: int) -> HttpResponse:
    wave = _wave(request, wave_id)
    refusal: imports.ImportRefused | None = None
    form = data_forms.MarginsForm()
    if request.method == "POST":
        if request.POST.get("action") == "clear":
            deleted = imports.clear_margins(wave)
            messages.success(
                request,
                _("The margins were removed: the weights will not be raked.")
                if deleted
                else _("There were no margins."),
            )
            return redirect("measure:margins", wave_id=wave.pk)
        form = data_forms.MarginsForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                saved = imports.replace_margins(wave, form.cleaned_data["file"])
            except imports.ImportRefused as exc:
                refusal = exc
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(count)s margin saved. Compute the estimates again to use them.",
                        "%(count)s margins saved. Compute the estimates again to use them.",
                        len(saved),
                    )
                    % {"count": len(saved)},
                )
                return redirect("measure:margins", wave_id=wave.pk)
    status = 400 if form.errors or refusal is not None else 200
    return render(
        request,
        "measure/margins.html",
        {
            "wave": wave,
            "form": form,
            "refusal": refusal,
            "check": estimation.margins_check(wave),
            "variables": list(instrument.RAKING_VARIABLES),
        },
        status=status,
    )


# --- computing and publishing -----------------------------------------------------------------------


def _summary_rows(wave: Wave) -> list[dict[str, Any]]:
    indicators = {i.id: i for i in estimation.ALL_INDICATORS}
    rows = []
    for estimate in estimation.summary(wave):
        indicator = indicators[estimate.indicator]
        factor = 100.0 if indicator.is_share else 1.0
        rows.append(
            {
                "indicator": indicator,
                "estimate": estimate,
                "is_share": indicator.is_share,
                "value": estimate.estimate * factor,
                "low": estimate.ci_low * factor,
                "high": estimate.ci_high * factor,
            }
        )
    return rows


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def compute(request: HttpRequest, wave_id: int) -> HttpResponse:
    wave = _wave(request, wave_id)
    if request.method == "POST":
        estimation.request_computation(wave)
        messages.success(request, _("The computation has started. Refresh this page in a few seconds to see it."))
        return redirect("measure:compute", wave_id=wave.pk)
    computation = wave.computation or {}
    failed = computation.get("failed")
    pending = estimation.pending(wave)
    return render(
        request,
        "measure/compute.html",
        {
            "wave": wave,
            "computation": computation,
            "pending": pending,
            "pending_since": parse_datetime(pending["since"]) if pending else None,
            "failed": estimation.error_message(failed) if failed else "",
            "stale": wave.computed_at is not None and estimation.is_stale(wave),
            "withheld": estimation.withheld(wave),
            "counts": _counts(wave),
            "margins": wave.margins.count(),
            "rows": _summary_rows(wave),
            "refusal": estimation.publish_refusal(computation) if wave.computed_at else "",
            "all_domain": BY_CODE["all"],
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def publish(request: HttpRequest, wave_id: int) -> HttpResponse:
    """POST publishes (or, with ``action=unpublish``, withdraws) the wave's results; GET leads to the
    compute page, where the button is (the wave page links here)."""
    wave = _wave(request, wave_id)
    if request.method != "POST":
        return redirect(f"{reverse('measure:compute', kwargs={'wave_id': wave.pk})}#publish-title")
    if request.POST.get("action") == "unpublish":
        estimation.unpublish(wave)
        messages.success(request, _("The results of this wave are no longer public."))
        return redirect("measure:compute", wave_id=wave.pk)
    try:
        outcome = estimation.publish(wave)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("measure:compute", wave_id=wave.pk)
    if outcome == "queued":
        messages.success(
            request,
            _(
                "The estimates are being computed from the latest responses and margins first; they will be "
                "published when that is done, unless raking fails to converge. Refresh this page to see it."
            ),
        )
    else:
        messages.success(request, _("The results of this wave are public."))
    return redirect("measure:compute", wave_id=wave.pk)
