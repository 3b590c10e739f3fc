"""Reads of themes: runs, the "What we heard" report with its method-and-coverage statement, the
equity lens, themes by province and by language, and what organizers need to curate.

Only voices still eligible count anywhere here: approved by moderators (published or accepted) and
consented to analysis. A voice withdrawn, taken down or whose consent ended after a run disappears
from every size, table and quote at once, without waiting for the next run. Quotes are only ever
published voices. Counts by place or by self-identified community are counts of people (a person
counted once however many voices they shared), taken from the run's own memberships only (a voice
placed provisionally after the run waits for the next one), and follow the small-cell rule (DESIGN.md
§6, ``belonging.lib.suppression``).

The public report and its PDF are cached under ``report_stamp``: the run, its publication time and the
campaign's report version, which ``bump_report_version`` moves whenever the report can change.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override

from belonging.core import identity
from belonging.core.i18n import current_language
from belonging.core.models import Campaign
from belonging.core.provinces import Province
from belonging.lib import suppression
from belonging.themes.models import (
    Backend,
    Curation,
    CurationAction,
    Membership,
    SynthesisRun,
    Theme,
    theme_keyphrases,
    theme_label,
)
from belonging.voices.models import Language, Voice
from belonging.voices.selectors import INDIGENOUS_GROUPS

MAX_QUOTES = 5
PIN_CANDIDATES = 50
HISTORY_LENGTH = 100
UNDER_REPRESENTED_RATIO = 0.5  # a theme share below half the overall share is flagged
NOT_GIVEN = ""  # voices with no province

# --- runs -----------------------------------------------------------------------------------------


def latest_published_run(campaign: Campaign | int) -> SynthesisRun | None:
    """The run shown on "What we heard": the one published last."""
    return (
        SynthesisRun.objects.filter(campaign=campaign, status=SynthesisRun.Status.DONE, published_at__isnull=False)
        .select_related("campaign", "place", "prompt")
        .order_by("-published_at", "-id")
        .first()
    )


def latest_run(campaign: Campaign) -> SynthesisRun | None:
    return SynthesisRun.objects.filter(campaign=campaign).select_related("place", "prompt").first()


def latest_done_run(campaign: Campaign | int) -> SynthesisRun | None:
    """The latest finished run: the one organizers curate (curation is applied to it at once)."""
    return (
        SynthesisRun.objects.filter(campaign=campaign, status=SynthesisRun.Status.DONE)
        .order_by("-created_at", "-id")
        .first()
    )


def runs(campaign: Campaign) -> QuerySet[SynthesisRun]:
    return SynthesisRun.objects.filter(campaign=campaign).select_related("place", "prompt", "started_by")


def campaigns() -> QuerySet[Campaign]:
    return Campaign.objects.order_by("-is_featured", "title_en")


def featured_campaign() -> Campaign | None:
    return Campaign.objects.filter(is_featured=True).first() or Campaign.objects.order_by("id").first()


def run_for_campaign_page(run_id: int) -> SynthesisRun | None:
    return SynthesisRun.objects.select_related("campaign", "place", "prompt", "started_by").filter(pk=run_id).first()


def history(campaign: Campaign, limit: int = HISTORY_LENGTH) -> list[CurationAction]:
    """The latest curation actions, newest first, each with ``change``: what it changed, in words in the
    active language (the names before and after, the theme merged into, the themes split into, the
    quote pinned), as safe HTML with the language of every name and quote marked."""
    actions = list(CurationAction.objects.filter(campaign=campaign).select_related("actor")[:limit])
    language = current_language()
    names = _theme_names(campaign, language)
    quotes = _history_quotes(actions)
    for action in actions:
        action.change = _describe(action, names, quotes)  # type: ignore[attr-defined]
    return actions


def _theme_names(campaign: Campaign, language: str) -> dict[str, tuple[str, str]]:
    """key -> (name, language of the name) of the campaign's themes: as named in the latest finished run,
    and for keys no longer in it, the organizers' names where they gave some."""
    curations = {c.key: c for c in Curation.objects.filter(campaign=campaign)}
    names: dict[str, tuple[str, str]] = {}
    for key, curation in curations.items():
        for lang in (language, _other(language)):
            value = getattr(curation, f"name_{lang}", "")
            if value:
                names[key] = (value, lang)
                break
    run = latest_done_run(campaign)
    if run is not None:
        for theme in Theme.objects.filter(run=run).only("key", "keyphrases", "position"):
            name, name_language, _curated = _name(theme, curations.get(theme.key), language)
            names[theme.key] = (name, name_language)
    return names


