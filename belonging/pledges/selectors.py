"""Reads: "by the numbers" (aggregated in one query, cached a few seconds) and the public list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.utils import timezone

from belonging.core.models import Campaign
from belonging.core.provinces import PROVINCE_CODES
from belonging.pledges.models import Pledge, Sector, SignerType, Signature


@dataclass(frozen=True)
class Numbers:
    signatories: int
    by_province: dict[str, int]
    by_type: dict[str, int]
    by_sector: dict[str, int]
    updated_at: datetime
    provinces_total: int = field(default=len(PROVINCE_CODES))

    @property
    def provinces_territories(self) -> int:
        return sum(1 for n in self.by_province.values() if n > 0)


def numbers_compute(pledge: Pledge) -> Numbers:
    """Aggregate the confirmed signatures of ``pledge`` (one GROUP BY query, no counter rows)."""
    by_province = dict.fromkeys(PROVINCE_CODES, 0)
    by_type = dict.fromkeys(SignerType.values, 0)
    by_sector = dict.fromkeys(Sector.values, 0)
    rows = (
        Signature.objects.filter(pledge=pledge, status=Signature.Status.CONFIRMED)
        .values_list("province", "signer_type", "sector")
        .annotate(n=Count("id"))
        .order_by()
    )
    total = 0
    for province, signer_type, sector, n in rows:
        total += n
        by_province[province] += n
        by_type[signer_type] += n
        if sector:
            by_sector[sector] += n
    return Numbers(
        signatories=total, by_province=by_province, by_type=by_type, by_sector=by_sector, updated_at=timezone.now()
    )


def numbers_for_pledge(pledge: Pledge) -> Numbers:
    """The numbers, at most NUMBERS_CACHE_SECONDS old (the staleness budget)."""
    ttl = settings.NUMBERS_CACHE_SECONDS
    if ttl <= 0:
        return numbers_compute(pledge)
    key = f"pledges:numbers:{pledge.pk}"
    numbers = cache.get(key)
    if numbers is None:
        numbers = numbers_compute(pledge)
        cache.set(key, numbers, ttl)
    return numbers


def pledges_open_for_campaign(campaign: Campaign) -> list[Pledge]:
    return list(Pledge.objects.filter(campaign=campaign, is_open=True).order_by("created_at", "id"))


def pledges_public() -> QuerySet[Pledge]:
    return Pledge.objects.select_related("campaign").order_by("-is_open", "created_at", "id")


def signatures_public_list(pledge: Pledge) -> QuerySet[Signature]:
    """Confirmed signatures whose owners agreed to show their name, newest first."""
    return (
        Signature.objects.filter(pledge=pledge, status=Signature.Status.CONFIRMED, show_name=True)
        .only("name", "organization_name", "signer_type", "province", "confirmed_at")
        .order_by("-confirmed_at", "-id")
    )
