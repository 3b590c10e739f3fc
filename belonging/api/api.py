"""Versioned JSON API (/api/v1/) with its OpenAPI schema at /api/v1/openapi.json."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Status

from belonging.pledges import selectors
from belonging.pledges.models import Pledge

# No bundled docs UI: it would load from a third-party CDN. The schema itself is public.
api = NinjaAPI(
    title="Belonging API",
    version="1",
    description="Open data from the Strategy for Belonging platform. Counts are at most a few seconds old.",
    urls_namespace="api-v1",
    docs_url=None,
)


class NumbersOut(Schema):
    pledge: str
    signatories: int
    provinces_territories: int
    by_province: dict[str, int]
    by_type: dict[str, int]
    by_sector: dict[str, int]
    updated_at: datetime


class ErrorOut(Schema):
    detail: str


@api.get(
    "/pledges/{slug}/numbers",
    response={200: NumbersOut, 404: ErrorOut},
    summary="A pledge by the numbers",
    tags=["pledges"],
)
def pledge_numbers(request: HttpRequest, slug: str, response: HttpResponse) -> Status[NumbersOut | ErrorOut]:
    """Confirmed signatories, provinces and territories represented (of 13), and breakdowns."""
    response["Access-Control-Allow-Origin"] = "*"
    pledge = Pledge.objects.filter(slug=slug).first()
    if pledge is None:
        return Status(404, ErrorOut(detail="No pledge with this slug."))
    numbers = selectors.numbers_for_pledge(pledge)
    response["Cache-Control"] = f"public, max-age={numbers.max_age_seconds()}"
    return Status(
        200,
        NumbersOut(
            pledge=pledge.slug,
            signatories=numbers.signatories,
            provinces_territories=numbers.provinces_territories,
            by_province=numbers.by_province,
            by_type=numbers.by_type,
            by_sector=numbers.by_sector,
            updated_at=numbers.updated_at,
        ),
    )