def _history_quotes(actions: Sequence[CurationAction]) -> dict[str, Voice]:
    """public id -> the published voice, for the quotes pinned or unpinned in ``actions``."""
    wanted = set()
    for action in actions:
        if action.action not in (CurationAction.Action.PIN, CurationAction.Action.UNPIN):
            continue
        for side in ("before", "after"):
            value = _detail(action, side).get("voice")
            try:
                wanted.add(uuid.UUID(str(value)))
            except ValueError:
                continue
    if not wanted:
        return {}
    voices = Voice.objects.filter(public_id__in=wanted, status=Voice.Status.PUBLISHED).only(
        "id", "public_id", "title", "text", "redacted_text", "language", "status"
    )
    return {str(v.public_id): v for v in voices}


def _detail(action: CurationAction, side: str) -> dict[str, Any]:
    detail = action.detail if isinstance(action.detail, dict) else {}
    value = detail.get(side)
    return value if isinstance(value, dict) else {}


def _words(template: str, **values: Any) -> SafeString:
    """A translated sentence with ``%(name)s`` places filled with HTML: the sentence is escaped, and so
    are the values unless already safe (``format_html`` for gettext's %-style)."""
    safe = {k: v if isinstance(v, int) else conditional_escape(v) for k, v in values.items()}
    return mark_safe(conditional_escape(template) % safe)


def _theme_ref(key: str, names: dict[str, tuple[str, str]]) -> SafeString:
    found = names.get(key)
    if found is None:
        return format_html("<code>{}</code>", key)
    return format_html('<span lang="{}">{}</span>', found[1], found[0])


def _quote_ref(public_id: str, quotes: dict[str, Voice]) -> SafeString:
    voice = quotes.get(public_id)
    if voice is None:
        return _words(_("a voice no longer published"))
    excerpt = voice.title or Truncator(voice.public_text).words(12)
    url = reverse("voices:detail", args=[voice.public_id])
    return format_html('<q lang="{}"><a href="{}">{}</a></q>', voice.language, url, excerpt)


def _describe(action: CurationAction, names: dict[str, tuple[str, str]], quotes: dict[str, Voice]) -> SafeString:
    """What ``action`` changed, in words (``CurationAction.detail`` holds the values before and after)."""
    before, after = _detail(action, "before"), _detail(action, "after")
    kind = action.action
    if kind == CurationAction.Action.RENAME:
        parts = []
        for lang, label in (("en", _("English name")), ("fr", _("French name"))):
            old, new = str(before.get(f"name_{lang}") or ""), str(after.get(f"name_{lang}") or "")
            if old == new:
                continue
            old_html = format_html('<span lang="{}">{}</span>', lang, old)
            new_html = format_html('<span lang="{}">{}</span>', lang, new)
            if old and new:
                parts.append(
                    _words(
                        _("%(field)s: “%(before)s” became “%(after)s”"), field=label, before=old_html, after=new_html
                    )
                )
            elif new:
                parts.append(
                    _words(_("%(field)s: “%(after)s” (it was named by its key words)"), field=label, after=new_html)
                )
            else:
                parts.append(
                    _words(
                        _("%(field)s: “%(before)s” removed (it is named by its key words again)"),
                        field=label,
                        before=old_html,
                    )
                )
        if not parts:
            return _words(_("The names did not change."))
        return format_html_join(mark_safe("<br>"), "{}", ((p,) for p in parts))
    if kind == CurationAction.Action.MERGE:
        target = str(after.get("merged_into") or "")
        if not target:
            return _words(_("No longer merged into another theme."))
        return _words(_("Merged into “%(theme)s”: its voices are now in that theme."), theme=_theme_ref(target, names))
    if kind == CurationAction.Action.SPLIT:
        keys = [str(k) for k in after.get("split_into") or []]
        sizes = list(after.get("sizes") or [])
        parts = []
        for i, key in enumerate(keys):
            size = sizes[i] if i < len(sizes) and isinstance(sizes[i], int) else None
            ref = _theme_ref(key, names)
            if size is None:
                parts.append(_words(_("“%(theme)s”"), theme=ref))
            else:
                parts.append(
                    _words(
                        ngettext("“%(theme)s” (%(count)d voice)", "“%(theme)s” (%(count)d voices)", size),
                        theme=ref,
                        count=size,
                    )
                )
        joined = format_html_join(mark_safe("; "), "{}", ((p,) for p in parts))
        return _words(_("Split into: %(themes)s."), themes=joined)
    if kind == CurationAction.Action.PIN:
        new, old = str(after.get("voice") or ""), str(before.get("voice") or "")
        if old and old != new:
            return _words(
                _("Pinned quote: %(quote)s, instead of %(previous)s."),
                quote=_quote_ref(new, quotes),
                previous=_quote_ref(old, quotes),
            )
        return _words(_("Pinned quote: %(quote)s."), quote=_quote_ref(new, quotes))
    if kind == CurationAction.Action.UNPIN:
        old = str(before.get("voice") or "")
        return _words(_("No quote pinned any more (it was %(quote)s)."), quote=_quote_ref(old, quotes))
    if kind == CurationAction.Action.HIDE:
        return _words(_("Left out of the public report; its voices still count in every figure."))
    if kind == CurationAction.Action.SHOW:
        return _words(_("Back in the public report."))
    return _words("—")


