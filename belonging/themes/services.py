"""Every write to themes goes through these functions (views, admin, the command, tasks, tests).

Embeddings are computed once per voice and backend (when the voice is confirmed) and reused: a run
embeds only what is missing or stale. A run groups the voices in its scope with
``belonging.lib.themes``, keeps the engine's own themes (``SynthesisRun.raw_themes`` and
``Membership.raw_key``) so the next run is matched to them, then applies the organizers' curation,
which is keyed by stable theme keys and so survives runs.

Heavy work (embedding, the engine, describing themes) happens outside write transactions: SQLite's
IMMEDIATE transactions take the database-wide write lock, and voices keep arriving meanwhile. Writes
to a campaign's runs, themes, memberships and curation take the campaign's row lock first
(:func:`_lock_campaign`) and read what they change after it; each schedules, for when it commits, the
invalidation of the campaign's cached public report (``selectors.bump_report_version``).

Permissions are checked by the views (``belonging.themes.access``), not here.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache, partial
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from belonging.core.models import Campaign, Place
from belonging.lib import themes as engine
from belonging.themes import selectors, tasks
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
BATCH = 1000  # rows per bulk insert or update
STALE_AFTER = timedelta(minutes=30)  # a "running" run with no heartbeat for this long has lost its worker
CURATION_RETRIES = 2  # curated while a run was saving: build its themes again outside the lock this often
MAX_SPLIT_PARTS = 6
NAME_MAX = 150


# --- embeddings ---------------------------------------------------------------------------------


def analysis_text(voice: Voice) -> str:
    """What is analysed: the title and the public text (a moderator's redaction keeps the personal
    details it removed out of keyphrases and quotes too)."""
    return "\n".join(part for part in (voice.title, voice.public_text) if part)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A voice in one of these states has no embedding: not confirmed yet, or sent back, refused or withdrawn.
NOT_EMBEDDED = (Voice.Status.PENDING, Voice.Status.RETURNED, Voice.Status.REJECTED, Voice.Status.WITHDRAWN)


def embeddable(voice: Voice) -> bool:
    """Only a confirmed voice that may be analysed is embedded (consent per purpose); a returned voice
    is embedded again when its author's edit puts it back in the queue."""
    return bool(voice.consent_analysis and voice.status not in NOT_EMBEDDED and voice.text)


def _erase_unembeddable(voice_ids: Sequence[int]) -> None:
    """Delete the embeddings of those voices that may no longer have one (withdrawn, rejected, returned,
    or consent to analysis taken back while they were being embedded)."""
    gone = Q(voice__status__in=NOT_EMBEDDED) | Q(voice__consent_analysis=False)
    for chunk in _chunks(sorted(set(voice_ids))):
        VoiceEmbedding.objects.filter(gone, voice_id__in=chunk).delete()


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
    # Withdrawn (or rejected, returned) while it was being embedded: its vector must not outlive that.
    _erase_unembeddable([voice.pk])
    return VoiceEmbedding.objects.filter(voice_id=voice.pk).exists()


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
    return selectors.latest_done_run(campaign)


def latest_published_run(campaign: Campaign | int) -> SynthesisRun | None:
    return selectors.latest_published_run(campaign)


def _placement_runs(campaign_id: int) -> list[SynthesisRun]:
    """The runs a new voice is placed in: the latest finished one (curated) and, when a newer run is not
    published yet, the published one too, so the public report hears it as well."""
    runs = [run for run in (latest_run(campaign_id), latest_published_run(campaign_id)) if run is not None]
    return list({run.pk: run for run in runs}.values())


# --- locks and the cached report ---------------------------------------------------------------------


def _lock_campaign(campaign_id: int) -> Campaign:
    """Take the campaign's row lock (inside a transaction): one writer at a time for its runs' themes,
    memberships and figures and for its curation, and whoever takes it reads those after it. Always
    taken after any voice row lock (a withdrawal holds the voice's, then takes this one)."""
    return Campaign.objects.select_for_update().get(pk=campaign_id)


def _bump_report(campaign_id: int) -> None:
    """Once the transaction commits (at once outside one), the campaign's cached public report and PDF
    are stale."""

    transaction.on_commit(partial(selectors.bump_report_version, campaign_id))


