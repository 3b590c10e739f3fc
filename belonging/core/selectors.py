"""Reads for the campaign pages."""

from __future__ import annotations

from django.db.models import Prefetch

from belonging.core.models import Campaign, CampaignSection


def campaign_featured() -> Campaign | None:
    """The featured campaign with its sections and items, in one round of queries."""
    sections = CampaignSection.objects.prefetch_related("items").order_by("order", "id")
    return (
        Campaign.objects.prefetch_related(Prefetch("sections", queryset=sections))
        .filter(is_featured=True)
        .first()
    )