def eligible_memberships(run: SynthesisRun) -> QuerySet[Membership]:
    """The run's memberships of voices that may still be analysed (approved, consented to analysis)."""
    return Membership.objects.filter(run=run, voice__status__in=Voice.APPROVED, voice__consent_analysis=True)


def pin_candidates(theme: Theme, limit: int = PIN_CANDIDATES) -> list[Voice]:
    """Published, eligible members of ``theme`` that may be pinned, most representative first."""
    ids = list(
        eligible_memberships(theme.run)
        .filter(theme=theme, voice__status=Voice.Status.PUBLISHED)
        .order_by("-similarity", "voice_id")
        .values_list("voice_id", flat=True)[:limit]
    )
    voices = {v.pk: v for v in Voice.objects.filter(pk__in=ids)}
    return [voices[i] for i in ids if i in voices]


def run_status(run: SynthesisRun) -> dict[str, Any]:
    """What the progress bar shows, as JSON-ready values."""
    finished = run.status in (SynthesisRun.Status.DONE, SynthesisRun.Status.FAILED)
    percent = round(float(run.progress) * 100)
    return {
        "status": run.status,
        "status_label": str(run.get_status_display()),
        "progress": round(float(run.progress), 4),
        "percent": percent,
        "percent_label": _("%(percent)d%% done") % {"percent": percent},
        "stage": run.stage,
        "stage_label": run.stage_label,
        "finished": finished,
    }


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    voice_id: int
    public_id: Any  # uuid.UUID
    title: str
    text: str
    language: str
    pinned: bool


@dataclass
class ThemeReport:
    pk: int
    key: str
    position: int
    name: str
    name_language: str  # the language the name is written in (for the lang attribute)
    name_is_curated: bool
    name_en: str
    name_fr: str
    size: int
    share: float  # of the voices in shown themes, 0..100
    keyphrases: list[str]
    keyphrases_language: str
    quotes: list[Quote]
    languages: dict[str, int]
    hidden: bool
    pinned_voice_id: int | None
    provisional: int  # voices added to this theme since the run


@dataclass(frozen=True)
class Exclusion:
    reason: str
    count: int
    explanation: str


@dataclass
class Coverage:
    analysed: int
    in_themes: int
    in_shown_themes: int
    in_hidden_themes: int
    added_since_run: int  # in a theme provisionally, after the run
    not_in_theme: int
    excluded: list[Exclusion]

    @property
    def new(self) -> int:
        """Voices received after the run that are not near enough to any theme yet."""
        return sum(e.count for e in self.excluded if e.reason == "new")

    @property
    def share_in_themes(self) -> float:
        return 100 * self.in_themes / self.analysed if self.analysed else 0.0


@dataclass(frozen=True)
class EquityRow:
    """One community in one theme: people, not voices (see ``_equity``)."""

    community: str
    label: str
    count: int | None  # self-identified people of the theme in the community (None: suppressed)
    share: float | None  # of the theme's self-identified people, 0..100
    overall_count: int | None  # self-identified people in the community among all analysed
    overall_share: float | None
    under_represented: bool


@dataclass
class EquityTheme:
    key: str
    name: str
    name_language: str
    base: int | None  # self-identified people with a voice in the theme (None: suppressed)
    rows: list[EquityRow]

    @property
    def flagged(self) -> list[EquityRow]:
        return [r for r in self.rows if r.under_represented]


