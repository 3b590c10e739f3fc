"""The belonging survey: waves, invitations, responses (anonymous), imports, population margins for
raking, and the published estimates.

Nothing identifying is stored with the answers: a response has no user, email, IP address or time
of day (dates only), and no link to the invitation code that opened it. A respondent resumes with a
random token that is kept in their session and shown to them as a resume code; only its hash is
stored. The estimation itself is ``belonging.lib.survey`` (no Django).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from belonging.core.i18n import localized
from belonging.core.models import Campaign, Place
from belonging.measure import instrument


class Wave(models.Model):
    """One round of the survey in a campaign (optionally in one place), with its dates and sample.

    Estimates are always per wave, so an open web sample and an invited random sample are never
    pooled; change is only computed between waves of the same sample type and place.
    """

    class Kind(models.TextChoices):
        BASELINE = "baseline", _("Baseline")
        FOLLOW_UP = "follow_up", _("Follow-up")

    class Sample(models.TextChoices):
        OPEN = "open", _("Open web sample (anyone with the link)")
        INVITED = "invited", _("Invited random sample (single-use invitation codes)")

    class Centre(models.TextChoices):
        REPLICATE_MEAN = "replicate_mean", _("Around the mean of the replicate estimates")
        FULL_SAMPLE = "full_sample", _("Around the full-sample estimate (mean squared error)")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="survey_waves")
    place = models.ForeignKey(
        Place, on_delete=models.PROTECT, null=True, blank=True, related_name="survey_waves", verbose_name=_("place")
    )
    slug = models.SlugField(_("short name in links"))
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_fr = models.CharField(_("title (French)"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BASELINE)
    sample = models.CharField(_("sample"), max_length=10, choices=Sample.choices, default=Sample.OPEN)
    questionnaire = models.CharField(
        _("questionnaire version"), max_length=20, choices=instrument.VERSION_CHOICES, default=instrument.CURRENT.version
    )
    opens_at = models.DateTimeField(_("opens"))
    closes_at = models.DateTimeField(_("closes"))
    replicate_centre = models.CharField(
        _("bootstrap variance centred"),
        max_length=20,
        choices=Centre.choices,
        default=Centre.REPLICATE_MEAN,
        help_text=_("Only used when the wave has bootstrap replicate weights (imported)."),
    )
    is_published = models.BooleanField(_("results published"), default=False)
    # The last computation of the estimates: when, and how raking went (see services.compute_estimates).
    computed_at = models.DateTimeField(null=True, blank=True)
    computation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("survey wave")
        verbose_name_plural = _("survey waves")
        ordering = ["campaign", "opens_at", "pk"]
        permissions = [("manage_survey", "Can manage survey waves, imports, weights and results")]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "slug"], name="unique_wave_slug_per_campaign"),
            models.CheckConstraint(condition=Q(closes_at__gt=F("opens_at")), name="wave_closes_after_it_opens"),
        ]

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def questions(self) -> instrument.Questionnaire:
        return instrument.QUESTIONNAIRES[self.questionnaire]


class Invitation(models.Model):
    """A single-use code for an invited random sample. Only the code's keyed hash is kept (HMAC-SHA256
    with the site's secret, see ``services.invitation_hash``); the code is shown once, when generated.
    Using it starts one response, which keeps no link to it, and only sets ``used``: no date or time
    is recorded, so a used code cannot be matched to a response by when it was used. ``created_at``
    is the same for every code made together (it says when the batch was made, nothing about use)."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="invitations")
    code_hash = models.CharField(max_length=64, unique=True)
    used = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")


class ImportBatch(models.Model):
    """One CSV imported into a wave (from another survey tool or public microdata), all or nothing."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="imports")
    filename = models.CharField(_("file"), max_length=255)
    rows = models.PositiveIntegerField(_("rows"))
    replicates = models.PositiveIntegerField(_("bootstrap replicate weights"), default=0)
    mapping = models.JSONField(_("columns mapped to items"), default=dict)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")


class Response(models.Model):
    """One person's answers to one wave: anonymous, resumable until submitted."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")

    class Source(models.TextChoices):
        COLLECTED = "collected", _("Answered here")
        IMPORTED = "imported", _("Imported")

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="responses")
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)  # None for imported rows
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.COLLECTED)
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, null=True, blank=True, related_name="responses")
    language = models.CharField(max_length=5, blank=True)
    page = models.PositiveSmallIntegerField(default=0)  # the next page to show
    answers = models.JSONField(default=dict, blank=True)  # {item id: code or [codes]}
    # Derived at submission, for domain estimates without reading every answer.
    province = models.CharField(max_length=2, blank=True)
    communities = models.CharField(max_length=300, blank=True, help_text=",code,code, (derived)")
    weight = models.FloatField(default=1.0)  # the final (survey) weight
    replicate_weights = models.BinaryField(null=True, blank=True)  # little-endian float64, imported only
    started_on = models.DateField()
    submitted_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        indexes = [models.Index(fields=["wave", "status"], name="response_wave_status")]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="response_weight_positive"),
            models.CheckConstraint(
                condition=(Q(status="submitted") & Q(submitted_on__isnull=False))
                | (Q(status="in_progress") & Q(submitted_on__isnull=True)),
                name="response_submitted_has_date",
            ),
            models.CheckConstraint(
                condition=Q(source="imported", batch__isnull=False, token_hash__isnull=True)
                | Q(source="collected", batch__isnull=True, token_hash__isnull=False),
                name="response_source_consistent",
            ),
        ]


class Margin(models.Model):
    """A population total for one category of one variable (e.g. Ontario, from the census), to rake
    a wave's weights to. Every category of a variable must be given for raking to run."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="margins")
    variable = models.CharField(
        _("variable"), max_length=30, choices=[(k, v.text) for k, v in instrument.RAKING_VARIABLES.items()]
    )
    category = models.CharField(_("category"), max_length=30)
    population = models.FloatField(_("population"))

    class Meta:
        verbose_name = _("population margin")
        verbose_name_plural = _("population margins")
        constraints = [
            models.UniqueConstraint(fields=["wave", "variable", "category"], name="unique_margin_category"),
            models.CheckConstraint(condition=Q(population__gt=0), name="margin_population_positive"),
        ]


class Estimate(models.Model):
    """One published estimate: an indicator in a domain of a wave, with its uncertainty and the
    release flag ("" released, "E" use with caution, "F" too unreliable to be published)."""

    class Flag(models.TextChoices):
        RELEASED = "", _("Released")
        CAUTION = "E", _("Use with caution")
        SUPPRESSED = "F", _("Too unreliable to be published")

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="estimates")
    indicator = models.CharField(max_length=40)
    domain = models.CharField(max_length=80)  # "all", "province:ON", "community:women", ...
    estimate = models.FloatField()
    se = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    cv = models.FloatField(null=True)
    n = models.PositiveIntegerField()
    weighted_n = models.FloatField()
    flag = models.CharField(max_length=1, blank=True, choices=Flag.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wave", "indicator", "domain"], name="one_estimate_per_cell"),
            models.CheckConstraint(condition=Q(flag__in=["", "E", "F"]), name="estimate_flag_known"),
        ]