def _curation_version(campaign_id: int) -> tuple[Any, ...]:
    """Changes whenever the campaign's curation changes (every change is recorded as an action; a pin
    cleared by a withdrawal is not, hence the count of pins)."""
    return (
        CurationAction.objects.filter(campaign_id=campaign_id).aggregate(last=Max("id"))["last"],
        Curation.objects.filter(campaign_id=campaign_id).aggregate(at=Max("updated_at"), pins=Count("pinned_quote")),
    )


# --- starting and running ---------------------------------------------------------------------------


def fail_stale_runs(campaign: Campaign | int) -> int:
    """Mark failed the campaign's runs still "running" whose heartbeat (``updated_at``, written with
    every progress step) is older than ``STALE_AFTER``: their worker or command was killed."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    now = timezone.now()
    return SynthesisRun.objects.filter(
        campaign_id=campaign_id, status=SynthesisRun.Status.RUNNING, updated_at__lt=now - STALE_AFTER
    ).update(
        status=SynthesisRun.Status.FAILED,
        error=_("The worker stopped before the run finished."),
        finished_at=now,
        updated_at=now,
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
    request_key: uuid.UUID | str | None = None,
) -> SynthesisRun:
    """Record a queued run and queue its task (``enqueue=False``: the caller runs it, as the command does).

    ``request_key`` is the start form's one-time key: a second request with the same key (a double
    click, a resent form) gets the run the first one started instead of another. Runs of the campaign
    left "running" by a worker that stopped are marked failed first."""
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
    request_key = request_key or None
    with transaction.atomic():
        existing = _run_for_key(campaign, request_key)
        if existing is not None:
            return existing
        fail_stale_runs(campaign)
        try:
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
                    request_key=request_key,
                )
        except IntegrityError:
            existing = _run_for_key(campaign, request_key)  # the same form, sent at the same moment
            if existing is None:
                raise
            return existing
        if enqueue:
            # In the same transaction: the task exists exactly when the run does.
            tasks.execute_run.enqueue(run.pk)
    return run


def _run_for_key(campaign: Campaign, request_key: uuid.UUID | str | None) -> SynthesisRun | None:
    if request_key is None:
        return None
    existing = SynthesisRun.objects.filter(request_key=request_key).first()
    if existing is not None and existing.campaign_id != campaign.pk:
        raise ValidationError(_("This form was already used for another campaign. Reload the page and try again."))
    return existing


class _Reporter:
    """Writes a run's progress, and its heartbeat, with one cheap UPDATE when the stage changes, else at
    most once a second; ``echo`` (the command's progress bar) sees every step."""

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
        SynthesisRun.objects.filter(pk=self.run_id).update(
            progress=round(fraction, 4), stage=stage[:40], updated_at=timezone.now()
        )


def _config(run: SynthesisRun) -> engine.Config:
    return engine.Config(
        min_themes=run.min_themes,
        max_themes=run.max_themes,
        min_theme_size=settings.THEMES_MIN_THEME_SIZE,
        seed=run.seed,
    )


def _fail(run_id: int, exc: BaseException) -> None:
    """Record why a running run stopped (a finished run stays finished)."""
    if isinstance(exc, Exception):
        error = f"{type(exc).__name__}: {exc}"
    else:  # Ctrl-C in the command, a worker shutting down
        error = _("The run was interrupted (%(what)s) before it finished.") % {"what": type(exc).__name__}
    now = timezone.now()
    SynthesisRun.objects.filter(pk=run_id, status=SynthesisRun.Status.RUNNING).update(
        status=SynthesisRun.Status.FAILED, error=error[:4000], finished_at=now, updated_at=now
    )


def execute_run(run: SynthesisRun, *, on_progress: Progress | None = None) -> SynthesisRun:
    """Run a queued synthesis to the end: done with every result, or failed with the error and nothing
    else written. A run that is not queued (already taken by another worker) is left alone.

    Interrupted (Ctrl-C, a worker's shutdown: ``KeyboardInterrupt``, ``SystemExit``), the run is marked
    failed, then the interruption goes on."""
    started = SynthesisRun.objects.filter(pk=run.pk, status=SynthesisRun.Status.QUEUED).update(
        status=SynthesisRun.Status.RUNNING, progress=0.0, stage="embed", error="", updated_at=timezone.now()
    )
    if not started:
        run.refresh_from_db()
        return run
    report = _Reporter(run.pk, on_progress)
    try:
        gone = _execute(run, report)
    except BaseException as exc:  # the run records why; the worker goes on (unless told to stop)
        if isinstance(exc, Exception):
            logger.exception("Synthesis run %s failed", run.pk)
        else:
            logger.warning("Synthesis run %s interrupted (%s)", run.pk, type(exc).__name__)
        _fail(run.pk, exc)
        run.refresh_from_db()
        if not isinstance(exc, Exception):
            raise
        return run
    run.refresh_from_db()
    if run.status == SynthesisRun.Status.DONE:
        try:
            _settle(run, relabel=bool(gone))
        except Exception:  # the run's results stand; the next run or withdrawal corrects the rest
            logger.exception("Synthesis run %s: placing the voices that changed during the run failed", run.pk)
        run.refresh_from_db()
    return run


def _settle(run: SynthesisRun, *, relabel: bool) -> None:
    """After a run's results are committed: voices no longer eligible (withdrawn, taken down while it
    ran, before or after its save) leave it, and its themes are described again without them; voices
    approved while it ran, which it never saw, are placed in it provisionally like any new voice."""
    if _drop_ineligible(run) or relabel:
        relabel_run(run.pk)
    missing = voices_in_scope(run).exclude(pk__in=Membership.objects.filter(run=run).values("voice_id"))
    voice_ids = list(missing.values_list("pk", flat=True))
    if voice_ids:
        _place(run, voice_ids)


def _drop_ineligible(run: SynthesisRun) -> list[int]:
    """Delete the memberships of voices that may no longer be analysed, and recount."""
    with transaction.atomic():
        _lock_campaign(run.campaign_id)
        eligible = voice_selectors.voices_for_analysis(run.campaign).values("pk")
        placed = list(
            Membership.objects.filter(run=run).exclude(voice_id__in=eligible).values_list("voice_id", "theme_id")
        )
        if not placed:
            return []
        voice_ids = [voice_id for voice_id, _theme in placed]
        for chunk in _chunks(voice_ids):
            Membership.objects.filter(run=run, voice_id__in=chunk).delete()
        _drop_quotes(Theme.objects.filter(run=run), set(voice_ids))
        _erase_unembeddable(voice_ids)
        _recount(run.pk)
        _bump_report(run.campaign_id)
    return voice_ids


def _drop_quotes(themes: Iterable[Theme], voice_ids: set[int]) -> None:
    changed = []
    for theme in themes:
        if voice_ids.intersection(theme.quote_ids):
            theme.quote_ids = [q for q in theme.quote_ids if q not in voice_ids]
            changed.append(theme)
    Theme.objects.bulk_update(changed, ["quote_ids"], batch_size=BATCH)


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


def _execute(run: SynthesisRun, report: Progress) -> list[int]:
    """Compute a run and write its results; returns the voices it analysed that left analysis before
    its results were written (their words may be in its keyphrases: the caller describes it again).

    Everything heavy (embedding, the engine, applying curation and describing the themes) happens
    before the write transaction, which SQLite takes for the whole database. Inside it, under the
    campaign's lock, curation is read again: changed meanwhile (a merge during the run), the themes
    are built again with it, outside the lock a few times, then under it."""
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
    for attempt in range(CURATION_RETRIES + 1):
        version = _curation_version(run.campaign_id)
        built = _build_themes(run.campaign_id, raw_groups, space, config)
        report(0.95, "save")
        with transaction.atomic():
            _lock_campaign(run.campaign_id)
            locked = SynthesisRun.objects.select_for_update().get(pk=run.pk)
            if locked.status != SynthesisRun.Status.RUNNING:
                return []  # given up as stale meanwhile (see fail_stale_runs): nothing is written
            if _curation_version(run.campaign_id) != version:
                if attempt < CURATION_RETRIES:
                    continue  # curated meanwhile: build again, still outside the lock
                built = _build_themes(run.campaign_id, raw_groups, space, config)
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
            Membership.objects.bulk_create(memberships, batch_size=BATCH)
            _erase_unembeddable(gone)
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
            _bump_report(run.campaign_id)
        report(1.0, "done")
        return gone
    raise AssertionError("unreachable: the last attempt writes under the lock")  # pragma: no cover


def _floats(vector: np.ndarray) -> list[float]:
    """A vector as JSON numbers, exactly (float32 values round-trip through float): rounding would
    make every later re-application of curation see slightly different similarities and rewrite
    almost every membership."""
    return [float(x) for x in np.asarray(vector, dtype=np.float32).ravel()]


def _previous_run(run: SynthesisRun) -> SynthesisRun | None:
    """The run a new run is matched to: the campaign's latest finished run of the same scope (place,
    prompt, dates), else its latest finished run of any scope. A province's run in between two runs of
    the whole campaign thus leaves the second one's keys alone."""
    done = (
        SynthesisRun.objects.filter(campaign_id=run.campaign_id, status=SynthesisRun.Status.DONE)
        .exclude(pk=run.pk)
        .order_by("-created_at", "-id")
    )
    same_scope = done.filter(
        place_id=run.place_id, prompt_id=run.prompt_id, date_from=run.date_from, date_to=run.date_to
    ).first()
    return same_scope or done.first()


def _previous_anchors(run: SynthesisRun, model: engine.Embedder) -> list[engine.Anchor]:
    """The engine's own themes of the previous run (:func:`_previous_run`; before curation), so that a
    theme that continues keeps its key. Centres count only when both runs used the same embeddings."""
    previous = _previous_run(run)
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
    engine.label_themes(described, space.items, config.keyphrases, config.min_phrase_voices, config.min_language_voices)
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
        [_theme_fields(Theme(run=run, key=b.key), b, position, live) for position, b in enumerate(ordered)],
        batch_size=100,
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


THEME_FIELDS = ["size", "centroid", "keyphrases", "quote_ids", "languages", "position", "merged_from", "split_from"]


def _reapply(run: SynthesisRun) -> None:
    """Apply the campaign's curation to a finished run at once, from the engine's own themes, exactly as
    a new run would (call inside a transaction, under the campaign's lock).

    Queries stay few at any size: themes are written with one bulk update and one bulk insert, and
    only the memberships whose theme, reason or similarity changed are written, in batches. The work
    itself (describing every theme) grows with the run: about a minute at 100,000 voices."""
    raw_groups: dict[str, list[int]] = defaultdict(list)
    rows = Membership.objects.filter(run=run, provisional=False).exclude(raw_key="").values_list("voice_id", "raw_key")
    for voice_id, key in rows.iterator(chunk_size=2000):
        raw_groups[key].append(voice_id)
    space = _load_space(run, [m for members in raw_groups.values() for m in members])
    built = _ordered(_build_themes(run.campaign_id, dict(raw_groups), space, _config(run)))
    existing = {t.key: t for t in Theme.objects.filter(run=run)}
    changed, added = [], []
    for position, b in enumerate(built):
        if b.key in existing:
            changed.append(_theme_fields(existing[b.key], b, position))
        else:
            added.append(_theme_fields(Theme(run=run, key=b.key), b, position))
    Theme.objects.bulk_update(changed, THEME_FIELDS, batch_size=100)
    Theme.objects.bulk_create(added, batch_size=100)
    if added:
        existing.update({t.key: t for t in Theme.objects.filter(run=run, key__in=[t.key for t in added])})
    updates = []
    rows = (
        Membership.objects.filter(run=run, provisional=False)
        .exclude(raw_key="")
        .values_list("pk", "voice_id", "theme_id", "reason", "similarity")
    )
    for pk, voice_id, theme_id, reason, similarity in rows.iterator(chunk_size=2000):
        if voice_id not in space.row:
            continue
        key, new_reason, new_similarity = _placement(voice_id, built, space, {})
        new_theme = existing[key].pk if key else None
        if (new_theme, new_reason, new_similarity) != (theme_id, reason, similarity):
            updates.append(Membership(pk=pk, theme_id=new_theme, reason=new_reason, similarity=new_similarity))
    Membership.objects.bulk_update(updates, ["theme", "reason", "similarity"], batch_size=BATCH)
    final = {b.key for b in built}
    stale = [t.pk for key, t in existing.items() if key not in final]
    _follow_curation(run, existing, final)
    Membership.objects.filter(theme_id__in=stale).update(theme=None, reason=NEW, similarity=0.0)
    Theme.objects.filter(pk__in=stale).delete()
    _recount(run.pk)


def _follow_curation(run: SynthesisRun, themes: dict[str, Theme], final: set[str]) -> None:
    """Voices placed after the run follow their theme through merges and splits, like its other voices;
    those whose theme is gone otherwise are placed afresh."""
    provisional = list(
        Membership.objects.filter(run=run, provisional=True)
        .select_related("theme")
        .only("pk", "voice_id", "theme_id", "reason", "similarity", "theme__key")
    )
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
        [m for m in provisional if m.pk not in left], ["theme", "reason", "similarity"], batch_size=BATCH
    )
    _assign_provisional(run, rest)