@dataclass
class Equity:
    base: int | None  # self-identified people among all analysed (None: suppressed)
    themes: list[EquityTheme]

    @property
    def flags(self) -> list[tuple[EquityTheme, EquityRow]]:
        return [(t, r) for t in self.themes for r in t.flagged]


@dataclass(frozen=True)
class Column:
    code: str
    label: str


@dataclass
class CrossRow:
    key: str
    name: str
    name_language: str
    cells: list[int | None]  # None: suppressed
    total: int | None  # None: suppressed


@dataclass
class CrossTable:
    columns: list[Column]
    rows: list[CrossRow]


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    language: str  # the language of the theme's name (for the lang attribute)
    value: int
    y: float
    width: float
    text_y: float
    value_x: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]


@dataclass
class Report:
    run: SynthesisRun
    campaign: Campaign
    language: str
    themes: list[ThemeReport]
    coverage: Coverage
    equity: Equity
    by_province: CrossTable
    by_language: CrossTable
    chart: Chart
    backend_label: str
    scope: list[tuple[str, str]] = field(default_factory=list)  # (label, value), what the run covered
    run_date: datetime | None = None
    include_hidden: bool = False

    @property
    def hidden_count(self) -> int:
        return sum(1 for t in self.themes if t.hidden)

    @property
    def public_run(self) -> SynthesisRun | None:
        """The run "What we heard" shows now (read when asked: the curation page asks, the public page
        does not)."""
        return latest_published_run(self.campaign)

    @property
    def is_public(self) -> bool:
        """Whether this report's run is the one "What we heard" shows: then every curation shows there
        at once, with no further step."""
        public = self.public_run
        return public is not None and public.pk == self.run.pk


def _other(language: str) -> str:
    return "en" if language == "fr" else "fr"


def _explanations() -> dict[str, str]:
    return {
        "empty": _("No words the analysis could read (for example only punctuation or emoji)"),
        "far": _("Not close enough to any theme"),
        "small": _("In a group too small to be a theme, and close to no other theme"),
        "new": _("Received after the analysis and not yet close to a theme (the next analysis will include it)"),
    }


def _name(theme: Theme, curation: Curation | None, language: str) -> tuple[str, str, bool]:
    return theme_label(theme, curation, language)


def _keyphrases(theme: Theme, language: str) -> tuple[list[str], str]:
    return theme_keyphrases(theme, language)


@dataclass
class _Counts:
    """Tallies of the run's eligible memberships, from one pass over one query.

    Voices: ``analysed``, ``reasons``, ``size``, ``provisional``, ``languages`` and ``members`` count
    every eligible voice, provisional ones included (they are part of a theme's size and quotes).

    People: ``people``, ``provinces``, ``communities``, ``self_identified`` and the overall figures count
    each person once (see ``_person``) and only from the run's own memberships, never from the
    provisional ones added since: a voice approved after the run must not move a count by identity or
    place, or watching "14 → 15" would reveal how its author self-identified. Withdrawals still
    subtract, as every eligible-only figure does.
    """

    analysed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    size: Counter[int] = field(default_factory=Counter)
    provisional: Counter[int] = field(default_factory=Counter)
    languages: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    members: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    provisional_in_themes: int = 0
    people: Counter[int] = field(default_factory=Counter)  # theme -> people
    provinces: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # theme -> people
    communities: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # theme -> people
    self_identified: Counter[int] = field(default_factory=Counter)  # theme -> self-identified people
    overall_communities: Counter[str] = field(default_factory=Counter)  # people
    overall_self_identified: int = 0  # people


def _person(voice_id: int, email: str) -> str:
    """Who wrote a voice, as ``_community_table`` in the voices' selectors tells people apart: by the
    normalized email (never shown). A voice without one (withdrawn voices, which are not eligible
    anyway) stands for a person of its own."""
    return email or f"#{voice_id}"


