"""People with accounts: organizers are staff in the Organizers group; superusers add them."""

from __future__ import annotations

import pytest

from belonging.accounts.roles import ORGANIZERS

pytestmark = pytest.mark.django_db


def test_adding_users_in_the_admin_asks_for_their_unique_email(admin_client, django_user_model):
    for i in range(2):
        response = admin_client.post(
            "/en/admin/accounts/user/add/",
            {"username": f"organizer{i}", "email": f"organizer{i}@example.org",
             "password1": "a long passphrase 123", "password2": "a long passphrase 123",
             "usable_password": "true"},
        )
        assert response.status_code == 302, response.content.decode()[:3000]
    assert set(django_user_model.objects.filter(username__startswith="organizer").values_list("email", flat=True)) == {
        "organizer0@example.org", "organizer1@example.org"}


def test_the_organizer_role_is_the_group(organizer, outsider, django_user_model):
    assert organizer.groups.filter(name=ORGANIZERS).exists()
    assert organizer.has_perm("pledges.export_signatures") and organizer.has_perm("pledges.invalidate_signatures")
    assert not outsider.has_perm("pledges.view_signature")
