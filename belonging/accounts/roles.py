"""Roles are groups with a fixed set of permissions, kept in sync after every migration."""

from __future__ import annotations

from typing import Any

ORGANIZERS = "Organizers"
MODERATORS = "Moderators"

# codename lists per role; organizers edit campaign content, pledges, prompts and reason codes, review
# signatures, moderate and export the moderation log; moderators moderate voices.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    ORGANIZERS: [
        ("core", "view_campaign"),
        ("core", "change_campaign"),
        ("core", "view_campaignsection"),
        ("core", "change_campaignsection"),
        ("core", "add_sectionitem"),
        ("core", "change_sectionitem"),
        ("core", "delete_sectionitem"),
        ("core", "view_sectionitem"),
        ("core", "view_place"),
        ("core", "add_place"),
        ("core", "change_place"),
        ("pledges", "view_pledge"),
        ("pledges", "add_pledge"),
        ("pledges", "change_pledge"),
        ("pledges", "view_signature"),
        ("pledges", "export_signatures"),
        ("pledges", "invalidate_signatures"),
        ("pledges", "view_invalidation"),
        ("voices", "view_prompt"),
        ("voices", "add_prompt"),
        ("voices", "change_prompt"),
        ("voices", "view_reasoncode"),
        ("voices", "add_reasoncode"),
        ("voices", "change_reasoncode"),
        ("voices", "moderate_voice"),
        ("voices", "export_moderation_log"),
        ("voices", "view_moderationaction"),
        ("themes", "run_synthesis"),
        ("themes", "curate_themes"),
        ("measure", "manage_survey"),
    ],
    MODERATORS: [
        ("voices", "moderate_voice"),
        ("voices", "view_moderationaction"),
    ],
}


def sync_roles() -> None:
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [
            p
            for p in Permission.objects.filter(content_type__app_label__in={a for a, _ in perms})
            if (p.content_type.app_label, p.codename) in set(perms)
        ]
        group.permissions.set(wanted)


def sync_roles_after_migrate(**kwargs: Any) -> None:
    sync_roles()