def _tally(run: SynthesisRun) -> _Counts:
    counts = _Counts()
    # person -> (voice id, communities) of their latest self-identified voice in the run
    answers: dict[str, tuple[int, set[str]]] = {}
    # theme -> person -> (voice id, province) of their latest voice in the theme
    authors: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)
    rows = eligible_memberships(run).values_list(
        "voice_id",
        "theme_id",
        "reason",
        "provisional",
        "voice__language",
        "voice__province",
        "voice__email_normalized",
        "voice__consent_self_id",
        "voice__self_identification__communities",
    )
    for voice_id, theme_id, reason, provisional, language, province, email, consent_self_id, encoded in rows.iterator(
        chunk_size=5000
    ):
        counts.analysed += 1
        if theme_id is None:
            counts.reasons[reason] += 1
        else:
            counts.size[theme_id] += 1
            counts.members[theme_id].add(voice_id)
            counts.languages[theme_id][language] += 1
            if provisional:
                counts.provisional[theme_id] += 1
                counts.provisional_in_themes += 1
        if provisional:
            continue  # in no count of people until the next run
        person = _person(voice_id, email)
        if consent_self_id and encoded is not None:
            found = answers.get(person)
            if found is None or voice_id > found[0]:
                answers[person] = (voice_id, identity.decode_communities(encoded))
        if theme_id is not None:
            found_place = authors[theme_id].get(person)
            if found_place is None or voice_id > found_place[0]:
                authors[theme_id][person] = (voice_id, province or NOT_GIVEN)

    counts.overall_self_identified = len(answers)
    for _voice_id, codes in answers.values():
        counts.overall_communities.update(codes)
    for theme_id, people in authors.items():
        counts.people[theme_id] = len(people)
        for person, (_voice_id, province) in people.items():
            counts.provinces[theme_id][province] += 1
            found = answers.get(person)
            if found is not None:
                counts.self_identified[theme_id] += 1
                counts.communities[theme_id].update(found[1])
    return counts


def _quotes(themes: Sequence[Theme], curations: dict[str, Curation], counts: _Counts) -> dict[int, list[Quote]]:
    """Up to MAX_QUOTES published quotes per theme: the pinned one first, then the representative ones.

    Only published voices still in the theme are quoted: a voice withdrawn, taken down or never
    published is skipped, and the next representative voice takes its place."""
    wanted: dict[int, list[tuple[int, bool]]] = {}
    for theme in themes:
        curation = curations.get(theme.key)
        pinned = curation.pinned_quote_id if curation else None
        ids: list[tuple[int, bool]] = [(pinned, True)] if pinned else []
        ids += [(int(i), False) for i in theme.quote_ids or [] if str(i).isdigit() and int(i) != pinned]
        wanted[theme.pk] = ids
    all_ids = {i for ids in wanted.values() for i, _pinned in ids}
    voices = {
        v.pk: v
        for v in Voice.objects.filter(pk__in=all_ids, status=Voice.Status.PUBLISHED, consent_analysis=True).only(
            "id", "public_id", "title", "text", "redacted_text", "language"
        )
    }
    result: dict[int, list[Quote]] = {}
    for theme in themes:
        quotes: list[Quote] = []
        for voice_id, pinned in wanted[theme.pk]:
            voice = voices.get(voice_id)
            if voice is None or voice_id not in counts.members.get(theme.pk, ()):
                continue
            quotes.append(Quote(voice.pk, voice.public_id, voice.title, voice.public_text, voice.language, pinned))
            if len(quotes) == MAX_QUOTES:
                break
        result[theme.pk] = quotes
    return result


def report(run: SynthesisRun, language: str, *, include_hidden: bool = False) -> Report:
    """Everything "What we heard" shows for ``run`` in ``language`` ("en" or "fr").

    The public report leaves hidden themes out (``include_hidden`` is for organizers). Sizes, shares and
    every table count only the run's voices that are still eligible (see the module docstring).
    """
    with override(language):
        return _report(run, language, include_hidden)


