"""Organizers maintain prompts and reason codes here; moderation itself has its own pages."""

from __future__ import annotations

from django.contrib import admin

from belonging.voices.models import ModerationAction, Prompt, ReasonCode


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["text_en", "campaign", "position", "is_open"]
    list_filter = ["campaign", "is_open"]
    list_editable = ["position", "is_open"]
    prepopulated_fields = {"slug": ["text_en"]}


@admin.register(ReasonCode)
class ReasonCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "label_en", "label_fr", "position", "is_active"]
    list_editable = ["position", "is_active"]


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The log is append-only: visible here, never edited."""

    list_display = ["at", "action", "voice", "moderator", "reason"]
    list_filter = ["action", "reason"]
    date_hierarchy = "at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
