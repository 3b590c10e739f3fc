"""Reads of voices: gallery and search, public aggregates, the moderation queue, analysis and exports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from belonging.core import identity
from belonging.core.models import Campaign
from belonging.core.provinces import Province
from belonging.lib import suppression, textfold
from belonging.voices.models import Language, ModerationAction, Prompt, ReasonCode, SelfIdentification, Voice

AGGREGATES_CACHE_SECONDS = 60
# Voices that count in statistics: confirmed and neither rejected nor withdrawn.
RECEIVED = (Voice.Status.SUBMITTED, Voice.Status.RETURNED, Voice.Status.PUBLISHED, Voice.Status.ACCEPTED)


def prompts_open() -> QuerySet[Prompt]:
    return Prompt.objects.filter(is_open=True, campaign__is_featured=True).order_by("position", "id")


def prompts_for_edit(voice: Voice) -> QuerySet[Prompt]:
    """The open prompts, plus the voice's own one even if it has closed since."""
    return Prompt.objects.filter(Q(is_open=True, campaign__is_featured=True) | Q(pk=voice.prompt_id)).order_by(
        "position", "id"
    )


def prompts_all() -> QuerySet[Prompt]:
    return Prompt.objects.select_related("campaign").order_by("campaign_id", "position", "id")


def search(qs: QuerySet[Voice], query: str) -> QuerySet[Voice]:
    """Narrow ``qs`` to voices containing every word of ``query`` (accents folded, prefix match).

    Both databases index the same folded ``search_text``: PostgreSQL with a GIN index on its
    ``simple`` tsvector, SQLite with an FTS5 table kept in step by triggers (see the migration).
    Terms are folded ``\\w+`` tokens, so nothing typed reaches the query syntax unescaped.
    """
    if not query.strip():
        return qs
    terms = textfold.search_terms(query)
    if not terms:
        return qs.none()  # only punctuation or letters we cannot index: nothing can match
    if connection.vendor == "postgresql":
        tsquery = " & ".join(f"{t}:*" for t in terms)
        return qs.extra(
            where=["to_tsvector('simple'::regconfig, voices_voice.search_text) @@ to_tsquery('simple'::regconfig, %s)"],
            params=[tsquery],
        )
    match = " ".join(f'"{t}"*' for t in terms)
    return qs.extra(
        where=["voices_voice.id IN (SELECT rowid FROM voices_voice_fts WHERE voices_voice_fts MATCH %s)"],
        params=[match],
    )


def gallery(
    *, q: str = "", prompt: Prompt | None = None, kind: str = "", province: str = "", language: str = ""
) -> QuerySet[Voice]:
    """Published voices, newest first, narrowed by the gallery's filters."""
    qs = Voice.objects.filter(status=Voice.Status.PUBLISHED).select_related("prompt")
    if prompt is not None:
        qs = qs.filter(prompt=prompt)
    if kind:
        qs = qs.filter(kind=kind)
    if province:
        qs = qs.filter(province=province)
    if language:
        qs = qs.filter(language=language)
    return search(qs, q).order_by("-published_at", "-id")


def voices_of_contributor(voice: Voice) -> QuerySet[Voice]:
    """The other voices shared with the same email (shown on the private page)."""
    if not voice.email_normalized:
        return Voice.objects.none()
    return (
        Voice.objects.filter(email_normalized=voice.email_normalized)
        .exclude(pk=voice.pk)
        .exclude(status=Voice.Status.WITHDRAWN)
        .select_related("prompt")
        .order_by("-id")
    )


# --- public aggregates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregates:
    published: int
    by_province: list[tuple[str, str, int]]  # code, name, count
    by_prompt: list[tuple[Prompt, int]]
    by_language: list[tuple[str, int]]
    communities: list[tuple[str, int | None, int | None]]  # label, people, voices (None: suppressed)
    self_identified_people: int | None
    self_identified_voices: int | None


def aggregates() -> Aggregates:
    """Counts of published voices (exact: each is public) and, by self-identified community, of
    received voices whose authors consented to statistics, with small cells suppressed."""
    cached = cache.get("voices:aggregates")
    if cached is not None:
        return cached
    published = Voice.objects.filter(status=Voice.Status.PUBLISHED)
    province_counts = dict(published.values_list("province").annotate(n=Count("id")).order_by())
    prompt_counts = dict(published.values_list("prompt").annotate(n=Count("id")).order_by())
    language_counts = dict(published.values_list("language").annotate(n=Count("id")).order_by())
    prompts = list(prompts_all())
    names = dict(Province.choices)
    result = Aggregates(
        published=sum(province_counts.values()),
        by_province=[(code, names[code], province_counts.get(code, 0)) for code in Province.values],
        by_prompt=[(p, prompt_counts.get(p.pk, 0)) for p in prompts if p.is_open or prompt_counts.get(p.pk)],
        by_language=[(label, language_counts.get(code, 0)) for code, label in Language.choices],
        **_community_table(),
    )
    cache.set("voices:aggregates", result, AGGREGATES_CACHE_SECONDS)
    return result


INDIGENOUS_GROUPS = [
    (identity.Community.INDIGENOUS, [identity.Community.FIRST_NATIONS, identity.Community.METIS, identity.Community.INUIT])
]


