"""Versioned JSON API (/api/v1/) with its OpenAPI schema at /api/v1/openapi.json."""

from __future__ import annotations

from datetime import datetime

from typing import Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Schema, Status

from belonging.core.models import Campaign
from belonging.core.provinces import Province
from belonging.pledges import selectors
from belonging.pledges.models import Pledge
from belonging.voices import selectors as voice_selectors
from belonging.voices.models import Prompt

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


class VoiceFilters(Schema):
    q: str = Field("", max_length=200, description="Words to find (accents and case ignored, prefix match).")
    campaign: str = Field("", max_length=50, description="A campaign's slug.")
    prompt: str = Field("", max_length=50, description="A prompt's slug (within the campaign, if one is given).")
    kind: Literal["", "story", "wisdom", "thought"] = ""
    province: Literal[("", *Province.values)] = ""  # type: ignore[valid-type]
    language: Literal["", "en", "fr"] = ""
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=1000, description="Capped at the server's VOICE_API_MAX_PAGE_SIZE.")


class VoiceOut(Schema):
    id: str
    campaign: str
    prompt: str
    prompt_text_en: str
    prompt_text_fr: str
    kind: str
    title: str
    text: str
    redacted: bool
    language: str
    province: str
    community: str
    shown_as: str
    published_at: str


class VoicePage(Schema):
    count: int
    page: int
    page_size: int
    pages: int
    results: list[VoiceOut]


@api.get(
    "/voices",
    response={200: VoicePage, 400: ErrorOut},
    summary="Published voices",
    tags=["voices"],
)
def voices(request: HttpRequest, response: HttpResponse, filters: Query[VoiceFilters]) -> Status[VoicePage | ErrorOut]:
    """Published voices, newest first, with the gallery's search and filters; never any personal data.

    The same rows as the CSV export (``/en/voices/voices.csv``), described in docs/data-dictionary.md.
    """
    response["Access-Control-Allow-Origin"] = "*"
    qs = voice_selectors.gallery(
        q=filters.q, kind=filters.kind, province=filters.province, language=filters.language
    ).select_related("prompt__campaign")
    prompts = Prompt.objects.all()
    if filters.campaign:
        if not Campaign.objects.filter(slug=filters.campaign).exists():
            return Status(400, ErrorOut(detail="No campaign with this slug."))
        qs = qs.filter(campaign__slug=filters.campaign)
        prompts = prompts.filter(campaign__slug=filters.campaign)
    if filters.prompt:
        if not prompts.filter(slug=filters.prompt).exists():
            return Status(400, ErrorOut(detail="No prompt with this slug."))
        qs = qs.filter(prompt__in=prompts.filter(slug=filters.prompt))
    page_size = min(filters.page_size, settings.VOICE_API_MAX_PAGE_SIZE)
    paginator = Paginator(qs, page_size)
    pages = paginator.num_pages if paginator.count else 0
    if filters.page > max(pages, 1):
        return Status(400, ErrorOut(detail=f"There are {pages} pages."))
    page = paginator.page(filters.page) if paginator.count else []
    return Status(
        200,
        VoicePage(
            count=paginator.count,
            page=filters.page,
            page_size=page_size,
            pages=pages,
            results=[VoiceOut(**voice_selectors.export_row(v)) for v in page],
        ),
    )
