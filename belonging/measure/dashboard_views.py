"""The public indicators: the results page of a campaign and its open-data CSV.

Both read only published waves (``selectors``), with the same suppression; neither needs an account.
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from belonging.core.exports import csv_response
from belonging.core.i18n import current_language
from belonging.core.models import Campaign
from belonging.measure import selectors

DASHBOARD_CACHE_SECONDS = 600  # also replaced at once by any change (see selectors.dashboard_stamp)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The featured campaign's survey results (the navigation's "Survey results")."""
    campaign = Campaign.objects.filter(is_featured=True).first() or Campaign.objects.order_by("id").first()
    if campaign is None:
        raise Http404
    return redirect("measure:dashboard", slug=campaign.slug)


@require_safe
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    language = current_language()
    stamp = selectors.dashboard_stamp(campaign)
    key = f"measure:dashboard:{language}:{stamp}"
    data = cache.get(key)
    if data is None:
        data = selectors.dashboard(campaign, language)
        cache.set(key, data, DASHBOARD_CACHE_SECONDS)
    return render(
        request,
        "measure/dashboard.html",
        {"campaign": campaign, "dashboard": data, "stamp": stamp},
    )


@require_safe
def estimates_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """Aggregated estimates of the published waves (never a response); see docs/data-dictionary.md."""
    campaign = get_object_or_404(Campaign, slug=slug)
    columns = selectors.CSV_COLUMNS
    rows = ([row[c] for c in columns] for row in selectors.estimates_rows(campaign))
    return csv_response(f"{campaign.slug}-indicators.csv", columns, rows)