def _anchors(run: SynthesisRun, themes: Sequence[Theme], model: engine.Embedder | None = None) -> list[engine.Anchor]:
    """The run's themes to place new voices in; none when the run's embeddings are not those at hand
    (another model now): its voices wait for the next run as "new"."""
    anchors = [engine.Anchor(t.key, _vector(t.centroid)) for t in themes]
    if model is not None and (model.name != run.backend_name or any(len(a.centroid) != model.dim for a in anchors)):
        return []
    return anchors


def _assign_provisional(run: SynthesisRun, memberships: list[Membership]) -> None:
    """Place voices received after the run in its nearest theme above ``THEMES_ASSIGN_FLOOR``, else "new"."""
    if not memberships:
        return
    themes = list(Theme.objects.filter(run=run).only("pk", "key", "centroid"))
    ids = [m.voice_id for m in memberships]
    languages: dict[int, str] = {}
    vectors = {}
    for chunk in _chunks(ids):
        languages.update(Voice.objects.filter(pk__in=chunk).values_list("pk", "language"))
        stored = VoiceEmbedding.objects.filter(backend=run.backend_name, voice_id__in=chunk)
        vectors.update({voice_id: _vector(data) for voice_id, data in stored.values_list("voice_id", "vector")})
    anchors = _anchors(run, themes)
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
    Membership.objects.bulk_update(placeable, ["theme", "reason", "similarity"], batch_size=BATCH)


