from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from belonging.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Belonging", {"fields": ("language",)}))  # type: ignore[misc]
    list_display = ("username", "email", "is_staff", "is_superuser", "last_login")
