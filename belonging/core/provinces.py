"""The 13 provinces and territories (shared/reference/CANADA.md §4), in Statistics Canada order."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Province(models.TextChoices):
    NL = "NL", _("Newfoundland and Labrador")
    PE = "PE", _("Prince Edward Island")
    NS = "NS", _("Nova Scotia")
    NB = "NB", _("New Brunswick")
    QC = "QC", _("Quebec")
    ON = "ON", _("Ontario")
    MB = "MB", _("Manitoba")
    SK = "SK", _("Saskatchewan")
    AB = "AB", _("Alberta")
    BC = "BC", _("British Columbia")
    YT = "YT", _("Yukon")
    NT = "NT", _("Northwest Territories")
    NU = "NU", _("Nunavut")


PROVINCE_CODES: tuple[str, ...] = tuple(Province.values)