def _place(run: SynthesisRun, voice_ids: Sequence[int]) -> list[Membership]:
    """Place voices the run has not seen, provisionally (until the next run): each in the nearest of its
    themes above ``THEMES_ASSIGN_FLOOR``, else "new, not yet in a theme". Returns the memberships made.

    Their embeddings are computed first, outside any transaction. Then, holding the voices' row locks
    and the campaign's lock, only the voices still eligible (approved, consented to analysis, not
    withdrawn), in the run's scope and not placed yet are placed, against its themes as they are then
    (a merge made meanwhile counts)."""
    fields = ("pk", "campaign_id", "title", "text", "redacted_text", "language", "status", "consent_analysis")
    voices: list[Voice] = []
    for chunk in _chunks(sorted(set(voice_ids))):
        voices.extend(voices_in_scope(run).filter(pk__in=chunk).only(*fields))
    voices = [v for v in voices if embeddable(v)]
    if not voices:
        return []
    model = embedder(run.backend)
    vectors = ensure_embeddings(voices, run.backend)
    ids = [v.pk for v in voices]
    with transaction.atomic():
        for chunk in _chunks(ids):
            list(Voice.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True))
        _lock_campaign(run.campaign_id)
        # Withdrawn, rejected or returned while being embedded: no place, and no embedding either.
        _erase_unembeddable(ids)
        if not SynthesisRun.objects.filter(pk=run.pk, status=SynthesisRun.Status.DONE).exists():
            return []
        eligible: set[int] = set()
        placed: set[int] = set()
        for chunk in _chunks(ids):
            eligible.update(voices_in_scope(run).filter(pk__in=chunk).values_list("pk", flat=True))
            placed.update(Membership.objects.filter(run=run, voice_id__in=chunk).values_list("voice_id", flat=True))
        todo = [v for v in voices if v.pk in eligible and v.pk not in placed]
        if not todo:
            return []
        themes = list(Theme.objects.filter(run=run).only("pk", "key", "centroid"))
        by_key = {t.key: t.pk for t in themes}
        where = engine.assign(
            _matrix([vectors[v.pk] for v in todo], model.dim),
            [v.language for v in todo],
            _anchors(run, themes, model),
            _offsets(run),
            settings.THEMES_ASSIGN_FLOOR,
        )
        memberships = [
            Membership(
                run=run,
                voice_id=v.pk,
                theme_id=by_key[key] if key else None,
                reason="" if key else NEW,
                similarity=round(float(similarity), 6),
                provisional=True,
            )
            for v, (key, similarity) in zip(todo, where, strict=True)
        ]
        Membership.objects.bulk_create(memberships, batch_size=BATCH)
        _recount(run.pk)
        _bump_report(run.campaign_id)
    return memberships


