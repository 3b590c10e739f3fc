"""Every write to themes goes through these functions (views, admin, the command, tasks, tests).

Embeddings are computed once per voice and backend (when the voice is confirmed) and reused: a run
embeds only what is missing or stale. A run groups the voices in its scope with
``belonging.lib.themes``, keeps the engine's own themes (``SynthesisRun.raw_themes`` and
``Membership.raw_key``) so the next run is matched to them, then applies the organizers' curation,
which is keyed by stable theme keys and so survives runs. Results are written in one transaction.

Permissions are checked by the views (``belonging.themes.access``), not here.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from belonging.core.models import Campaign, Place
from belonging.lib import themes as engine
from belonging.themes import tasks
from belonging.themes.models import (
    NEW,
    Backend,
    Curation,
    CurationAction,
    Membership,
    SynthesisRun,
    Theme,
    VoiceEmbedding,
)
from belonging.voices import selectors as voice_selectors
from belonging.voices.models import Prompt, Voice

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
T = TypeVar("T")

CHUNK = 500  # ids per IN (...) query
MAX_SPLIT_PARTS = 6
NAME_MAX = 150


# --- embeddings ---------------------------------------------------------------------------------


def analysis_text(voice: Voice) -> str:
    """What is analysed: the title and the public text (a moderator's redaction keeps the personal
    details it removed out of keyphrases and quotes too)."""
    return "\n".join(part for part in (voice.title, voice.public_text) if part)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embeddable(voice: Voice) -> bool:
    """Only a confirmed voice that may be analysed is embedded (consent per purpose)."""
    excluded = (Voice.Status.PENDING, Voice.Status.REJECTED, Voice.Status.WITHDRAWN)
    return bool(voice.consent_analysis and voice.status not in excluded and voice.text)


@lru_cache(maxsize=4)
def _load_embedder(backend: str, model: str) -> engine.Embedder:
    return engine.get_embedder(backend, model)


def embedder(backend: str | None = None) -> engine.Embedder:
    """The embedder for ``backend`` (default ``THEMES_BACKEND``), loaded once per process."""
    backend = backend or settings.THEMES_BACKEND
    return _load_embedder(backend, settings.THEMES_MODEL if backend == Backend.SENTENCE_TRANSFORMERS else "")


def _chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _vector(data: Any) -> np.ndarray:
    return engine.from_bytes(bytes(data))


def ensure_embeddings(
    voices: Sequence[Voice], backend: str | None = None, *, progress: Callable[[float], None] | None = None
) -> dict[int, np.ndarray]:
    """Every voice's vector by ``backend``: stored ones whose text is unchanged are reused, the others
    are computed in batches of ``THEMES_EMBED_BATCH`` and stored (upserted) batch by batch, so an
    interrupted run keeps what it computed."""
    model = embedder(backend)
    wanted = {v.pk: text_hash(analysis_text(v)) for v in voices}
    vectors: dict[int, np.ndarray] = {}
    for chunk in _chunks(list(wanted)):
        stored = VoiceEmbedding.objects.filter(backend=model.name, voice_id__in=chunk)
        for voice_id, hash_, data in stored.values_list("voice_id", "text_hash", "vector"):
            if hash_ == wanted[voice_id]:
                vectors[voice_id] = _vector(data)
    missing = [v for v in voices if v.pk not in vectors]
    batch = settings.THEMES_EMBED_BATCH
    for done, start in enumerate(range(0, len(missing), batch), start=1):
        part = missing[start : start + batch]
        rows = model.embed([analysis_text(v) for v in part])
        VoiceEmbedding.objects.bulk_create(
            [
                VoiceEmbedding(voice_id=v.pk, backend=model.name, text_hash=wanted[v.pk], vector=engine.to_bytes(row))
                for v, row in zip(part, rows, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["voice", "backend"],
            update_fields=["text_hash", "vector"],
        )
        for v, row in zip(part, rows, strict=True):
            vectors[v.pk] = np.asarray(row, dtype=np.float32)
        if progress is not None:
            progress(min(1.0, done * batch / len(missing)))
    return vectors


def embed_voice(voice: Voice, backend: str | None = None) -> bool:
    """Store the voice's embedding unless one of the same text exists; True if it was (re)computed."""
    if not embeddable(voice):
        return False
    name = embedder(backend).name
    stored = VoiceEmbedding.objects.filter(voice=voice, backend=name).values_list("text_hash", flat=True).first()
    if stored == text_hash(analysis_text(voice)):
        return False
    ensure_embeddings([voice], backend)
    # Withdrawn while it was being embedded: its vector must not outlive its text.
    if Voice.objects.filter(pk=voice.pk, status=Voice.Status.WITHDRAWN).exists():
        VoiceEmbedding.objects.filter(voice_id=voice.pk).delete()
        return False
    return True


# --- scope and runs ---------------------------------------------------------------------------------


