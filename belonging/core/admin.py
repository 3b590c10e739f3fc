"""Organizers edit the campaign's texts in both languages here, without touching code."""

from django.contrib import admin

from belonging.core.models import Campaign, CampaignSection, ConsentRecord, Place, SectionItem


class SectionItemInline(admin.StackedInline):
    model = SectionItem
    extra = 0
    fields = ("order", ("title_en", "title_fr"), ("body_en", "body_fr"))


@admin.register(CampaignSection)
class CampaignSectionAdmin(admin.ModelAdmin):
    list_display = ("heading_en", "heading_fr", "campaign", "kind", "order")
    list_filter = ("campaign", "kind")
    list_editable = ("order",)
    fields = ("campaign", "kind", "order", ("heading_en", "heading_fr"), ("body_en", "body_fr"))
    inlines = [SectionItemInline]


class CampaignSectionInline(admin.TabularInline):
    model = CampaignSection
    extra = 0
    fields = ("kind", "order", "heading_en", "heading_fr")
    show_change_link = True


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("title_en", "title_fr", "slug", "is_featured")
    fields = ("slug", ("title_en", "title_fr"), ("tagline_en", "tagline_fr"), "is_featured")
    prepopulated_fields = {"slug": ("title_en",)}
    inlines = [CampaignSectionInline]


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ("name_en", "name_fr", "kind", "province", "campaign")
    list_filter = ("campaign", "kind", "province")
    search_fields = ("name_en", "name_fr", "slug")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ("subject", "purpose", "given", "wording_version", "language", "recorded_at")
    list_filter = ("purpose", "given", "wording_version")
    search_fields = ("subject",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