def _report(run: SynthesisRun, language: str, include_hidden: bool) -> Report:
    campaign = run.campaign
    curations = {c.key: c for c in Curation.objects.filter(campaign=campaign)}
    all_themes = list(Theme.objects.filter(run=run).order_by("position", "id"))
    counts = _tally(run)
    shown = [t for t in all_themes if include_hidden or not _hidden(curations.get(t.key))]
    quotes = _quotes(shown, curations, counts)
    in_shown = sum(counts.size[t.pk] for t in shown)

    theme_reports = []
    for theme in shown:
        curation = curations.get(theme.key)
        name, name_language, curated = _name(theme, curation, language)
        phrases, phrases_language = _keyphrases(theme, language)
        size = counts.size[theme.pk]
        theme_reports.append(
            ThemeReport(
                pk=theme.pk,
                key=theme.key,
                position=theme.position,
                name=name,
                name_language=name_language,
                name_is_curated=curated,
                name_en=curation.name_en if curation else "",
                name_fr=curation.name_fr if curation else "",
                size=size,
                share=100 * size / in_shown if in_shown else 0.0,
                keyphrases=phrases,
                keyphrases_language=phrases_language,
                quotes=quotes[theme.pk],
                languages=dict(counts.languages[theme.pk]),
                hidden=_hidden(curation),
                pinned_voice_id=curation.pinned_quote_id if curation else None,
                provisional=counts.provisional[theme.pk],
            )
        )

    in_themes = sum(counts.size.values())
    explanations = _explanations()
    reasons = ["empty", "far", "small", "new"] + sorted(set(counts.reasons) - set(explanations))
    coverage = Coverage(
        analysed=counts.analysed,
        in_themes=in_themes,
        in_shown_themes=in_shown,
        in_hidden_themes=in_themes - in_shown,
        added_since_run=counts.provisional_in_themes,
        not_in_theme=sum(counts.reasons.values()),
        excluded=[
            Exclusion(r, counts.reasons[r], explanations.get(r, _("Other reason")))
            for r in reasons
            if counts.reasons[r]
        ],
    )
    return Report(
        run=run,
        campaign=campaign,
        language=language,
        themes=theme_reports,
        coverage=coverage,
        equity=_equity(theme_reports, counts),
        by_province=_by_province(theme_reports, counts),
        by_language=_by_language(theme_reports, counts),
        chart=bar_chart(theme_reports),
        backend_label=str(Backend(run.backend).label) if run.backend in Backend.values else run.backend,
        scope=_scope(run),
        run_date=run.finished_at or run.created_at,
        include_hidden=include_hidden,
    )


def _hidden(curation: Curation | None) -> bool:
    return bool(curation and curation.hidden)


def _scope(run: SynthesisRun) -> list[tuple[str, str]]:
    scope = []
    if run.place_id:
        scope.append((_("Place"), run.place.name))
    if run.prompt_id:
        scope.append((_("Question"), run.prompt.text))
    if run.date_from or run.date_to:
        start = date_format(run.date_from) if run.date_from else _("the beginning")
        end = date_format(run.date_to) if run.date_to else _("the day of the analysis")
        scope.append((_("Voices received"), _("from %(start)s to %(end)s") % {"start": start, "end": end}))
    return scope


# --- tables ---------------------------------------------------------------------------------------


def _by_province(themes: Sequence[ThemeReport], counts: _Counts) -> CrossTable:
    """People of each theme by province or territory, with small cells suppressed.

    Counts people, not voices (DESIGN.md §6: fewer than 10 people): each person once per theme, in the
    province of their latest voice in it, from the run's own memberships (not the provisional ones,
    see ``_Counts``). Each row is published with its total of people, so it is suppressed as one line
    (``suppress_1d``): a single hidden cell is never left to be worked out by subtraction; a theme of 1
    to 9 people shows no breakdown and no total. Provinces with nobody in any shown theme are left out
    (a column of zeros reveals no one).
    """
    names = dict(Province.choices)
    present = {code for t in themes for code, n in counts.provinces[t.pk].items() if n}
    codes = [c for c in Province.values if c in present] + ([NOT_GIVEN] if NOT_GIVEN in present else [])
    columns = [Column(c, str(names[c]) if c else _("Not given")) for c in codes]
    rows = []
    for theme in themes:
        people = counts.people[theme.pk]
        raw = {c: counts.provinces[theme.pk].get(c, 0) for c in codes}
        total: int | None = people
        if suppression.is_sensitive(people):  # 1 to 9 people: no breakdown at all
            safe: dict[str, int | None] = {c: None for c in codes}
            total = None
        else:
            safe = suppression.suppress_1d(raw, total=people)
        rows.append(CrossRow(theme.key, theme.name, theme.name_language, [safe[c] for c in codes], total))
    return CrossTable(columns, rows)


def _by_language(themes: Sequence[ThemeReport], counts: _Counts) -> CrossTable:
    """Voices of each theme by the language they were written in (not a trait of people: exact, and
    provisional voices included, as in the theme's size)."""
    columns = [Column(code, str(label)) for code, label in Language.choices]
    rows = [
        CrossRow(t.key, t.name, t.name_language, [counts.languages[t.pk].get(c.code, 0) for c in columns], t.size)
        for t in themes
    ]
    return CrossTable(columns, rows)


# --- the equity lens --------------------------------------------------------------------------------


