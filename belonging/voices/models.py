"""Voices (stories, wisdom, thoughts) answering a campaign's prompts, their moderation and its log.

Self-identification lives in its own table (``SelfIdentification``), never shown one person at a
time. Withdrawal keeps a tombstone row (for the moderation log) and erases everything personal.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from belonging.core import identity
from belonging.core.i18n import localized
from belonging.core.models import Campaign, Place
from belonging.core.provinces import Province

TEXT_MAX = 5000
TITLE_MAX = 120


class Prompt(models.Model):
    """A question a campaign asks; every voice answers one."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="prompts")
    slug = models.SlugField(_("slug"))
    text_en = models.CharField(_("question (English)"), max_length=300)
    text_fr = models.CharField(_("question (French)"), max_length=300)
    help_en = models.TextField(_("guidance (English)"), blank=True)
    help_fr = models.TextField(_("guidance (French)"), blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_open = models.BooleanField(_("open for new voices"), default=True)

    class Meta:
        verbose_name = _("prompt")
        verbose_name_plural = _("prompts")
        ordering = ["campaign", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "slug"], name="unique_prompt_slug_per_campaign")]

    def __str__(self) -> str:
        return self.text_en

    @property
    def text(self) -> str:
        return localized(self, "text")

    @property
    def help(self) -> str:
        return localized(self, "help")


