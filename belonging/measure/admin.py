"""Waves are visible here, read-only, with their counts of responses and of invitation codes used and
not used: changes go through the organizers' pages (and their services, which keep the waves' rules).

Responses are deliberately not registered: answers are only ever shown in aggregate, never one
person's at a time. Invitations are not registered either: a row per code (whether it was used, in
the order the codes were made) is not needed to run a survey, and only the counts are shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from belonging.measure import services
from belonging.measure.models import Wave


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Wave)
class WaveAdmin(ReadOnlyAdmin):
    list_display = (
        "title_en", "campaign", "place", "kind", "sample", "opens_at", "closes_at", "in_progress", "submitted",
        "imported", "invitations_used", "invitations_unused", "is_published",
    )  # fmt: skip
    list_filter = ("campaign", "kind", "sample", "is_published")
    exclude = ("computation",)

    def get_queryset(self, request: Any) -> Any:
        return services.waves_with_counts()

    @admin.display(description=_("in progress"), ordering="in_progress")
    def in_progress(self, obj: Wave) -> int:
        return obj.in_progress  # type: ignore[attr-defined]

    @admin.display(description=_("submitted"), ordering="submitted")
    def submitted(self, obj: Wave) -> int:
        return obj.submitted  # type: ignore[attr-defined]

    @admin.display(description=_("imported"), ordering="imported")
    def imported(self, obj: Wave) -> int:
        return obj.imported  # type: ignore[attr-defined]

    @admin.display(description=_("invitations used"), ordering="invitations_used")
    def invitations_used(self, obj: Wave) -> int:
        return obj.invitations_used  # type: ignore[attr-defined]

    @admin.display(description=_("invitations not used"), ordering="invitations_unused")
    def invitations_unused(self, obj: Wave) -> int:
        return obj.invitations_unused  # type: ignore[attr-defined]