def assign_new_voice(voice: Voice) -> Membership | None:
    """Place a voice received after the campaign's latest run in that run's nearest theme (provisionally,
    until the next run), or mark it "new" when it is near none; and likewise in the published run when
    a newer one is not published yet, so "What we heard" hears it too. Returns the membership in the
    latest run (else in the published one); None when there is nothing to do: no run, the voice may
    not be analysed or is out of the runs' scope, or it is already placed."""
    made = None
    for run in _placement_runs(voice.campaign_id):
        memberships = _place(run, [voice.pk])
        if memberships and made is None:
            made = memberships[0]
    return made


def remove_voice(voice: Voice, *, erase: bool = True) -> None:
    """A voice leaves every theme (withdrawn, taken down, rejected): its memberships go, it is no longer
    a quote or a pinned quote, and sizes and coverage are recounted; once that commits, the runs it was
    in are described again without its words (``relabel_run``). ``erase`` also deletes its embeddings."""
    with transaction.atomic():
        _lock_campaign(voice.campaign_id)
        placed = list(Membership.objects.filter(voice=voice).values_list("run_id", "theme_id"))
        Membership.objects.filter(voice=voice).delete()
        if erase:
            VoiceEmbedding.objects.filter(voice=voice).delete()
        Curation.objects.filter(pinned_quote=voice).update(pinned_quote=None)
        _drop_quotes(Theme.objects.filter(pk__in=[theme_id for _, theme_id in placed if theme_id]), {voice.pk})
        for run_id in sorted({run_id for run_id, _ in placed}):
            _recount(run_id)
        # One relabelling queued per run, however many voices leave it before it starts: the task
        # clears the mark as it starts, so a voice leaving during a relabelling queues another.
        for run_id in sorted({run_id for run_id, theme_id in placed if theme_id}):
            if SynthesisRun.objects.filter(pk=run_id, relabel_pending=False).update(relabel_pending=True):
                transaction.on_commit(partial(tasks.relabel_run.enqueue, run_id))
        if placed:
            _bump_report(voice.campaign_id)


