"""Staff sign-in: one page for moderators, organizers and the admin, with a per-IP limit."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="mod", email="mod@example.org", password="a long passphrase 123", is_staff=True
    )


def test_signing_in_leads_a_moderator_to_the_page_they_asked_for(client, staff):
    response = client.post(
        "/fr/accounts/login/?next=/fr/voices/",
        {"username": "mod", "password": "a long passphrase 123", "next": "/fr/voices/"},
    )
    assert response.status_code == 302 and response["Location"] == "/fr/voices/"
    assert client.get("/fr/voices/").wsgi_request.user == staff


def test_a_wrong_password_is_refused_in_the_visitors_language(client, staff):
    response = client.post("/fr/accounts/login/", {"username": "mod", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Il y a un problème" in html
    assert "mot de passe" in html  # Django's own French message for a failed sign-in
    assert "_auth_user_id" not in client.session


def test_too_many_attempts_are_refused_without_checking_the_password(client, staff, settings):
    settings.LOGIN_RATE_PER_IP = "3/h"
    for _ in range(3):
        client.post("/en/accounts/login/", {"username": "mod", "password": "wrong"})
    response = client.post("/en/accounts/login/", {"username": "mod", "password": "a long passphrase 123"})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_signs_in_through_the_same_rate_limited_page(client):
    response = client.get("/en/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/en/admin/login/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "accounts/login.html" in [t.name for t in page.templates]