class ReasonCode(models.Model):
    """Why a voice was rejected or returned; organizers maintain the list in both languages."""

    code = models.SlugField(_("code"), unique=True)
    label_en = models.CharField(_("label (English)"), max_length=150)
    label_fr = models.CharField(_("label (French)"), max_length=150)
    explanation_en = models.TextField(_("explanation sent to the contributor (English)"))
    explanation_fr = models.TextField(_("explanation sent to the contributor (French)"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("reason code")
        verbose_name_plural = _("reason codes")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label_en

    @property
    def label(self) -> str:
        return localized(self, "label")

    @property
    def explanation(self) -> str:
        return localized(self, "explanation")

    def explanation_in(self, language: str) -> str:
        return localized(self, "explanation", language)


class Kind(models.TextChoices):
    STORY = "story", _("A story")
    WISDOM = "wisdom", _("Wisdom")
    THOUGHT = "thought", _("A thought")


class Display(models.TextChoices):
    FIRST_NAME = "first_name", _("My first name")
    PSEUDONYM = "pseudonym", _("A pseudonym")
    ANONYMOUS = "anonymous", _("Anonymous")


class Language(models.TextChoices):
    EN = "en", _("English")
    FR = "fr", _("French")


class Voice(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for email confirmation")
        SUBMITTED = "submitted", _("Waiting for review")
        RETURNED = "returned", _("Returned for edits")
        PUBLISHED = "published", _("Published")
        ACCEPTED = "accepted", _("Accepted, not published")
        REJECTED = "rejected", _("Not accepted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    EDITABLE = (Status.PENDING, Status.SUBMITTED, Status.RETURNED)
    APPROVED = (Status.PUBLISHED, Status.ACCEPTED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="voices")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="voices")
    place = models.ForeignKey(Place, on_delete=models.SET_NULL, null=True, blank=True, related_name="voices")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=TITLE_MAX, blank=True)
    text = models.TextField(_("text"), max_length=TEXT_MAX)
    redacted_text = models.TextField(
        _("published text"), blank=True, help_text=_("Set when a moderator removed parts before publishing.")
    )
    language = models.CharField(_("language of the voice"), max_length=2, choices=Language.choices)
    province = models.CharField(_("province or territory"), max_length=2, choices=Province.choices, blank=True)
    community = models.CharField(_("community"), max_length=120, blank=True)
    display = models.CharField(_("shown as"), max_length=12, choices=Display.choices, default=Display.ANONYMOUS)
    display_name = models.CharField(_("first name or pseudonym"), max_length=60, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    page_language = models.CharField(_("language of emails"), max_length=2, default="en")
    consent_publish = models.BooleanField(_("consents to publication"), default=False)
    consent_analysis = models.BooleanField(_("consents to analysis"), default=False)
    consent_self_id = models.BooleanField(_("consents to self-identification statistics"), default=False)

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    code_hash = models.CharField(max_length=64, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("shared at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("sent for review at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    reason = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    moderator_note = models.TextField(_("note to the contributor"), blank=True)

    # Derived on every save by the services: folded text for accent-insensitive search, and a
    # SimHash fingerprint that groups near-duplicates in the moderation queue.
    search_text = models.TextField(blank=True)
    fingerprint = models.BigIntegerField(null=True, blank=True)
    duplicate_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("voice")
        verbose_name_plural = _("voices")
        permissions = [
            ("moderate_voice", "Can moderate voices"),
            ("export_moderation_log", "Can export the moderation log"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | (Q(consent_publish=True) & Q(published_at__isnull=False)),
                name="voice_published_needs_consent",
            ),
            models.CheckConstraint(
                condition=Q(display="anonymous") | ~Q(display_name=""),
                name="voice_named_display_has_name",
            ),
            models.CheckConstraint(
                condition=~Q(status="withdrawn") | (Q(email="") & Q(text="") & Q(withdrawn_at__isnull=False)),
                name="voice_withdrawn_is_erased",
            ),
            models.CheckConstraint(condition=Q(language__in=["en", "fr"]), name="voice_language_en_fr"),
        ]
        indexes = [
            # The gallery: published voices, newest first, optionally narrowed by filters. Status leads so
            # "status = %s ... ORDER BY published_at DESC, id DESC" is one index range, with or without
            # statistics, on SQLite too; the other filters trail so the paginator's COUNT(*) and the
            # filtering of a page read the index alone.
            models.Index(fields=["status", "-published_at", "-id"], name="voice_gallery"),
            models.Index(
                fields=["status", "prompt", "-published_at", "-id", "kind", "language", "province"],
                name="voice_gallery_prompt",
            ),
            models.Index(
                fields=["status", "province", "-published_at", "-id", "prompt", "kind", "language"],
                name="voice_gallery_province",
            ),
            models.Index(
                fields=["status", "language", "-published_at", "-id", "prompt", "kind", "province"],
                name="voice_gallery_language",
            ),
            models.Index(
                fields=["status", "kind", "-published_at", "-id", "prompt", "language", "province"],
                name="voice_gallery_kind",
            ),
            # The moderation queue: by status, oldest first.
            models.Index(fields=["status", "submitted_at"], name="voice_queue"),
            models.Index(fields=["campaign", "status"], name="voice_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.public_id}"

    @property
    def consent_subject(self) -> str:
        return f"voices.voice:{self.public_id}"

    @property
    def public_text(self) -> str:
        """What the public sees: the moderator's redaction if there is one."""
        return self.redacted_text or self.text

    @property
    def shown_name(self) -> str:
        return "" if self.display == Display.ANONYMOUS else self.display_name

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE


class SelfIdentification(models.Model):
    """A voice's self-identification, kept only with consent to statistics, in a table of its own.

    Only aggregate selectors read it; no page, export or admin shows one row.
    """

    voice = models.OneToOneField(Voice, on_delete=models.CASCADE, related_name="self_identification")
    indigenous = models.CharField(max_length=80, blank=True)
    population_groups = models.CharField(max_length=200, blank=True)
    gender = models.CharField(max_length=20, blank=True, choices=identity.Gender.choices)
    two_slgbtq = models.CharField(max_length=20, blank=True, choices=identity.YesNo.choices)
    disability = models.CharField(max_length=20, blank=True, choices=identity.YesNo.choices)
    first_official_language = models.CharField(max_length=20, blank=True, choices=identity.OfficialLanguage.choices)
    arrival = models.CharField(max_length=20, blank=True, choices=identity.Arrival.choices)
    age_band = models.CharField(max_length=20, blank=True, choices=identity.AgeBand.choices)
    financial_difficulty = models.CharField(
        max_length=20, blank=True, choices=identity.FinancialDifficulty.choices
    )
    communities = models.CharField(max_length=300, blank=True, help_text=",code,code, (derived)")

    class Meta:
        verbose_name = _("self-identification")
        verbose_name_plural = _("self-identifications")


class ModerationAction(models.Model):
    """One line of the moderation log: who did what to which voice, when and why."""

    class Action(models.TextChoices):
        CLAIM = "claim", _("Claimed")
        RELEASE = "release", _("Released")
        APPROVE = "approve", _("Approved")
        REDACT = "redact", _("Redacted and approved")
        RETURN = "return", _("Returned for edits")
        REJECT = "reject", _("Rejected")
        TAKE_DOWN = "take_down", _("Taken down after approval")
        RESUBMIT = "resubmit", _("Edited by the contributor")
        WITHDRAW = "withdraw", _("Withdrawn by the contributor")

    voice = models.ForeignKey(Voice, on_delete=models.CASCADE, related_name="actions")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    reason = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("moderation action")
        verbose_name_plural = _("moderation actions")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.voice_id}"
