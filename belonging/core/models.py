"""Campaigns and places (the frame every capability hangs on), and consent records."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from belonging.core.i18n import localized
from belonging.core.provinces import Province


class Campaign(models.Model):
    slug = models.SlugField(_("slug"), unique=True)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_fr = models.CharField(_("title (French)"), max_length=200)
    tagline_en = models.CharField(_("tagline (English)"), max_length=300, blank=True)
    tagline_fr = models.CharField(_("tagline (French)"), max_length=300, blank=True)
    is_featured = models.BooleanField(
        _("featured on the home page"), default=False, help_text=_("Only one campaign can be featured.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.UniqueConstraint(
                fields=["is_featured"], condition=models.Q(is_featured=True), name="one_featured_campaign"
            )
        ]

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def tagline(self) -> str:
        return localized(self, "tagline")


class CampaignSection(models.Model):
    """One section of a campaign's home page, edited by organizers in both languages."""

    class Kind(models.TextChoices):
        IDEA = "idea", _("The idea")
        FEATURES = "features", _("The plan's features")
        BELONGING = "belonging", _("What belonging is")
        OPPORTUNITY = "opportunity", _("The opportunity")
        ASK = "ask", _("The ask")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sections")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    heading_en = models.CharField(_("heading (English)"), max_length=200)
    heading_fr = models.CharField(_("heading (French)"), max_length=200)
    body_en = models.TextField(_("text (English)"), blank=True, help_text=_("Blank lines separate paragraphs."))
    body_fr = models.TextField(_("text (French)"), blank=True, help_text=_("Blank lines separate paragraphs."))

    class Meta:
        verbose_name = _("campaign section")
        verbose_name_plural = _("campaign sections")
        ordering = ["campaign", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "kind"], name="one_section_of_each_kind")]

    def __str__(self) -> str:
        return self.heading_en

    @property
    def heading(self) -> str:
        return localized(self, "heading")

    @property
    def body(self) -> str:
        return localized(self, "body")


class SectionItem(models.Model):
    """A listed item inside a section (for example each of the plan's four features)."""

    section = models.ForeignKey(CampaignSection, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_fr = models.CharField(_("title (French)"), max_length=200)
    body_en = models.TextField(_("text (English)"), blank=True)
    body_fr = models.TextField(_("text (French)"), blank=True)

    class Meta:
        verbose_name = _("section item")
        verbose_name_plural = _("section items")
        ordering = ["section", "order", "id"]

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def body(self) -> str:
        return localized(self, "body")


class Place(models.Model):
    """A community, from a neighbourhood to a province, that scopes work within a campaign."""

    class Kind(models.TextChoices):
        NEIGHBOURHOOD = "neighbourhood", _("Neighbourhood")
        MUNICIPALITY = "municipality", _("Municipality")
        REGION = "region", _("Region")
        PROVINCE = "province", _("Province or territory")
        FIRST_NATION = "first_nation", _("First Nation, Inuit or Métis community")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="places")
    slug = models.SlugField(_("slug"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_fr = models.CharField(_("name (French)"), max_length=200)
    province = models.CharField(_("province or territory"), max_length=2, choices=Province.choices)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")

    class Meta:
        verbose_name = _("place")
        verbose_name_plural = _("places")
        constraints = [models.UniqueConstraint(fields=["campaign", "slug"], name="unique_place_slug_per_campaign")]

    def __str__(self) -> str:
        return self.name_en

    @property
    def name(self) -> str:
        return localized(self, "name")


class ConsentRecord(models.Model):
    """Proof of one consent for one purpose: wording version, language and time (Law 25, PIPEDA)."""

    class Purpose(models.TextChoices):
        PUBLIC_NAME = "public_name", _("Show my name publicly")
        FOLLOW_UP = "follow_up", _("Receive follow-up emails")
        PUBLISH_VOICE = "publish_voice", _("Publish my voice")
        ANALYSIS = "analysis", _("Use my voice in analysis")
        SELF_ID_STATS = "self_id_stats", _("Use my self-identification for statistics")

    subject = models.CharField(_("subject"), max_length=80, db_index=True, help_text="app.model:pk")
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    given = models.BooleanField(_("given"))
    wording_version = models.CharField(_("wording version"), max_length=40)
    language = models.CharField(_("language"), max_length=2)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["subject", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.subject} {self.purpose}={self.given}"