# --- describing a run again ---------------------------------------------------------------------------


def _theme_members(run: SynthesisRun) -> dict[int, list[tuple[int, str]]]:
    """Each theme's voices that the run analysed (not those placed after it) and that may still be
    analysed: theme id -> [(voice id, status), ...]."""
    members: dict[int, list[tuple[int, str]]] = defaultdict(list)
    rows = (
        Membership.objects.filter(
            run=run,
            provisional=False,
            theme__isnull=False,
            voice__status__in=Voice.APPROVED,
            voice__consent_analysis=True,
        )
        .order_by("theme_id", "voice_id")
        .values_list("theme_id", "voice_id", "voice__status")
    )
    for theme_id, voice_id, status in rows.iterator(chunk_size=2000):
        members[theme_id].append((voice_id, status))
    return members


def _labels(
    run: SynthesisRun, themes: Sequence[Theme], members: dict[int, list[tuple[int, str]]]
) -> dict[int, tuple[dict[str, list[str]], dict[str, int]]]:
    """Keyphrases (the engine's, across all the run's themes) and language counts of each theme, from
    the analysed text of its voices now."""
    config = _config(run)
    ids = [voice_id for pairs in members.values() for voice_id, _status in pairs]
    items: dict[int, engine.Item] = {}
    for chunk in _chunks(ids):
        for voice in Voice.objects.filter(pk__in=chunk).only("pk", "title", "text", "redacted_text", "language"):
            items[voice.pk] = engine.Item(voice.pk, analysis_text(voice), voice.language)
    described = []
    for theme in themes:
        member_ids = [voice_id for voice_id, _status in members.get(theme.pk, []) if voice_id in items]
        described.append(
            engine.Theme(
                id=theme.key,
                member_ids=member_ids,
                centroid=_vector(theme.centroid),
                keyphrases={},
                quote_ids=[],
                languages=dict(Counter(items[m].language for m in member_ids)),
            )
        )
    engine.label_themes(
        described, list(items.values()), config.keyphrases, config.min_phrase_voices, config.min_language_voices
    )
    return {theme.pk: (d.keyphrases, d.languages) for theme, d in zip(themes, described, strict=True)}


