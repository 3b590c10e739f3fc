"""Core pages: home, privacy, errors, the development outbox, security headers."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail import EmailMessage

pytestmark = pytest.mark.django_db


def test_root_redirects_to_a_language(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] in ("/en/", "/fr/")


def test_french_visitors_are_sent_to_french(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")
    assert response["Location"] == "/fr/"


@pytest.mark.parametrize("url", ["/en/", "/fr/", "/en/privacy/", "/fr/privacy/"])
def test_pages_are_served_with_a_strict_policy(client, url):
    response = client.get(url)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    html = response.content.decode()
    assert 'href="#main"' in html and 'id="main"' in html
    assert "https://" not in html.split("<body", 1)[0]  # nothing loaded from another origin


def test_404_is_a_page_in_the_visitors_language(client):
    response = client.get("/fr/nulle-part/")
    assert response.status_code == 404
    assert '<html lang="fr"' in response.content.decode()


def test_the_outbox_exists_only_in_development(client, settings):
    settings.DEV_OUTBOX = False
    assert client.get("/en/dev/outbox/").status_code == 404


def test_the_outbox_lists_and_shows_emails_written_to_files(client, settings, tmp_path):
    settings.DEV_OUTBOX = True
    settings.EMAIL_BACKEND = "belonging.core.mail.OutboxBackend"
    settings.EMAIL_OUTBOX_DIR = tmp_path
    EmailMessage("Votre code : 123456", "Bonjour,\nhttp://testserver/fr/\n", "a@example.org", ["b@example.org"]).send()
    files = list(tmp_path.glob("*.eml"))
    assert len(files) == 1
    listing = client.get("/en/dev/outbox/").content.decode()
    assert "Votre code : 123456" in listing
    message = client.get(f"/en/dev/outbox/{files[0].stem}/").content.decode()
    assert "Bonjour," in message and 'href="http://testserver/fr/"' in message
    assert client.get("/en/dev/outbox/nope/").status_code == 404
    assert client.get("/en/dev/outbox/20990101T000000000000-0000abcd/").status_code == 404
    assert client.get("/en/dev/outbox/..%2F..%2Fsettings/").status_code == 404
    assert mail.outbox == []
