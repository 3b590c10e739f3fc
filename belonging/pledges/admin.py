"""Organizers' tools: search and filter signatures, export consented fields, invalidate fraud."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from belonging.core.exports import csv_response
from belonging.pledges import services
from belonging.pledges.forms import InvalidateForm
from belonging.pledges.models import Invalidation, Pledge, Signature

EXPORT_COLUMNS = [
    "signature_id",
    "pledge",
    "confirmed_at",
    "province",
    "postal_code_fsa",
    "signer_type",
    "organization_name",
    "sector",
    "language",
    "name",
    "email",
]


def export_rows(queryset: QuerySet[Signature]) -> list[list[str]]:
    """Confirmed signatures with only the fields their owners consented to share."""
    rows = []
    for s in queryset.filter(status=Signature.Status.CONFIRMED).select_related("pledge").order_by("confirmed_at"):
        rows.append(
            [
                str(s.pk),
                s.pledge.slug,
                s.confirmed_at.isoformat() if s.confirmed_at else "",
                s.province,
                s.postal_code[:3],
                s.signer_type,
                s.organization_name if s.show_name else "",
                s.sector,
                s.language,
                s.name if s.show_name else "",
                s.email if s.follow_up else "",
            ]
        )
    return rows


@admin.register(Pledge)
class PledgeAdmin(admin.ModelAdmin):
    list_display = ("title_en", "slug", "campaign", "is_open", "created_at")
    list_filter = ("is_open", "campaign")
    search_fields = ("title_en", "title_fr", "slug")
    prepopulated_fields = {"slug": ("title_en",)}


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    list_display = ("public_name_display", "email", "pledge", "status", "province", "signer_type", "created_at")
    list_filter = ("pledge", "status", "province", "signer_type", "sector", "language", "show_name", "follow_up", "created_at")
    search_fields = ("name", "email", "email_normalized", "organization_name", "postal_code")
    date_hierarchy = "created_at"
    list_select_related = ("pledge",)
    list_per_page = 100
    show_full_result_count = False
    actions = ["export_csv", "invalidate", "erase_invalidated"]
    readonly_fields = [f.name for f in Signature._meta.fields] + ["public_id"]

    @admin.display(description=_("name"))
    def public_name_display(self, obj: Signature) -> str:
        return obj.name or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("pledges.export_signatures")

    def has_invalidate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("pledges.invalidate_signatures")

    @admin.action(description=_("Export confirmed signatures as CSV (consented fields only)"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Signature]) -> StreamingHttpResponse:
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_response(f"signatures-{stamp}.csv", EXPORT_COLUMNS, export_rows(queryset))

    @admin.action(description=_("Invalidate as fraudulent…"), permissions=["invalidate"])
    def invalidate(self, request: HttpRequest, queryset: QuerySet[Signature]) -> HttpResponse | None:
        pledges = set(queryset.values_list("pledge", flat=True))
        if len(pledges) != 1:
            self.message_user(request, _("Choose signatures of one pledge at a time."), messages.ERROR)
            return None
        form = InvalidateForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            invalidation = services.signatures_invalidate(
                pledge=Pledge.objects.get(pk=pledges.pop()),
                signature_ids=list(queryset.values_list("pk", flat=True)),
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            self.log_change(request, invalidation, f"Invalidated {invalidation.signature_count}: {invalidation.reason}")
            self.message_user(
                request,
                ngettext(
                    "%(count)d signature invalidated. It no longer counts.",
                    "%(count)d signatures invalidated. They no longer count.",
                    invalidation.signature_count,
                )
                % {"count": invalidation.signature_count},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Invalidate signatures as fraudulent"),
            "queryset": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/pledges/invalidate.html", context)


    @admin.action(
        description=_("Erase the personal data of invalidated signatures (on request)"), permissions=["invalidate"]
    )
    def erase_invalidated(self, request: HttpRequest, queryset: QuerySet[Signature]) -> None:
        erased = 0
        for pledge_id in set(queryset.values_list("pledge", flat=True)):
            erased += services.signatures_erase_invalidated(
                pledge=Pledge.objects.get(pk=pledge_id),
                signature_ids=list(queryset.filter(pledge_id=pledge_id).values_list("pk", flat=True)),
            )
        self.message_user(
            request,
            ngettext(
                "Personal data erased from %(count)d invalidated signature. It stays in the fraud log.",
                "Personal data erased from %(count)d invalidated signatures. They stay in the fraud log.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )


@admin.register(Invalidation)
class InvalidationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "pledge", "actor", "signature_count", "reason")
    list_filter = ("pledge",)
    readonly_fields = ("pledge", "actor", "reason", "signature_count", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