def relabel_run(run_id: int) -> bool:
    """Describe a finished run's themes again from the voices now in them (after a withdrawal or a
    take-down): keyphrases across all its themes, language counts, and quotes where one went missing.
    The keyphrases are computed outside the transaction; under the campaign's lock they are written if
    the themes' voices are still the same, else computed again there. False if the run is gone."""
    run = SynthesisRun.objects.filter(pk=run_id, status=SynthesisRun.Status.DONE).first()
    if run is None:
        return False
    themes = list(Theme.objects.filter(run=run).order_by("pk"))
    members = _theme_members(run)
    labels = _labels(run, themes, members)
    with transaction.atomic():
        _lock_campaign(run.campaign_id)
        run = SynthesisRun.objects.filter(pk=run_id, status=SynthesisRun.Status.DONE).first()
        if run is None:
            return False
        now_themes = list(Theme.objects.filter(run=run).order_by("pk"))
        now_members = _theme_members(run)
        if [t.pk for t in now_themes] != [t.pk for t in themes] or now_members != members:
            themes, members = now_themes, now_members
            labels = _labels(run, themes, members)
        config = _config(run)
        pins = dict(
            Curation.objects.filter(campaign_id=run.campaign_id, pinned_quote__isnull=False).values_list(
                "key", "pinned_quote_id"
            )
        )
        for theme in now_themes:
            theme.keyphrases, theme.languages = labels[theme.pk]
            pairs = members.get(theme.pk, [])
            published = [voice_id for voice_id, status in pairs if status == Voice.Status.PUBLISHED]
            quotable = set(published)
            kept = [q for q in theme.quote_ids if q in quotable]
            if kept != theme.quote_ids or len(kept) < min(config.quotes, len(published)):
                space = _load_space(run, [voice_id for voice_id, _status in pairs])
                theme.quote_ids = _quotes(
                    [item.id for item in space.items],
                    _vector(theme.centroid),
                    space,
                    pins.get(theme.key),
                    config.quotes,
                )
        Theme.objects.bulk_update(now_themes, ["keyphrases", "languages", "quote_ids"], batch_size=100)
        _bump_report(run.campaign_id)
    return True


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
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        _current(campaign, key)
        curation = _curation(campaign, key)
        before = {"name_en": curation.name_en, "name_fr": curation.name_fr}
        curation.name_en, curation.name_fr = name_en, name_fr
        curation.save()
        _record(campaign, key, CurationAction.Action.RENAME, actor, before, {"name_en": name_en, "name_fr": name_fr})
        _bump_report(campaign.pk)
    return curation


def _set_hidden(campaign: Campaign, key: str, actor: Any, hidden: bool) -> Curation:
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        _current(campaign, key)
        curation = _curation(campaign, key)
        if curation.hidden != hidden:
            curation.hidden = hidden
            curation.save()
            action = CurationAction.Action.HIDE if hidden else CurationAction.Action.SHOW
            _record(campaign, key, action, actor, {"hidden": not hidden}, {"hidden": hidden})
            _bump_report(campaign.pk)
    return curation


def hide(campaign: Campaign, key: str, actor: Any) -> Curation:
    """Keep a theme out of the public report (it stays in the analysis and its figures)."""
    return _set_hidden(campaign, key, actor, True)


def show(campaign: Campaign, key: str, actor: Any) -> Curation:
    return _set_hidden(campaign, key, actor, False)


def merge(campaign: Campaign, source_key: str, target_key: str, actor: Any) -> Curation:
    """Fold one theme's voices into another, in the latest run now and in every later run (a run saving
    its results meanwhile waits for the campaign's lock, then applies the merge too)."""
    if source_key == target_key:
        raise ValidationError(_("Choose two different themes to merge."))
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        run, _source = _current(campaign, source_key)
        _current(campaign, target_key)
        curation = _curation(campaign, source_key)
        before = {"merged_into": curation.merged_into}
        curation.merged_into = target_key
        curation.save()
        _record(campaign, source_key, CurationAction.Action.MERGE, actor, before, {"merged_into": target_key})
        _reapply(run)
        _bump_report(campaign.pk)
    return curation


def _fresh_key(key: str, taken: set[str]) -> str:
    while key in taken:
        key = "t" + hashlib.sha1(key.encode()).hexdigest()[:10]
    return key


