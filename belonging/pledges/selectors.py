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
    public_names: int  # confirmed signatories who agreed to show their name (the public list's length)
    updated_at: datetime  # when the query started: the figures are at least this fresh
    provinces_total: int = field(default=len(PROVINCE_CODES))

    @property
    def provinces_territories(self) -> int:
        return sum(1 for n in self.by_province.values() if n > 0)

    def age_seconds(self) -> float:
        return (timezone.now() - self.updated_at).total_seconds()

    def max_age_seconds(self) -> int:
        """How long a browser or proxy may keep a response with these figures within the budget.

        One second is kept back for delivery: a client that starts the clock on arrival stays within it.
        """
        return max(0, int(settings.NUMBERS_STALENESS_SECONDS - self.age_seconds()) - 1)


def numbers_compute(pledge: Pledge) -> Numbers:
    """Aggregate the confirmed signatures of ``pledge`` (one GROUP BY query, no counter rows)."""
    by_province = dict.fromkeys(PROVINCE_CODES, 0)
    by_type = dict.fromkeys(SignerType.values, 0)
    by_sector = dict.fromkeys(Sector.values, 0)
    started = timezone.now()
    # Served from the covering index signature_counts (no table lookups).
    rows = (
        Signature.objects.filter(pledge=pledge, status=Signature.Status.CONFIRMED)
        .values_list("province", "signer_type", "sector", "show_name")
        .annotate(n=Count("*"))
        .order_by()
    )
    total = public_names = 0
    for province, signer_type, sector, show_name, n in rows:
        total += n
        by_province[province] += n
        by_type[signer_type] += n
        if sector:
            by_sector[sector] += n
        if show_name:
            public_names += n
    return Numbers(
        signatories=total,
        by_province=by_province,
        by_type=by_type,
        by_sector=by_sector,
        public_names=public_names,
        updated_at=started,
    )


def numbers_for_pledge(pledge: Pledge) -> Numbers:
    """The numbers, at most NUMBERS_CACHE_SECONDS old when served from the cache.

    One process recomputes at a time (with a shared cache such as Redis, one in the whole site);
    the others keep serving the previous figures meanwhile, as long as those are still within the
    staleness budget. Nothing is ever counted in a row that each signature updates.
    """
    ttl = settings.NUMBERS_CACHE_SECONDS
    if ttl <= 0:
        return numbers_compute(pledge)
    fresh_key, last_key, lock_key = (f"pledges:numbers:{pledge.pk}:{k}" for k in ("fresh", "last", "lock"))
    numbers = cache.get(fresh_key)
    if numbers is not None:
        return numbers
    if not cache.add(lock_key, True, 30):
        last = cache.get(last_key)
        if last is not None and last.age_seconds() < settings.NUMBERS_STALENESS_SECONDS:
            return last  # another process is recomputing
        return numbers_compute(pledge)
    try:
        numbers = numbers_compute(pledge)
        remaining = ttl - numbers.age_seconds()
        if remaining > 0:
            cache.set(fresh_key, numbers, remaining)
        cache.set(last_key, numbers, 3600)
    finally:
        cache.delete(lock_key)
    return numbers


def pledge_main_for_campaign(campaign: Campaign) -> Pledge | None:
    """The campaign's first open pledge: the one its home page asks people to sign."""
    return Pledge.objects.filter(campaign=campaign, is_open=True).order_by("created_at", "id").first()


def pledges_public() -> QuerySet[Pledge]:
    return Pledge.objects.select_related("campaign").order_by("-is_open", "created_at", "id")


def signatures_public_list(pledge: Pledge) -> QuerySet[Signature]:
    """Confirmed signatures whose owners agreed to show their name, newest first."""
    return (
        Signature.objects.filter(pledge=pledge, status=Signature.Status.CONFIRMED, show_name=True)
        .only("name", "organization_name", "signer_type", "province", "confirmed_at")
        .order_by("-confirmed_at", "-id")
    )
