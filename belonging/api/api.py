"""Versioned JSON API (/api/v1/) with its OpenAPI schema at /api/v1/openapi.json."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Schema, Status

from belonging.core.models import Campaign
from belonging.core.provinces import Province
from belonging.measure import selectors as measure_selectors
from belonging.pledges import selectors
from belonging.pledges.models import Pledge
from belonging.themes import selectors as theme_selectors
from belonging.themes.models import Curation, theme_name
from belonging.voices import selectors as voice_selectors
from belonging.voices.models import Prompt, Voice

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


class ThemeOut(Schema):
    key: str = Field(description="Stable across runs: a theme that continues keeps its key.")
    name_en: str
    name_fr: str
    size: int = Field(description="Voices in the theme.")
    keyphrases: dict[str, list[str]] = Field(description="Per language among the theme's voices.")
    quote_ids: list[str] = Field(description="Ids of published voices (as in /voices), most representative first.")


class CoverageOut(Schema):
    total: int = Field(description="Voices the synthesis covers (approved, consented to analysis, in scope).")
    in_themes: int
    share: float
    excluded: dict[str, int] = Field(description="Voices in no theme, by reason (empty, far, small, new).")


class ScopeOut(Schema):
    place: str | None
    prompt: str | None
    date_from: date | None
    date_to: date | None


class ThemesOut(Schema):
    campaign: str
    run: int
    created_at: datetime
    finished_at: datetime | None
    published_at: datetime
    scope: ScopeOut
    coverage: CoverageOut
    themes: list[ThemeOut]


@api.get(
    "/campaigns/{slug}/themes",
    response={200: ThemesOut, 404: ErrorOut},
    summary="What we heard: a campaign's themes",
    tags=["themes"],
)
def campaign_themes(request: HttpRequest, slug: str, response: HttpResponse) -> Status[ThemesOut | ErrorOut]:
    """The themes of the campaign's synthesis published last, largest first, without the hidden ones:
    names, sizes, keyphrases and the published voices quoted. Never any personal data."""
    response["Access-Control-Allow-Origin"] = "*"
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        return Status(404, ErrorOut(detail="No campaign with this slug."))
    run = theme_selectors.latest_published_run(campaign)
    if run is None:
        return Status(404, ErrorOut(detail="No synthesis of this campaign has been published yet."))
    curations = {c.key: c for c in Curation.objects.filter(campaign=campaign)}
    themes = [t for t in run.themes.order_by("position") if not getattr(curations.get(t.key), "hidden", False)]
    quoted = {q for t in themes for q in t.quote_ids}
    public_ids = dict(Voice.objects.filter(pk__in=quoted, status=Voice.Status.PUBLISHED).values_list("pk", "public_id"))
    response["Cache-Control"] = "public, max-age=60"
    return Status(
        200,
        ThemesOut(
            campaign=campaign.slug,
            run=run.pk,
            created_at=run.created_at,
            finished_at=run.finished_at,
            published_at=run.published_at,
            scope=ScopeOut(
                place=run.place.slug if run.place else None,
                prompt=run.prompt.slug if run.prompt else None,
                date_from=run.date_from,
                date_to=run.date_to,
            ),
            coverage=CoverageOut(
                total=run.total, in_themes=run.in_themes, share=round(run.share, 4), excluded=run.excluded
            ),
            themes=[
                ThemeOut(
                    key=t.key,
                    name_en=theme_name(t, curations.get(t.key), "en"),
                    name_fr=theme_name(t, curations.get(t.key), "fr"),
                    size=t.size,
                    keyphrases=t.keyphrases,
                    quote_ids=[str(public_ids[q]) for q in t.quote_ids if q in public_ids],
                )
                for t in themes
            ],
        ),
    )


class IndicatorCellOut(Schema):
    indicator: str = Field(description="Indicator id (measure/instrument.py): a share, or a mean score (`…_score`).")
    indicator_label_en: str
    indicator_label_fr: str
    domain: str = Field(description='Domain code (measure/domains.py): "all", "province:ON", "community:women", …')
    domain_label_en: str
    domain_label_fr: str
    estimate: float | None = Field(
        description="A proportion (0–1) for a share, a score (1–5) for a mean. Null when not published."
    )
    se: float | None = Field(description="Standard error, same unit. Null when not published.")
    ci_low: float | None = Field(description="95% confidence interval, same unit. Null when not published.")
    ci_high: float | None
    cv: float | None = Field(
        description="Coefficient of variation, in percent. Null when not published or when the estimate is 0."
    )
    n: int | None = Field(description="Respondents with a valid answer in the domain. Null when not published.")
    flag: Literal["", "E", "F", "x"] = Field(
        description='"" released, "E" use with caution, "F" too unreliable to publish, "x" hidden to protect '
        "another cell."
    )
    flag_reason: str = Field(description="fewer_than_10, cv_above_33_3, cv_16_6_to_33_3, complement, or empty.")


class IndicatorWaveOut(Schema):
    wave: str
    wave_title_en: str
    wave_title_fr: str
    kind: Literal["baseline", "follow_up"]
    sample: Literal["open", "invited"] = Field(description="Never pooled or compared with the other sample type.")
    place: str | None = Field(description="The place's slug; null for the whole campaign.")
    baseline: str | None = Field(description="The wave this one's change is measured from (same sample and place).")
    questionnaire: str
    opens: date
    closes: date
    raked: bool = Field(description="Whether the weights were raked to census margins.")
    estimates: list[IndicatorCellOut]


class IndicatorsOut(Schema):
    campaign: str
    waves: list[IndicatorWaveOut]


@api.get(
    "/campaigns/{slug}/indicators",
    response={200: IndicatorsOut, 404: ErrorOut},
    summary="Belonging indicators: a campaign's published survey estimates",
    tags=["measure"],
)
def campaign_indicators(request: HttpRequest, slug: str, response: HttpResponse) -> Status[IndicatorsOut | ErrorOut]:
    """Aggregated estimates of the campaign's published survey waves, oldest wave first, with the same
    figures, flags and suppression as the CSV (``/<lang>/survey/<slug>/results.csv``). Never a response."""
    response["Access-Control-Allow-Origin"] = "*"
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        return Status(404, ErrorOut(detail="No campaign with this slug."))
    response["Cache-Control"] = "public, max-age=60"
    return Status(200, IndicatorsOut(campaign=campaign.slug, waves=measure_selectors.api_waves(campaign)))
