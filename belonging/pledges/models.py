"""A pledge and its signatures. Counts are always aggregated from signatures, never kept in a row."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from belonging.core.i18n import localized
from belonging.core.models import Campaign
from belonging.core.provinces import Province


class Pledge(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="pledges")
    slug = models.SlugField(_("slug"), unique=True)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_fr = models.CharField(_("title (French)"), max_length=200)
    commitment_en = models.TextField(_("commitment (English)"))
    commitment_fr = models.TextField(_("commitment (French)"))
    is_open = models.BooleanField(_("open for signatures"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pledge")
        verbose_name_plural = _("pledges")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def commitment(self) -> str:
        return localized(self, "commitment")


class SignerType(models.TextChoices):
    INDIVIDUAL = "individual", _("An individual")
    ASSOCIATION = "association", _("An association")
    ORGANIZATION = "organization", _("An organization")


class Sector(models.TextChoices):
    COMMUNITY = "community", _("Community group or grassroots association")
    NONPROFIT = "nonprofit", _("Non-profit or charity")
    INDIGENOUS = "indigenous", _("Indigenous organization or government")
    GOVERNMENT = "government", _("Government or public agency")
    EDUCATION = "education", _("Education or research")
    HEALTH = "health", _("Health or social services")
    FAITH = "faith", _("Faith community")
    BUSINESS = "business", _("Business")
    PHILANTHROPY = "philanthropy", _("Foundation or funder")
    OTHER = "other", _("Other")


class Invalidation(models.Model):
    """A batch of signatures an organizer invalidated as fraudulent: who, why, when, how many."""

    pledge = models.ForeignKey(Pledge, on_delete=models.PROTECT, related_name="invalidations")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    signature_count = models.PositiveIntegerField(_("signatures"))
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("invalidation")
        verbose_name_plural = _("invalidations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.signature_count} on {self.created_at:%Y-%m-%d} by {self.actor}"


class Signature(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        INVALIDATED = "invalidated", _("Invalidated")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    pledge = models.ForeignKey(Pledge, on_delete=models.PROTECT, related_name="signatures")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    # Personal data: erased on withdrawal (the row stays as a count-neutral tombstone).
    name = models.CharField(_("name"), max_length=150, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, null=True, blank=True, editable=False)
    postal_code = models.CharField(_("postal code"), max_length=7, blank=True)
    organization_name = models.CharField(_("organization or association"), max_length=200, blank=True)
    # Not personal on their own: kept for the counts.
    province = models.CharField(_("province or territory"), max_length=2, choices=Province.choices)
    signer_type = models.CharField(_("signing as"), max_length=12, choices=SignerType.choices)
    sector = models.CharField(_("sector"), max_length=12, choices=Sector.choices, blank=True)
    language = models.CharField(_("language"), max_length=2, choices=settings.LANGUAGES)
    show_name = models.BooleanField(_("name shown publicly"), default=False)
    follow_up = models.BooleanField(_("follow-up emails"), default=False)
    # Double opt-in: a 6-digit code (only its keyed hash is stored).
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    code_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("signed at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    invalidation = models.ForeignKey(
        Invalidation, on_delete=models.PROTECT, null=True, blank=True, related_name="signatures"
    )

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        permissions = [
            ("export_signatures", "Can export confirmed signatures as CSV"),
            ("invalidate_signatures", "Can invalidate signatures as fraudulent"),
        ]
        constraints = [
            # One signature per normalized email per pledge (NULL after erasure does not collide).
            models.UniqueConstraint(fields=["pledge", "email_normalized"], name="one_signature_per_email"),
            models.CheckConstraint(condition=Q(province__in=Province.values), name="signature_province_valid"),
            models.CheckConstraint(condition=Q(signer_type__in=SignerType.values), name="signature_type_valid"),
            models.CheckConstraint(
                condition=Q(signer_type=SignerType.INDIVIDUAL)
                | ~Q(organization_name="")
                | Q(status__in=["withdrawn", "invalidated"]),
                name="signature_organization_named",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(confirmed_at__isnull=False),
                name="signature_confirmed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="withdrawn")
                | Q(name="", email="", email_normalized__isnull=True, postal_code="", organization_name=""),
                name="signature_withdrawn_is_erased",
            ),
            models.CheckConstraint(
                condition=~Q(status="invalidated") | Q(invalidation__isnull=False),
                name="signature_invalidated_is_logged",
            ),
        ]
        indexes = [
            # Covers the "by the numbers" aggregate: it is answered from the index alone.
            models.Index(
                fields=["pledge", "status", "province", "signer_type", "sector", "show_name"], name="signature_counts"
            ),
            # The public list, newest first (a partial index: SQLite cannot use show_name in a wider one).
            models.Index(
                fields=["pledge", "-confirmed_at", "-id"],
                condition=Q(status="confirmed", show_name=True),
                name="signature_public_list",
            ),
            models.Index(fields=["status", "expires_at"], name="signature_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.name or '—'} ({self.get_status_display()})"

    @property
    def consent_subject(self) -> str:
        return f"pledges.signature:{self.pk}"

    @property
    def public_name(self) -> str:
        """What the public list shows: the organization for associations and organizations."""
        if self.signer_type == SignerType.INDIVIDUAL:
            return self.name
        return self.organization_name