def _community_table() -> dict[str, Any]:
    """People and their voices by self-identified community, safe to publish.

    Counts people, not voices: a person is identified by their email (never shown) and counted once,
    with the answers of their latest voice. Received voices whose authors consented to statistics
    are counted. A community's figures are hidden when it or its complement (the self-identified
    people not in it) is 1 to 9, per ``suppression.suppress_memberships``; its voices are shown only
    when its people are, and under the same rule.
    """
    rows = (
        SelfIdentification.objects.filter(voice__status__in=RECEIVED, voice__consent_self_id=True)
        .order_by("voice_id")
        .values_list("voice__email_normalized", "communities")
    )
    latest: dict[str, set[str]] = {}
    voices: Counter[str] = Counter()
    voice_total = 0
    for email, encoded in rows.iterator(chunk_size=5000):
        codes = identity.decode_communities(encoded)
        latest[email] = codes
        voices.update(codes)
        voice_total += 1
    people: Counter[str] = Counter()
    for codes in latest.values():
        people.update(codes)
    codes = list(identity.Community.values)
    safe_people = suppression.suppress_memberships({c: people[c] for c in codes}, len(latest), INDIGENOUS_GROUPS)
    safe_voices = suppression.suppress_memberships({c: voices[c] for c in codes}, voice_total, INDIGENOUS_GROUPS)
    labels = dict(identity.Community.choices)
    hidden_base = suppression.is_sensitive(len(latest))
    return {
        "communities": [
            (labels[c], safe_people[c], safe_voices[c] if safe_people[c] is not None else None) for c in codes
        ],
        "self_identified_people": None if hidden_base else len(latest),
        "self_identified_voices": None if hidden_base else voice_total,
    }


# --- moderation ---------------------------------------------------------------------------------


def queue(
    *,
    status: str = Voice.Status.SUBMITTED,
    prompt: Prompt | None = None,
    language: str = "",
    province: str = "",
    older_than_days: int | None = None,
    duplicates_only: bool = False,
) -> QuerySet[Voice]:
    """Voices for moderators, oldest first (the longest wait is served first)."""
    qs = Voice.objects.filter(status=status).select_related("prompt", "claimed_by", "duplicate_of")
    if prompt is not None:
        qs = qs.filter(prompt=prompt)
    if language:
        qs = qs.filter(language=language)
    if province:
        qs = qs.filter(province=province)
    if older_than_days:
        qs = qs.filter(submitted_at__lt=timezone.now() - timedelta(days=older_than_days))
    if duplicates_only:
        qs = qs.filter(Q(duplicate_of__isnull=False) | Q(pk__in=Voice.objects.filter(duplicate_of__isnull=False)
                                                         .values("duplicate_of")))
    return qs.order_by("submitted_at", "id")


def queue_counts() -> dict[str, int]:
    return dict(Voice.objects.values_list("status").annotate(n=Count("id")).order_by())


def near_duplicates(voice: Voice) -> QuerySet[Voice]:
    """Voices grouped with this one as possible near-duplicates (same group root)."""
    root = voice.duplicate_of_id or voice.pk
    return (
        Voice.objects.filter(Q(pk=root) | Q(duplicate_of_id=root))
        .exclude(pk=voice.pk)
        .exclude(status=Voice.Status.WITHDRAWN)
        .select_related("prompt")
        .order_by("id")
    )


def moderation_log() -> QuerySet[ModerationAction]:
    return ModerationAction.objects.select_related("voice", "moderator", "reason").order_by("-at", "-id")


# --- analysis and open data -----------------------------------------------------------------------


def voices_for_analysis(campaign: Campaign) -> QuerySet[Voice]:
    """Voices that may be analysed: approved by moderators and consented to analysis (never withdrawn)."""
    return Voice.objects.filter(campaign=campaign, status__in=Voice.APPROVED, consent_analysis=True)


EXPORT_FIELDS = [
    "id",
    "campaign",
    "prompt",
    "prompt_text_en",
    "prompt_text_fr",
    "kind",
    "title",
    "text",
    "redacted",
    "language",
    "province",
    "community",
    "shown_as",
    "published_at",
]


def export_row(voice: Voice) -> dict[str, Any]:
    """One published voice as open data: no email, no self-identification, the public text only."""
    return {
        "id": str(voice.public_id),
        "campaign": voice.prompt.campaign.slug,
        "prompt": voice.prompt.slug,
        "prompt_text_en": voice.prompt.text_en,
        "prompt_text_fr": voice.prompt.text_fr,
        "kind": voice.kind,
        "title": voice.title,
        "text": voice.public_text,
        "redacted": bool(voice.redacted_text),
        "language": voice.language,
        "province": voice.province,
        "community": voice.community,
        "shown_as": voice.shown_name,
        "published_at": voice.published_at.isoformat() if voice.published_at else "",
    }


def export_rows(qs: QuerySet[Voice] | None = None) -> Iterator[dict[str, Any]]:
    qs = gallery() if qs is None else qs
    for voice in qs.select_related("prompt__campaign").iterator(chunk_size=2000):
        yield export_row(voice)


def reason_codes() -> QuerySet[ReasonCode]:
    return ReasonCode.objects.filter(is_active=True).order_by("position", "id")