def _place_ids(place: Place) -> set[int]:
    """The place and every place under it."""
    ids, frontier = {place.pk}, [place.pk]
    while frontier:
        frontier = list(Place.objects.filter(parent_id__in=frontier).exclude(pk__in=ids).values_list("pk", flat=True))
        ids.update(frontier)
    return ids


def voices_in_scope(run: SynthesisRun) -> QuerySet[Voice]:
    """The voices a run analyses: approved, consented to analysis, and within its place, prompt and
    dates (when the voice was confirmed, else shared). A province's run takes the voices of that
    province too."""
    qs = voice_selectors.voices_for_analysis(run.campaign)
    if run.prompt_id:
        qs = qs.filter(prompt_id=run.prompt_id)
    if run.place_id:
        place = run.place
        where = Q(place_id__in=_place_ids(place))
        if place.kind == Place.Kind.PROVINCE:
            where |= Q(province=place.province)
        qs = qs.filter(where)
    if run.date_from or run.date_to:
        qs = qs.annotate(received_at=Coalesce("submitted_at", "created_at"))
        if run.date_from:
            qs = qs.filter(received_at__date__gte=run.date_from)
        if run.date_to:
            qs = qs.filter(received_at__date__lte=run.date_to)
    return qs


def latest_run(campaign: Campaign | int) -> SynthesisRun | None:
    """The campaign's latest finished run: the one curation applies to at once."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    return (
        SynthesisRun.objects.filter(campaign_id=campaign_id, status=SynthesisRun.Status.DONE)
        .order_by("-created_at", "-id")
        .first()
    )


def start_run(
    campaign: Campaign,
    user: Any,
    *,
    place: Place | None = None,
    prompt: Prompt | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    min_themes: int = 2,
    max_themes: int = 30,
    backend: str | None = None,
    seed: int = 0,
    enqueue: bool = True,
) -> SynthesisRun:
    """Record a queued run and queue its task (``enqueue=False``: the caller runs it, as the command does)."""
    backend = backend or settings.THEMES_BACKEND
    errors: dict[str, str] = {}
    if backend not in Backend.values:
        errors["backend"] = _("Choose one of the embedding methods offered.")
    elif backend == Backend.SENTENCE_TRANSFORMERS and not settings.THEMES_MODEL:
        errors["backend"] = _("This method needs a local model, which this site does not have (THEMES_MODEL).")
    if min_themes < 1:
        errors["min_themes"] = _("Ask for at least one theme.")
    if max_themes < min_themes:
        errors["max_themes"] = _("The most themes cannot be fewer than the fewest themes.")
    elif max_themes > settings.THEMES_MAX_THEMES:
        errors["max_themes"] = _("Ask for at most %(n)d themes.") % {"n": settings.THEMES_MAX_THEMES}
    if seed < 0:
        errors["seed"] = _("The seed is a whole number, 0 or more.")
    if place is not None and place.campaign_id != campaign.pk:
        errors["place"] = _("This place is not part of the campaign.")
    if prompt is not None and prompt.campaign_id != campaign.pk:
        errors["prompt"] = _("This prompt is not part of the campaign.")
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = _("The end date is before the start date.")
    if errors:
        raise ValidationError(errors)
    user = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        run = SynthesisRun.objects.create(
            campaign=campaign,
            place=place,
            prompt=prompt,
            date_from=date_from,
            date_to=date_to,
            backend=backend,
            min_themes=min_themes,
            max_themes=max_themes,
            seed=seed,
            started_by=user,
            stage="queued",
        )
        if enqueue:
            # In the same transaction: the task exists exactly when the run does.
            tasks.execute_run.enqueue(run.pk)
    return run


class _Reporter:
    """Writes a run's progress with one cheap UPDATE when the stage changes, else at most once a second;
    ``echo`` (the command's progress bar) sees every step."""

    def __init__(self, run_id: int, echo: Progress | None) -> None:
        self.run_id = run_id
        self.echo = echo
        self.stage = ""
        self.at = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.echo is not None:
            self.echo(fraction, stage)
        now = time.monotonic()
        if stage == self.stage and now - self.at < 1.0:
            return
        self.stage, self.at = stage, now
        SynthesisRun.objects.filter(pk=self.run_id).update(progress=round(fraction, 4), stage=stage[:40])


def _config(run: SynthesisRun) -> engine.Config:
    return engine.Config(
        min_themes=run.min_themes,
        max_themes=run.max_themes,
        min_theme_size=settings.THEMES_MIN_THEME_SIZE,
        seed=run.seed,
    )


def execute_run(run: SynthesisRun, *, on_progress: Progress | None = None) -> SynthesisRun:
    """Run a queued synthesis to the end: done with every result, or failed with the error and nothing
    else written. A run that is not queued (already taken by another worker) is left alone."""
    started = SynthesisRun.objects.filter(pk=run.pk, status=SynthesisRun.Status.QUEUED).update(
        status=SynthesisRun.Status.RUNNING, progress=0.0, stage="embed", error=""
    )
    if not started:
        run.refresh_from_db()
        return run
    report = _Reporter(run.pk, on_progress)
    try:
        _execute(run, report)
    except Exception as exc:  # the run records why; the worker goes on
        logger.exception("Synthesis run %s failed", run.pk)
        SynthesisRun.objects.filter(pk=run.pk).update(
            status=SynthesisRun.Status.FAILED,
            error=(f"{type(exc).__name__}: {exc}")[:4000],
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


@dataclass
class _Space:
    """A run's voices with their embeddings, and the same rows in the run's language-centred space."""

    items: list[engine.Item]
    embeddings: np.ndarray
    offsets: dict[str, np.ndarray]
    published: set[int]
    row: dict[Any, int] = field(init=False)
    centred: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.row = {item.id: i for i, item in enumerate(self.items)}
        languages = [item.language for item in self.items]
        self.centred = engine.apply_offsets(self.embeddings, languages, self.offsets)

    def rows(self, ids: Iterable[Any]) -> list[int]:
        return [self.row[i] for i in ids]


def _matrix(vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), dtype=np.float32)


def _execute(run: SynthesisRun, report: Progress) -> None:
    report(0.0, "embed")
    fields = ("pk", "title", "text", "redacted_text", "language", "status")
    voices = list(voices_in_scope(run).order_by("pk").only(*fields))
    model = embedder(run.backend)
    vectors = ensure_embeddings(voices, run.backend, progress=lambda f: report(0.3 * f, "embed"))
    items = [engine.Item(v.pk, analysis_text(v), v.language) for v in voices]
    embeddings = _matrix([vectors[v.pk] for v in voices], model.dim)
    config = _config(run)

    def engine_progress(fraction: float, stage: str) -> None:
        if stage != "done":  # the run is done when its results are saved
            report(0.3 + 0.6 * fraction, stage)

    result = engine.synthesize(
        items, embeddings, config, previous=_previous_anchors(run, model), progress=engine_progress
    )
    report(0.9, "curate")
    offsets = {lang: np.asarray(v, dtype=np.float32) for lang, v in result.offsets.items()}
    published = {v.pk for v in voices if v.status == Voice.Status.PUBLISHED}
    space = _Space(items, embeddings, offsets, published)
    raw_groups = {t.id: list(t.member_ids) for t in result.themes}
    raw_key = {member: t.id for t in result.themes for member in t.member_ids}
    with transaction.atomic():
        # Curation is read, applied and written with the results, so none made meanwhile is lost.
        locked = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        built = _build_themes(run.campaign_id, raw_groups, space, config)
        report(0.95, "save")
        live = set(voice_selectors.voices_for_analysis(run.campaign).values_list("pk", flat=True))
        gone = [v.pk for v in voices if v.pk not in live]  # withdrawn or taken down during the run
        themes = _create_themes(locked, built, live)
        key_to_pk = {t.key: t.pk for t in themes}
        memberships = []
        for item in items:
            if item.id not in live:
                continue
            key, reason, similarity = _placement(item.id, built, space, result.reasons)
            memberships.append(
                Membership(
                    run=locked,
                    voice_id=item.id,
                    theme_id=key_to_pk.get(key) if key else None,
                    reason=reason,
                    similarity=similarity,
                    raw_key=raw_key.get(item.id, ""),
                )
            )
        Membership.objects.bulk_create(memberships, batch_size=1000)
        for chunk in _chunks(gone):
            VoiceEmbedding.objects.filter(voice_id__in=chunk, voice__status=Voice.Status.WITHDRAWN).delete()
        locked.status = SynthesisRun.Status.DONE
        locked.progress, locked.stage = 1.0, "done"
        locked.finished_at = timezone.now()
        locked.backend_name = model.name
        locked.k = int(result.k)
        locked.k_scores = {str(k): round(float(s), 6) for k, s in result.k_scores.items()}
        locked.offsets = {lang: _floats(v) for lang, v in offsets.items()}
        locked.raw_themes = {t.id: {"centroid": _floats(t.centroid), "size": t.size} for t in result.themes}
        locked.save()
        _recount(locked.pk)
    report(1.0, "done")


def _floats(vector: np.ndarray) -> list[float]:
    return [round(float(x), 6) for x in np.asarray(vector).ravel()]


def _previous_anchors(run: SynthesisRun, model: engine.Embedder) -> list[engine.Anchor]:
    """The engine's own themes of the campaign's previous finished run (before curation), so that a
    theme that continues keeps its key. Centres count only when both runs used the same embeddings."""
    previous = (
        SynthesisRun.objects.filter(campaign_id=run.campaign_id, status=SynthesisRun.Status.DONE)
        .exclude(pk=run.pk)
        .order_by("-created_at", "-id")
        .first()
    )
    if previous is None or not previous.raw_themes:
        return []
    members: dict[str, set[int]] = defaultdict(set)
    rows = Membership.objects.filter(run=previous).exclude(raw_key="").values_list("voice_id", "raw_key")
    for voice_id, key in rows.iterator(chunk_size=2000):
        members[key].add(voice_id)
    same_space = previous.backend_name == model.name
    anchors = []
    for key, data in sorted(previous.raw_themes.items()):
        centroid = np.asarray(data["centroid"], dtype=np.float32)
        if not same_space or centroid.shape != (model.dim,):
            centroid = np.zeros(model.dim, dtype=np.float32)  # never similar: members decide alone
        anchors.append(engine.Anchor(key, centroid, frozenset(members.get(key, ()))))
    return anchors


# --- curation applied to a run ----------------------------------------------------------------------


@dataclass
class _Built:
    key: str
    member_ids: list[int]
    centroid: np.ndarray
    keyphrases: dict[str, list[str]]
    quote_ids: list[int]
    languages: dict[str, int]
    merged_from: list[str]
    split_from: str
    member_set: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.member_set = set(self.member_ids)


def _curate(campaign_id: int, raw_groups: dict[str, list[int]], space: _Space) -> tuple[dict, dict, dict]:
    """Apply merges and splits to the engine's themes until nothing changes: a merged key's voices go
    to the key it was merged into (following chains); a split key's voices go to the nearest of its
    parts' stored centres. Returns the groups, and for each key what was merged into it and what it
    was split from."""
    merged_into: dict[str, str] = {}
    split_into: dict[str, list[dict[str, Any]]] = {}
    for key, into, parts in Curation.objects.filter(campaign_id=campaign_id).values_list(
        "key", "merged_into", "split_into"
    ):
        if into:
            merged_into[key] = into
        elif parts:
            split_into[key] = parts

    def resolve(key: str) -> str:
        seen = {key}
        while key in merged_into and merged_into[key] not in seen:
            key = merged_into[key]
            seen.add(key)
        return key

    groups = {key: list(members) for key, members in raw_groups.items()}
    merged_from: dict[str, list[str]] = defaultdict(list)
    split_from: dict[str, str] = {}
    for _round in range(10):
        changed = False
        for key in sorted(groups):
            target = resolve(key) if key in merged_into else key
            if key in groups and target != key:
                groups.setdefault(target, []).extend(groups.pop(key))
                merged_from[target].extend([key, *merged_from.pop(key, [])])
                changed = True
        for key in sorted(groups):
            if key not in groups or key not in split_into or key in merged_into:
                continue
            parts = split_into[key]
            centres = engine.normalize_rows(np.asarray([p["centroid"] for p in parts], dtype=np.float32))
            if centres.shape[1] != space.centred.shape[1]:
                continue  # made with other embeddings: the theme stays whole rather than lose voices
            members = [m for m in groups.pop(key) if m in space.row]
            if members:
                nearest = np.argmax(space.centred[space.rows(members)] @ centres.T, axis=1)
                for member, part in zip(members, nearest.tolist(), strict=True):
                    groups.setdefault(parts[part]["key"], []).append(member)
            for part in parts:
                split_from[part["key"]] = key
            changed = True
        if not changed:
            break
    return groups, merged_from, split_from


def _quotes(member_ids: Sequence[int], centroid: np.ndarray, space: _Space, pinned: int | None, n: int) -> list[int]:
    """Quotes are published voices only: the most central, then central and diverse; a pinned one first."""
    candidates = [m for m in member_ids if m in space.published and m in space.row]
    chosen = [candidates[r] for r in engine.representative(space.centred[space.rows(candidates)], centroid, n)]
    if pinned is not None and pinned in candidates:
        chosen = [pinned, *[q for q in chosen if q != pinned]][:n]
    return chosen


def _build_themes(
    campaign_id: int, raw_groups: dict[str, list[int]], space: _Space, config: engine.Config
) -> list[_Built]:
    """The run's final themes: curation applied, each described afresh, keyphrases across them all."""
    groups, merged_from, split_from = _curate(campaign_id, raw_groups, space)
    pins = dict(
        Curation.objects.filter(campaign_id=campaign_id, pinned_quote__isnull=False).values_list(
            "key", "pinned_quote_id"
        )
    )
    described = []
    for key in sorted(groups):
        members = sorted({m for m in groups[key] if m in space.row})
        if not members:
            continue
        rows = space.rows(members)
        described.append(
            engine.describe(
                [space.items[r] for r in rows], space.embeddings[rows], space.offsets, config, theme_id_=key
            )
        )
    engine.label_themes(described, space.items, config.keyphrases)
    return [
        _Built(
            key=theme.id,
            member_ids=list(theme.member_ids),
            centroid=np.asarray(theme.centroid, dtype=np.float32),
            keyphrases={lang: list(p) for lang, p in theme.keyphrases.items()},
            quote_ids=_quotes(theme.member_ids, theme.centroid, space, pins.get(theme.id), config.quotes),
            languages=dict(theme.languages),
            merged_from=sorted(set(merged_from.get(theme.id, []))),
            split_from=split_from.get(theme.id, ""),
        )
        for theme in described
    ]


def _placement(
    voice_id: int, built: Sequence[_Built], space: _Space, reasons: dict[Any, str]
) -> tuple[str | None, str, float]:
    """A voice's final theme key (or None and the reason) and its similarity to that theme's centre."""
    vector = space.centred[space.row[voice_id]]
    for theme in built:
        if voice_id in theme.member_set:
            return theme.key, "", round(float(vector @ theme.centroid), 6)
    best = max((float(vector @ t.centroid) for t in built), default=0.0)
    return None, reasons.get(voice_id) or engine.FAR, round(best, 6)


def _ordered(built: list[_Built]) -> list[_Built]:
    return sorted(built, key=lambda t: (-len(t.member_ids), t.key))


def _theme_fields(theme: Theme, built: _Built, position: int, live: set[int] | None = None) -> Theme:
    members = built.member_ids if live is None else [m for m in built.member_ids if m in live]
    theme.size = len(members)
    theme.centroid = engine.to_bytes(built.centroid)
    theme.keyphrases = built.keyphrases
    theme.quote_ids = [q for q in built.quote_ids if live is None or q in live]
    theme.languages = built.languages
    theme.position = position
    theme.merged_from = built.merged_from
    theme.split_from = built.split_from
    return theme


def _create_themes(run: SynthesisRun, built: list[_Built], live: set[int]) -> list[Theme]:
    ordered = _ordered(built)
    Theme.objects.bulk_create(
        [_theme_fields(Theme(run=run, key=b.key), b, position, live) for position, b in enumerate(ordered)]
    )
    return list(Theme.objects.filter(run=run))


def _recount(run_id: int) -> None:
    """Theme sizes and the run's coverage figures from its memberships (never incremented by hand);
    a theme left with no voice is removed, and positions follow sizes."""
    counts = (
        Membership.objects.filter(run_id=run_id).values_list("theme_id", "reason").annotate(n=Count("id")).order_by()
    )
    sizes: Counter[int] = Counter()
    excluded = {reason: 0 for reason in engine.REASONS}
    for theme_id, reason, n in counts:
        if theme_id:
            sizes[theme_id] += n
        else:
            excluded[reason] = excluded.get(reason, 0) + n
    themes = list(Theme.objects.filter(run_id=run_id))
    Theme.objects.filter(pk__in=[t.pk for t in themes if not sizes.get(t.pk)]).delete()
    kept = sorted((t for t in themes if sizes.get(t.pk)), key=lambda t: (-sizes[t.pk], t.key))
    changed = []
    for position, theme in enumerate(kept):
        if (theme.size, theme.position) != (sizes[theme.pk], position):
            theme.size, theme.position = sizes[theme.pk], position
            changed.append(theme)
    Theme.objects.bulk_update(changed, ["size", "position"])
    in_themes = sum(sizes.values())
    SynthesisRun.objects.filter(pk=run_id).update(
        total=in_themes + sum(excluded.values()), in_themes=in_themes, excluded=excluded
    )


def _offsets(run: SynthesisRun) -> dict[str, np.ndarray]:
    return {lang: np.asarray(v, dtype=np.float32) for lang, v in (run.offsets or {}).items()}


def _load_space(run: SynthesisRun, voice_ids: Sequence[int]) -> _Space:
    """A finished run's voices (those still there) with their stored embeddings, in its centred space."""
    voices: dict[int, Voice] = {}
    vectors: dict[int, np.ndarray] = {}
    ids = sorted(set(voice_ids))
    for chunk in _chunks(ids):
        for voice in Voice.objects.filter(pk__in=chunk).only(
            "pk", "title", "text", "redacted_text", "language", "status"
        ):
            voices[voice.pk] = voice
        stored = VoiceEmbedding.objects.filter(backend=run.backend_name, voice_id__in=chunk)
        for voice_id, data in stored.values_list("voice_id", "vector"):
            vectors[voice_id] = _vector(data)
    kept = [i for i in ids if i in voices and i in vectors]
    items = [engine.Item(i, analysis_text(voices[i]), voices[i].language) for i in kept]
    dim = len(next(iter(vectors.values()))) if vectors else 1
    published = {i for i in kept if voices[i].status == Voice.Status.PUBLISHED}
    return _Space(items, _matrix([vectors[i] for i in kept], dim), _offsets(run), published)


def _reapply(run: SynthesisRun) -> None:
    """Apply the campaign's curation to a finished run at once, from the engine's own themes, exactly as
    a new run would (call inside a transaction)."""
    raw_groups: dict[str, list[int]] = defaultdict(list)
    rows = Membership.objects.filter(run=run, provisional=False).exclude(raw_key="").values_list("voice_id", "raw_key")
    for voice_id, key in rows:
        raw_groups[key].append(voice_id)
    space = _load_space(run, [m for members in raw_groups.values() for m in members])
    built = _ordered(_build_themes(run.campaign_id, dict(raw_groups), space, _config(run)))
    existing = {t.key: t for t in Theme.objects.filter(run=run)}
    for position, b in enumerate(built):
        theme = _theme_fields(existing.get(b.key) or Theme(run=run, key=b.key), b, position)
        theme.save()
        existing[b.key] = theme
    members = list(Membership.objects.filter(run=run, provisional=False).exclude(raw_key=""))
    for membership in members:
        if membership.voice_id not in space.row:
            continue
        key, reason, similarity = _placement(membership.voice_id, built, space, {})
        membership.theme_id = existing[key].pk if key else None
        membership.reason = reason
        membership.similarity = similarity
    Membership.objects.bulk_update(members, ["theme", "reason", "similarity"], batch_size=1000)
    final = {b.key for b in built}
    stale = [t.pk for key, t in existing.items() if key not in final]
    _follow_curation(run, existing, final)
    Membership.objects.filter(theme_id__in=stale).update(theme=None, reason=NEW, similarity=0.0)
    Theme.objects.filter(pk__in=stale).delete()
    _recount(run.pk)


def _follow_curation(run: SynthesisRun, themes: dict[str, Theme], final: set[str]) -> None:
    """Voices placed after the run follow their theme through merges and splits, like its other voices;
    those whose theme is gone otherwise are placed afresh."""
    provisional = list(Membership.objects.filter(run=run, provisional=True).select_related("theme"))
    if not provisional:
        return
    groups: dict[str, list[int]] = defaultdict(list)
    for membership in provisional:
        if membership.theme_id is not None:
            groups[membership.theme.key].append(membership.voice_id)
    space = _load_space(run, [m.voice_id for m in provisional])
    moved, _merged, _split = _curate(run.campaign_id, dict(groups), space)
    key_of = {voice_id: key for key, ids in moved.items() if key in final for voice_id in ids}
    centroids = {key: _vector(themes[key].centroid) for key in final}
    rest = []
    for membership in provisional:
        key = key_of.get(membership.voice_id)
        if key is None or membership.voice_id not in space.row:
            rest.append(membership)
            continue
        membership.theme_id = themes[key].pk
        membership.reason = ""
        membership.similarity = round(float(space.centred[space.row[membership.voice_id]] @ centroids[key]), 6)
    left = {m.pk for m in rest}
    Membership.objects.bulk_update(
        [m for m in provisional if m.pk not in left], ["theme", "reason", "similarity"], batch_size=1000
    )
    _assign_provisional(run, rest)


def _assign_provisional(run: SynthesisRun, memberships: list[Membership]) -> None:
    """Place voices received after the run in its nearest theme above ``THEMES_ASSIGN_FLOOR``, else "new"."""
    if not memberships:
        return
    themes = list(Theme.objects.filter(run=run))
    ids = [m.voice_id for m in memberships]
    languages = dict(Voice.objects.filter(pk__in=ids).values_list("pk", "language"))
    vectors = {}
    for chunk in _chunks(ids):
        stored = VoiceEmbedding.objects.filter(backend=run.backend_name, voice_id__in=chunk)
        vectors.update({voice_id: _vector(data) for voice_id, data in stored.values_list("voice_id", "vector")})
    anchors = [engine.Anchor(t.key, _vector(t.centroid)) for t in themes]
    by_key = {t.key: t.pk for t in themes}
    placeable = [m for m in memberships if m.voice_id in vectors]
    placed = engine.assign(
        _matrix([vectors[m.voice_id] for m in placeable], len(anchors[0].centroid) if anchors else 1),
        [languages.get(m.voice_id, "en") for m in placeable],
        anchors,
        _offsets(run),
        settings.THEMES_ASSIGN_FLOOR,
    )
    for membership, (key, similarity) in zip(placeable, placed, strict=True):
        membership.theme_id = by_key[key] if key else None
        membership.reason = "" if key else NEW
        membership.similarity = round(float(similarity), 6)
    Membership.objects.bulk_update(placeable, ["theme", "reason", "similarity"])


def assign_new_voice(voice: Voice) -> Membership | None:
    """Place a voice received after the campaign's latest run in that run's nearest theme (provisionally,
    until the next run), or mark it "new" when it is near none. None when there is nothing to do: no
    run, the voice may not be analysed or is out of the run's scope, or it is already placed."""
    run = latest_run(voice.campaign_id)
    if run is None or not voices_in_scope(run).filter(pk=voice.pk).exists():
        return None
    if Membership.objects.filter(run=run, voice=voice).exists():
        return None
    vector = ensure_embeddings([voice], run.backend)[voice.pk]
    themes = list(run.themes.all())
    anchors = [engine.Anchor(t.key, _vector(t.centroid)) for t in themes]
    if embedder(run.backend).name != run.backend_name or any(len(a.centroid) != len(vector) for a in anchors):
        anchors = []  # the run's embeddings are no longer available: wait for the next run
    ((key, similarity),) = engine.assign(
        vector[None, :], [voice.language], anchors, _offsets(run), settings.THEMES_ASSIGN_FLOOR
    )
    theme_id = next((t.pk for t in themes if t.key == key), None)
    with transaction.atomic():
        SynthesisRun.objects.select_for_update().filter(pk=run.pk).first()  # one writer per run's figures
        membership, created = Membership.objects.get_or_create(
            run=run,
            voice=voice,
            defaults={
                "theme_id": theme_id,
                "reason": "" if theme_id else NEW,
                "similarity": round(float(similarity), 6),
                "provisional": True,
            },
        )
        if created:
            _recount(run.pk)
    return membership


def remove_voice(voice: Voice, *, erase: bool = True) -> None:
    """A voice leaves every theme (withdrawn, or taken down): its memberships go, it is no longer a quote
    or a pinned quote, and sizes and coverage are recounted. ``erase`` also deletes its embeddings."""
    with transaction.atomic():
        placed = list(Membership.objects.filter(voice=voice).values_list("run_id", "theme_id"))
        Membership.objects.filter(voice=voice).delete()
        if erase:
            VoiceEmbedding.objects.filter(voice=voice).delete()
        Curation.objects.filter(pinned_quote=voice).update(pinned_quote=None)
        themes = Theme.objects.filter(pk__in=[theme_id for _, theme_id in placed if theme_id])
        for theme in themes:
            if voice.pk in theme.quote_ids:
                theme.quote_ids = [q for q in theme.quote_ids if q != voice.pk]
                theme.save(update_fields=["quote_ids"])
        for run_id in sorted({run_id for run_id, _ in placed}):
            _recount(run_id)


# --- curation ---------------------------------------------------------------------------------------


def _current(campaign: Campaign, key: str) -> tuple[SynthesisRun, Theme]:
    run = latest_run(campaign)
    if run is None:
        raise ValidationError(_("There is no finished synthesis for this campaign yet."))
    theme = run.themes.filter(key=key).first()
    if theme is None:
        raise ValidationError(_("The latest synthesis has no theme %(key)s.") % {"key": key})
    return run, theme


def _curation(campaign: Campaign, key: str) -> Curation:
    Curation.objects.get_or_create(campaign=campaign, key=key)
    return Curation.objects.select_for_update().get(campaign=campaign, key=key)


def _record(campaign: Campaign, key: str, action: str, actor: Any, before: dict, after: dict) -> CurationAction:
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return CurationAction.objects.create(
        campaign=campaign, key=key, action=action, actor=actor, detail={"before": before, "after": after}
    )


def _clean_name(value: str, field_name: str) -> str:
    value = " ".join((value or "").split())
    if len(value) > NAME_MAX:
        raise ValidationError({field_name: _("Keep the name to %(n)d characters.") % {"n": NAME_MAX}})
    return value


def rename(campaign: Campaign, key: str, name_en: str, name_fr: str, actor: Any) -> Curation:
    """Name a theme in both languages (a blank name falls back to its keyphrases)."""
    name_en, name_fr = _clean_name(name_en, "name_en"), _clean_name(name_fr, "name_fr")
    _current(campaign, key)
    with transaction.atomic():
        curation = _curation(campaign, key)
        before = {"name_en": curation.name_en, "name_fr": curation.name_fr}
        curation.name_en, curation.name_fr = name_en, name_fr
        curation.save()
        _record(campaign, key, CurationAction.Action.RENAME, actor, before, {"name_en": name_en, "name_fr": name_fr})
    return curation


def _set_hidden(campaign: Campaign, key: str, actor: Any, hidden: bool) -> Curation:
    _current(campaign, key)
    with transaction.atomic():
        curation = _curation(campaign, key)
        if curation.hidden != hidden:
            curation.hidden = hidden
            curation.save()
            action = CurationAction.Action.HIDE if hidden else CurationAction.Action.SHOW
            _record(campaign, key, action, actor, {"hidden": not hidden}, {"hidden": hidden})
    return curation


def hide(campaign: Campaign, key: str, actor: Any) -> Curation:
    """Keep a theme out of the public report (it stays in the analysis and its figures)."""
    return _set_hidden(campaign, key, actor, True)


def show(campaign: Campaign, key: str, actor: Any) -> Curation:
    return _set_hidden(campaign, key, actor, False)


def merge(campaign: Campaign, source_key: str, target_key: str, actor: Any) -> Curation:
    """Fold one theme's voices into another, in the latest run now and in every later run."""
    if source_key == target_key:
        raise ValidationError(_("Choose two different themes to merge."))
    run, _source = _current(campaign, source_key)
    _current(campaign, target_key)
    with transaction.atomic():
        curation = _curation(campaign, source_key)
        before = {"merged_into": curation.merged_into}
        curation.merged_into = target_key
        curation.save()
        _record(campaign, source_key, CurationAction.Action.MERGE, actor, before, {"merged_into": target_key})
        _reapply(run)
    return curation


def _fresh_key(key: str, taken: set[str]) -> str:
    while key in taken:
        key = "t" + hashlib.sha1(key.encode()).hexdigest()[:10]
    return key


def split(campaign: Campaign, key: str, actor: Any, parts: int = 2) -> Curation:
    """Divide a theme into ``parts`` new themes (by the engine, on its voices in the latest run); later
    runs divide that theme's voices the same way, each to the part whose centre is nearest."""
    if not 2 <= parts <= MAX_SPLIT_PARTS:
        raise ValidationError(_("A theme can be split into 2 to %(n)d parts.") % {"n": MAX_SPLIT_PARTS})
    run, theme = _current(campaign, key)
    members = list(
        Membership.objects.filter(run=run, theme=theme, provisional=False).values_list("voice_id", flat=True)
    )
    space = _load_space(run, members)
    if len(space.items) < parts:
        raise ValidationError(_("This theme has too few voices to split into %(n)d parts.") % {"n": parts})
    children = engine.split(space.items, space.embeddings, space.offsets, parts, _config(run))
    taken = set(Theme.objects.filter(run__campaign=campaign).values_list("key", flat=True))
    taken |= set(Curation.objects.filter(campaign=campaign).values_list("key", flat=True))
    into = []
    for child in children:
        child_key = _fresh_key(child.id, taken)
        taken.add(child_key)
        into.append({"key": child_key, "centroid": _floats(child.centroid), "size": child.size})
    with transaction.atomic():
        curation = _curation(campaign, key)
        before = {"split_into": [part["key"] for part in curation.split_into]}
        curation.split_into = into
        curation.save()
        after = {"split_into": [part["key"] for part in into], "sizes": [part["size"] for part in into]}
        _record(campaign, key, CurationAction.Action.SPLIT, actor, before, after)
        _reapply(run)
    return curation


def _refresh_quotes(run: SynthesisRun, theme: Theme, pinned: int | None) -> None:
    members = list(Membership.objects.filter(run=run, theme=theme).values_list("voice_id", flat=True))
    space = _load_space(run, members)
    theme.quote_ids = _quotes(
        [item.id for item in space.items], _vector(theme.centroid), space, pinned, _config(run).quotes
    )
    theme.save(update_fields=["quote_ids"])


def pin_quote(campaign: Campaign, key: str, voice: Voice, actor: Any) -> Curation:
    """Show this published voice first among the theme's quotes (while it stays in the theme)."""
    run, theme = _current(campaign, key)
    if voice.campaign_id != campaign.pk or voice.status != Voice.Status.PUBLISHED:
        raise ValidationError(_("Only a published voice can be pinned as a quote."))
    if not Membership.objects.filter(run=run, theme=theme, voice=voice).exists():
        raise ValidationError(_("This voice is not in this theme."))
    with transaction.atomic():
        curation = _curation(campaign, key)
        before = {"voice": str(curation.pinned_quote.public_id) if curation.pinned_quote else ""}
        curation.pinned_quote = voice
        curation.save()
        _record(campaign, key, CurationAction.Action.PIN, actor, before, {"voice": str(voice.public_id)})
        _refresh_quotes(run, theme, voice.pk)
    return curation


def unpin(campaign: Campaign, key: str, actor: Any) -> Curation:
    run, theme = _current(campaign, key)
    with transaction.atomic():
        curation = _curation(campaign, key)
        if curation.pinned_quote_id is not None:
            before = {"voice": str(curation.pinned_quote.public_id)}
            curation.pinned_quote = None
            curation.save()
            _record(campaign, key, CurationAction.Action.UNPIN, actor, before, {"voice": ""})
            _refresh_quotes(run, theme, None)
    return curation


def publish(run: SynthesisRun, actor: Any) -> SynthesisRun:
    """Make a finished run the campaign's "What we heard" (the latest published run is shown)."""
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        if run.status != SynthesisRun.Status.DONE:
            raise ValidationError(_("Only a finished synthesis can be published."))
        run.published_at = timezone.now()
        run.published_by = actor if getattr(actor, "is_authenticated", False) else None
        run.save(update_fields=["published_at", "published_by"])
    return run


def unpublish(run: SynthesisRun, actor: Any) -> SynthesisRun:
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        run.published_at = None
        run.published_by = None
        run.save(update_fields=["published_at", "published_by"])
    return run