def _equity(themes: Sequence[ThemeReport], counts: _Counts) -> Equity:
    """Each community's share of each theme's people against its share of all the people analysed.

    Counts people, not voices: a person (``_person``) counts once in each theme where they have a
    voice, and once overall, however many voices they shared, with the answers of their latest
    self-identified voice in the run; only people who answered the optional questions and consented
    to their use for statistics (self-identified people) count, and only from the run's own
    memberships (``_Counts``). Suppression follows DESIGN.md §6 on these counts of people, all of it
    hiding a count together with its share:

    1. Per theme, ``suppression.suppress_memberships``: a count of 1 to 9 or whose complement (the
       theme's other self-identified people) is 1 to 9 is hidden; a theme with 1 to 9 self-identified
       people shows none; Indigenous groups are protected as one line. The same for the overall column.
    2. Across themes: a community's counts in the shown themes and among the people in no shown theme
       add up to its published overall count when nobody is in two themes, so a line with a single
       hidden entry gets its smallest published count hidden too (as ``suppress_1d`` does, the people
       in no shown theme being one more entry); the same for the themes' self-identified totals, where
       hiding a total hides its theme's whole column. (When people are in several themes the entries
       add up to more than the total, which only makes subtraction less informative.)

    A community is flagged under-represented in a theme when its share there is below half its overall
    share and neither figure is suppressed.
    """
    codes = list(identity.Community.values)
    labels = dict(identity.Community.choices)
    keys = [t.pk for t in themes]
    raw = {pk: {c: counts.communities[pk][c] for c in codes} for pk in keys}
    base = {pk: counts.self_identified[pk] for pk in keys}
    overall_base = counts.overall_self_identified
    overall = suppression.suppress_memberships(
        {c: counts.overall_communities[c] for c in codes}, overall_base, INDIGENOUS_GROUPS
    )
    cells = {pk: suppression.suppress_memberships(raw[pk], base[pk], INDIGENOUS_GROUPS) for pk in keys}
    base_shown: dict[int, int | None] = {pk: None if suppression.is_sensitive(base[pk]) else base[pk] for pk in keys}
    overall_base_shown = None if suppression.is_sensitive(overall_base) else overall_base

    def hide_theme(pk: int) -> None:
        base_shown[pk] = None
        for c in codes:
            cells[pk][c] = None

    changed = True
    while changed:
        changed = False
        # The themes' self-identified totals add up (with the people in no shown theme) to the overall one.
        if overall_base_shown is not None:
            pk = _complement(keys, base, base_shown, overall_base)
            if pk is not None:
                hide_theme(pk)
                changed = True
        for c in codes:
            if overall[c] is None:
                continue
            column = {pk: cells[pk][c] for pk in keys}
            pk = _complement(keys, {k: raw[k][c] for k in keys}, column, counts.overall_communities[c])
            if pk is not None:
                cells[pk][c] = None
                changed = True
        for pk in keys:
            changed |= _protect_groups(cells[pk], raw[pk])

    def share(count: int | None, total: int | None) -> float | None:
        if count is None or not total:
            return None
        return 100 * count / total

    overall_share = {c: share(overall[c], overall_base_shown) for c in codes}
    result = []
    for theme in themes:
        rows = []
        for c in codes:
            count = cells[theme.pk][c]
            theme_share = share(count, base_shown[theme.pk])
            under = (
                theme_share is not None
                and overall_share[c] is not None
                and overall_share[c] > 0
                and theme_share < UNDER_REPRESENTED_RATIO * overall_share[c]
            )
            rows.append(EquityRow(c, str(labels[c]), count, theme_share, overall[c], overall_share[c], under))
        result.append(EquityTheme(theme.key, theme.name, theme.name_language, base_shown[theme.pk], rows))
    return Equity(overall_base_shown, result)


def _complement(keys: Sequence[int], raw: dict[int, int], shown: dict[int, int | None], total: int) -> int | None:
    """In a line of entries adding up, with the unpublished remainder, to a published ``total``: the
    entry to hide when exactly one is hidden (the smallest published positive one), else None."""
    remainder = total - sum(raw[k] for k in keys)
    hidden = sum(1 for k in keys if shown[k] is None) + suppression.is_sensitive(remainder)
    if hidden != 1:
        return None
    candidates = [k for k in keys if shown[k] is not None and raw[k] > 0]
    if not candidates:
        return None
    return min(candidates, key=lambda k: (raw[k], keys.index(k)))


