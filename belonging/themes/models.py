"""Synthesis of voices into themes: cached embeddings, runs, their themes and memberships, and the
organizers' curation, which is keyed by a theme's stable key so it survives later runs.

The computation itself is ``belonging.lib.themes`` (no Django); this app stores its inputs and
results and applies curation on top.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from belonging.core.i18n import localized
from belonging.core.models import Campaign, Place
from belonging.voices.models import Prompt, Voice

# Stages a run goes through, as shown beside its progress bar (the engine's own stages included).
STAGES = {
    "queued": _("Waiting for a worker"),
    "embed": _("Reading the voices"),
    "centre": _("Bringing languages together"),
    "choose": _("Choosing the number of themes"),
    "cluster": _("Grouping the voices"),
    "coverage": _("Checking every voice"),
    "describe": _("Describing the themes"),
    "match": _("Matching the previous run"),
    "curate": _("Applying the organizers' curation"),
    "save": _("Saving"),
    "done": _("Done"),
}

# Membership.reason for a voice received after the run and near no theme.
NEW = "new"


class Backend(models.TextChoices):
    E5 = "e5", _("Multilingual model (e5-small, English and French together)")
    LEXICAL = "lexical", _("Shared words only (fast, no model)")
    SENTENCE_TRANSFORMERS = "sentence-transformers", _("Local sentence-transformers model")


class VoiceEmbedding(models.Model):
    """One voice's embedding by one backend, computed once (when the voice is confirmed) and reused
    by every run. ``text_hash`` is the hash of the text embedded: an edit makes it stale."""

    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="embeddings")
    backend = models.CharField(max_length=120)  # Embedder.name, e.g. "e5-small-q4"
    text_hash = models.CharField(max_length=64)
    vector = models.BinaryField()  # little-endian float32, lib.themes.to_bytes
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["voice", "backend"], name="one_embedding_per_voice_backend")]


class SynthesisRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="synthesis_runs")
    # Scope (all optional): a place, a prompt, a date range on when voices were received.
    place = models.ForeignKey(Place, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    backend = models.CharField(max_length=40, choices=Backend.choices, default=Backend.E5)
    backend_name = models.CharField(max_length=120, blank=True)  # Embedder.name actually used
    min_themes = models.PositiveSmallIntegerField(default=2)
    max_themes = models.PositiveSmallIntegerField(default=30)
    seed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    stage = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Heartbeat: set by every progress write, so a run "running" with an old heartbeat is known stale.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The start form's one-time key: the same form posted twice starts one run.
    request_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)  # shown on "What we heard" when set
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Figures for the method-and-coverage statement.
    total = models.PositiveIntegerField(default=0)  # voices analysed (consented, approved, in scope)
    in_themes = models.PositiveIntegerField(default=0)
    excluded = models.JSONField(default=dict)  # reason -> count (lib.themes.REASONS)
    k = models.PositiveSmallIntegerField(default=0)
    k_scores = models.JSONField(default=dict)
    offsets = models.JSONField(default=dict)  # language -> list[float], the run's language centring
    # The engine's own themes, before curation: key -> {"centroid": [...], "size": n}. With
    # Membership.raw_key they are what the next run is matched to, and what curation is applied to.
    raw_themes = models.JSONField(default=dict)
    # A relabelling (after a voice left) is queued and not yet started: later departures add none.
    relabel_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("run_synthesis", "Can start synthesis runs and publish What we heard"),
            ("curate_themes", "Can rename, merge, split, hide themes and pin quotes"),
        ]
        indexes = [models.Index(fields=["campaign", "status", "-created_at"], name="run_campaign_status")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="run_progress_0_1"),
            models.CheckConstraint(condition=Q(max_themes__gte=models.F("min_themes")), name="run_theme_bounds"),
            models.CheckConstraint(condition=Q(min_themes__gte=1), name="run_min_themes_positive"),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | Q(status="done"), name="run_published_only_when_done"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["done", "failed"]) | Q(finished_at__isnull=False), name="run_finished_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk} ({self.status})"

    @property
    def stage_label(self) -> str:
        return str(STAGES.get(self.stage, self.stage))

    @property
    def share(self) -> float:
        """Share of the voices covered by this run that are in a theme."""
        return self.in_themes / self.total if self.total else 0.0


class Theme(models.Model):
    """A theme of one run, after curation (merged themes are folded in, split ones divided).
    ``key`` is stable across runs: a theme continued by a later run keeps its key."""

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="themes")
    key = models.CharField(max_length=40)
    size = models.PositiveIntegerField(default=0)
    centroid = models.BinaryField()  # in the run's language-centred space
    keyphrases = models.JSONField(default=dict)  # language -> [phrase, ...]
    quote_ids = models.JSONField(default=list)  # voice ids, most representative first
    languages = models.JSONField(default=dict)  # language -> voices
    position = models.PositiveIntegerField(default=0)  # largest first
    merged_from = models.JSONField(default=list)  # keys folded into this theme by curation
    split_from = models.CharField(max_length=40, blank=True)  # the key this theme was split from

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_theme_key_per_run")]

    def __str__(self) -> str:
        return self.key

    def default_name(self, language: str) -> str:
        """A name from the keyphrases: the first three in ``language`` (else in the other one)."""
        return ", ".join(theme_keyphrases(self, language)[0][:3])


def _other(language: str) -> str:
    return "fr" if language == "en" else "en"


def theme_keyphrases(theme: Theme, language: str) -> tuple[list[str], str]:
    """The theme's keyphrases in ``language``, else in the other language, else any; with their language."""
    phrases = theme.keyphrases or {}
    for lang in (language, _other(language), *sorted(phrases)):
        if phrases.get(lang):
            return list(phrases[lang]), lang
    return [], language