def _split_parts(campaign: Campaign, run: SynthesisRun, theme: Theme, parts: int) -> tuple[list[int], list[dict]]:
    """The theme's voices in the run, and the parts the engine divides them into (fresh keys, centres)."""
    members = list(
        Membership.objects.filter(run=run, theme=theme, provisional=False)
        .order_by("voice_id")
        .values_list("voice_id", flat=True)
    )
    space = _load_space(run, members)
    if len(space.items) < parts:
        raise ValidationError(_("This theme has too few voices to split into %(n)d parts.") % {"n": parts})
    children = engine.split(space.items, space.embeddings, space.offsets, parts, _config(run))
    taken = _taken_keys(campaign)
    into = []
    for child in children:
        child_key = _fresh_key(child.id, taken)
        taken.add(child_key)
        into.append({"key": child_key, "centroid": _floats(child.centroid), "size": child.size})
    return members, into


def _taken_keys(campaign: Campaign) -> set[str]:
    taken = set(Theme.objects.filter(run__campaign=campaign).values_list("key", flat=True))
    return taken | set(Curation.objects.filter(campaign=campaign).values_list("key", flat=True))


def split(campaign: Campaign, key: str, actor: Any, parts: int = 2) -> Curation:
    """Divide a theme into ``parts`` new themes (by the engine, on its voices in the latest run); later
    runs divide that theme's voices the same way, each to the part whose centre is nearest. The parts
    are computed before the campaign's lock, and again under it if the theme changed meanwhile."""
    if not 2 <= parts <= MAX_SPLIT_PARTS:
        raise ValidationError(_("A theme can be split into 2 to %(n)d parts.") % {"n": MAX_SPLIT_PARTS})
    run, theme = _current(campaign, key)
    members, into = _split_parts(campaign, run, theme, parts)
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        now_run, now_theme = _current(campaign, key)
        now_members = list(
            Membership.objects.filter(run=now_run, theme=now_theme, provisional=False)
            .order_by("voice_id")
            .values_list("voice_id", flat=True)
        )
        if now_run.pk != run.pk or now_members != members or _taken_keys(campaign) & {p["key"] for p in into}:
            run = now_run
            members, into = _split_parts(campaign, now_run, now_theme, parts)
        curation = _curation(campaign, key)
        before = {"split_into": [part["key"] for part in curation.split_into]}
        curation.split_into = into
        curation.save()
        after = {"split_into": [part["key"] for part in into], "sizes": [part["size"] for part in into]}
        _record(campaign, key, CurationAction.Action.SPLIT, actor, before, after)
        _reapply(run)
        _bump_report(campaign.pk)
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
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        run, theme = _current(campaign, key)
        voice = Voice.objects.get(pk=voice.pk)
        if voice.campaign_id != campaign.pk or voice.status != Voice.Status.PUBLISHED:
            raise ValidationError(_("Only a published voice can be pinned as a quote."))
        if not Membership.objects.filter(run=run, theme=theme, voice=voice).exists():
            raise ValidationError(_("This voice is not in this theme."))
        curation = _curation(campaign, key)
        before = {"voice": str(curation.pinned_quote.public_id) if curation.pinned_quote else ""}
        curation.pinned_quote = voice
        curation.save()
        _record(campaign, key, CurationAction.Action.PIN, actor, before, {"voice": str(voice.public_id)})
        _refresh_quotes(run, theme, voice.pk)
        _bump_report(campaign.pk)
    return curation


def unpin(campaign: Campaign, key: str, actor: Any) -> Curation:
    with transaction.atomic():
        _lock_campaign(campaign.pk)
        run, theme = _current(campaign, key)
        curation = _curation(campaign, key)
        if curation.pinned_quote_id is not None:
            before = {"voice": str(curation.pinned_quote.public_id)}
            curation.pinned_quote = None
            curation.save()
            _record(campaign, key, CurationAction.Action.UNPIN, actor, before, {"voice": ""})
            _refresh_quotes(run, theme, None)
            _bump_report(campaign.pk)
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
        _bump_report(run.campaign_id)
    return run


def unpublish(run: SynthesisRun, actor: Any) -> SynthesisRun:
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        run.published_at = None
        run.published_by = None
        run.save(update_fields=["published_at", "published_by"])
        _bump_report(run.campaign_id)
    return run
