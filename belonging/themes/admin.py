"""Runs, themes and curation history are visible here; every change goes through the services (the
organizers' pages and ``manage.py synthesize``), so nothing can be edited by hand."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from belonging.themes.models import Curation, CurationAction, SynthesisRun, Theme


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ThemeInline(admin.TabularInline):
    model = Theme
    fields = ("position", "key", "size", "keyphrases", "quote_ids", "merged_from", "split_from")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(SynthesisRun)
class SynthesisRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "status", "progress", "stage", "total", "in_themes", "created_at", "published_at")
    list_filter = ("campaign", "status", "backend")
    date_hierarchy = "created_at"
    exclude = ("offsets", "raw_themes")  # long vectors
    inlines = (ThemeInline,)


@admin.register(Curation)
class CurationAdmin(ReadOnlyAdmin):
    list_display = ("key", "campaign", "name_en", "name_fr", "hidden", "merged_into", "updated_at")
    list_filter = ("campaign", "hidden")
    exclude = ("split_into",)  # part centres


@admin.register(CurationAction)
class CurationActionAdmin(ReadOnlyAdmin):
    """The history of curation: append-only."""

    list_display = ("at", "campaign", "key", "action", "actor")
    list_filter = ("campaign", "action")
    date_hierarchy = "at"