def theme_label(theme: Theme, curation: Curation | None, language: str) -> tuple[str, str, bool]:
    """What a theme is called in ``language``: the organizers' name (else their name in the other
    language), else its first keyphrases, else "Theme N". Returns (name, language of the name,
    whether organizers named it). The report, the API and ``manage.py synthesize`` all use it."""
    if curation is not None:
        for lang in (language, _other(language)):
            value = getattr(curation, f"name_{lang}", "")
            if value:
                return value, lang, True
    phrases, lang = theme_keyphrases(theme, language)
    if phrases:
        return ", ".join(phrases[:3]), lang, False
    return gettext("Theme %(number)d") % {"number": theme.position + 1}, language, False


def theme_name(theme: Theme, curation: Curation | None, language: str) -> str:
    return theme_label(theme, curation, language)[0]


class Membership(models.Model):
    """A voice's place in a run: in a theme, or in none with the reason. ``provisional`` marks a
    voice assigned after the run (to the nearest theme above the floor), until the next run."""

    run = models.ForeignKey(SynthesisRun, on_delete=models.CASCADE, related_name="memberships")
    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="theme_memberships")
    theme = models.ForeignKey(Theme, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships")
    reason = models.CharField(max_length=20, blank=True)  # lib.themes reason, or "new" (not yet in a theme)
    similarity = models.FloatField(default=0.0)
    provisional = models.BooleanField(default=False)
    raw_key = models.CharField(max_length=40, blank=True)  # the engine's theme, before curation ("" if none)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "voice"], name="one_membership_per_run_voice"),
            models.CheckConstraint(condition=Q(provisional=False) | Q(raw_key=""), name="provisional_has_no_raw_key"),
            models.CheckConstraint(
                condition=Q(theme__isnull=False, reason="") | Q(theme__isnull=True) & ~Q(reason=""),
                name="membership_theme_or_reason",
            ),
        ]
        indexes = [models.Index(fields=["theme"], name="membership_theme")]


class Curation(models.Model):
    """Organizers' decisions about a stable theme key in a campaign, applied to every run."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="theme_curations")
    key = models.CharField(max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=150, blank=True)
    name_fr = models.CharField(_("name (French)"), max_length=150, blank=True)
    hidden = models.BooleanField(_("hidden from the public report"), default=False)
    pinned_quote = models.ForeignKey(Voice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    merged_into = models.CharField(max_length=40, blank=True)  # this key's voices go to that key
    split_into = models.JSONField(default=list)  # [{"key": ..., "centroid": [...]}, ...]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="one_curation_per_theme_key"),
            models.CheckConstraint(condition=~Q(merged_into=models.F("key")), name="curation_no_self_merge"),
        ]

    @property
    def name(self) -> str:
        return localized(self, "name")


class CurationAction(models.Model):
    """History of curation: who did what to which theme, and when."""

    class Action(models.TextChoices):
        RENAME = "rename", _("Renamed")
        MERGE = "merge", _("Merged")
        SPLIT = "split", _("Split")
        HIDE = "hide", _("Hidden")
        SHOW = "show", _("Shown again")
        PIN = "pin", _("Quote pinned")
        UNPIN = "unpin", _("Quote unpinned")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    action = models.CharField(max_length=10, choices=Action.choices)
    detail = models.JSONField(default=dict)  # before/after values
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