def _protect_groups(cells: dict[str, int | None], raw: dict[str, int]) -> bool:
    """Keep ``suppress_memberships``' rule after more cells were hidden: a hidden Indigenous group hides
    its children, and a hidden child is never the only one. True if anything changed."""
    changed = False
    for parent, children in INDIGENOUS_GROUPS:
        if cells[parent] is None and raw[parent] > 0:
            for child in children:
                if cells[child] is not None:
                    cells[child] = None
                    changed = True
            continue
        hidden = [c for c in children if cells[c] is None and raw[c] > 0]
        if len(hidden) == 1:
            shown = [c for c in children if cells[c] is not None and raw[c] > 0]
            if shown:
                cells[min(shown, key=lambda c: raw[c])] = None
                changed = True
    return changed


# --- the chart --------------------------------------------------------------------------------------

CHART_WIDTH = 760
CHART_LABEL_WIDTH = 300
CHART_BAR_HEIGHT = 24
CHART_GAP = 12
CHART_LABEL_CHARS = 42


def bar_chart(themes: Iterable[ThemeReport]) -> Chart:
    """Geometry of a horizontal bar chart of theme sizes (the template draws it as inline SVG)."""
    themes = list(themes)
    largest = max((t.size for t in themes), default=0) or 1
    room = CHART_WIDTH - CHART_LABEL_WIDTH - 70  # space for the value after the longest bar
    bars = []
    for i, theme in enumerate(themes):
        y = CHART_GAP + i * (CHART_BAR_HEIGHT + CHART_GAP)
        width = room * theme.size / largest
        bars.append(
            Bar(
                label=Truncator(theme.name).chars(CHART_LABEL_CHARS),
                full_label=theme.name,
                language=theme.name_language,
                value=theme.size,
                y=y,
                width=round(width, 1),
                text_y=y + CHART_BAR_HEIGHT * 0.7,
                value_x=round(CHART_LABEL_WIDTH + width + 8, 1),
            )
        )
    height = CHART_GAP + len(bars) * (CHART_BAR_HEIGHT + CHART_GAP)
    return Chart(CHART_WIDTH, height, CHART_LABEL_WIDTH, CHART_BAR_HEIGHT, bars)


# --- the report's cache version ------------------------------------------------------------------------

REPORT_VERSION_KEY = "themes:report-version:{campaign_id}"


def _version_key(campaign_id: int) -> str:
    return REPORT_VERSION_KEY.format(campaign_id=campaign_id)


def _fresh_version() -> int:
    """A version no earlier cache entry can carry: random (60 bits leave room to increment)."""
    return secrets.randbits(60)


def report_version(campaign_id: int) -> int:
    """The campaign's report version: the cached report and PDF are keyed by it, so every change that
    calls ``bump_report_version`` makes visitors get a fresh one.

    A missing version (a restarted or emptied cache, or the key evicted while reports stayed) reads as
    a fresh random one, never as a number used before, so a stale report is never served."""
    key = _version_key(campaign_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, _fresh_version(), timeout=None)
        version = cache.get(key)
        if version is None:  # a cache that keeps nothing (DummyCache): nothing stale can be served either
            return _fresh_version()
    return int(version)


def bump_report_version(campaign_id: int) -> None:
    """Call after anything that can change the campaign's public report: a run finishing or published,
    curation, a voice leaving or joining a theme, a relabelling.

    Safe inside a transaction: the version moves at once and again when the transaction commits, so a
    visitor who read the old rows in between and cached them under the first new version does not keep
    them. Atomic where the cache is (``incr``); a missing version gets a fresh random one, as
    ``report_version`` gives."""
    _bump(campaign_id)
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _bump(campaign_id), robust=True)


def _bump(campaign_id: int) -> None:
    key = _version_key(campaign_id)
    try:
        cache.incr(key)
        return
    except ValueError:  # missing: whatever readers get next must differ from what they had
        pass
    if cache.add(key, _fresh_version(), timeout=None):
        return
    try:
        cache.incr(key)  # a reader added one meanwhile, maybe before the change: move past it
    except ValueError:
        pass  # gone again: the next reader gets a fresh one


def report_stamp(run: SynthesisRun) -> str:
    """The part of the cached report's and PDF's keys that changes whenever the report of ``run`` could:
    the run, when it was published and the campaign's report version (no database query). The views
    add the language."""
    published = run.published_at.timestamp() if run.published_at else ""
    return f"{run.pk}:{published}:{report_version(run.campaign_id)}"
