"""Pledge pages over HTTP, for anonymous visitors and signers (organizer tools: test_admin.py)."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils.html import escape

from belonging.core.forms import started_token
from belonging.pledges.models import Signature
from belonging.core.tokens import link_token
from tests.factories import SignatureFactory

pytestmark = pytest.mark.django_db

DETAIL = "/en/pledges/strategy-for-belonging/"


def form_data(**overrides):
    values = {
        "name": "Sam Okafor",
        "email": "sam@example.org",
        "province": "ON",
        "postal_code": "",
        "signer_type": "individual",
        "started": started_token(),
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_it_shows_the_pledge_and_its_form(client, pledge, lang):
    response = client.get(f"/{lang}/pledges/strategy-for-belonging/")
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(pledge.title_en if lang == "en" else pledge.title_fr) in html
    for name in ("name", "email", "province", "postal_code", "signer_type", "show_name", "follow_up", "started"):
        assert f'name="{name}"' in html
    # Consents are unticked.
    assert not re.search(r'name="show_name"[^>]*checked', html)
    assert not re.search(r'name="follow_up"[^>]*checked', html)


def test_it_refuses_other_methods(client, pledge):
    assert client.put(DETAIL).status_code == 405
    assert client.delete(DETAIL).status_code == 405
    assert client.post("/en/pledges/strategy-for-belonging/numbers/").status_code == 405


def test_unknown_pledge_is_404(client, db):
    assert client.get("/en/pledges/nope/").status_code == 404


def test_invalid_fields_get_clear_errors_and_keep_what_was_typed(client, pledge):
    response = client.post(DETAIL, form_data(email="not-an-email", province="", postal_code="K1A 0B1", name="Ana Lima"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "There is a problem" in html
    assert 'value="Ana Lima"' in html and 'value="not-an-email"' in html and 'value="K1A 0B1"' in html
    assert 'aria-invalid="true"' in html
    assert Signature.objects.count() == 0


def test_errors_are_in_french_on_french_pages(client, pledge):
    response = client.post("/fr/pledges/strategy-for-belonging/", form_data(email="", province="ON"))
    assert response.status_code == 400
    assert "Ce champ est obligatoire." in response.content.decode()


@pytest.mark.parametrize(
    ("postal_code", "province", "message"),
    [
        ("12345", "ON", "Please enter a Canadian postal code"),
        ("H2X 1Y4", "ON", "This postal code is not in the province or territory you chose."),
        ("X0A 0H0", "NT", "This postal code is not in the province or territory you chose."),
    ],
)
def test_postal_code_must_be_valid_and_agree_with_the_province(client, pledge, postal_code, province, message):
    response = client.post(DETAIL, form_data(postal_code=postal_code, province=province))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Signature.objects.count() == 0


def test_associations_and_organizations_name_themselves_and_their_sector(client, pledge):
    response = client.post(DETAIL, form_data(signer_type="organization"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Please enter the name of the association or organization you sign for." in html
    assert "Please choose the sector it belongs to." in html
    response = client.post(
        DETAIL, form_data(signer_type="association", organization_name="Club de lecture", sector="community")
    )
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert (signature.signer_type, signature.organization_name, signature.sector) == (
        "association",
        "Club de lecture",
        "community",
    )


def test_individuals_do_not_keep_organization_fields(client, pledge):
    client.post(DETAIL, form_data(organization_name="Ignored", sector="business"))
    signature = Signature.objects.get()
    assert (signature.organization_name, signature.sector) == ("", "")


def test_the_language_of_the_page_is_the_signers_language(client, pledge):
    client.post("/fr/pledges/strategy-for-belonging/", form_data())
    assert Signature.objects.get().language == "fr"


def test_honeypot_refuses_with_a_message_and_keeps_the_data(client, pledge):
    response = client.post(DETAIL, form_data(website="http://spam.example"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "looked automated" in html
    assert 'value="Sam Okafor"' in html
    assert Signature.objects.count() == 0


def test_a_form_sent_too_fast_is_refused_then_accepted(client, pledge, settings):
    settings.PLEDGE_MIN_FILL_SECONDS = 3
    data = form_data()
    response = client.post(DETAIL, data)
    assert response.status_code == 400
    assert "faster than a person usually types" in response.content.decode()
    assert Signature.objects.count() == 0
    with mock.patch("belonging.core.forms.time.time", return_value=time.time() + 4):
        response = client.post(DETAIL, data)
    assert response.status_code == 302
    assert Signature.objects.count() == 1


def test_a_missing_or_forged_timestamp_gets_a_fresh_one(client, pledge):
    response = client.post(DETAIL, form_data(started="forged"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "open for too long" in html
    fresh = re.search(r'name="started" value="([^"]+)"', html).group(1)
    assert fresh != "forged"
    assert client.post(DETAIL, form_data(started=fresh)).status_code == 302


def test_rate_limit_per_ip_refuses_with_a_message_and_keeps_the_data(client, pledge, settings):
    settings.PLEDGE_RATE_PER_IP = "2/h"
    for i in range(2):
        assert client.post(DETAIL, form_data(email=f"p{i}@example.org")).status_code == 302
    response = client.post(DETAIL, form_data(email="p3@example.org", name="Third Person"))
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many signatures have come from your connection" in html
    assert 'value="Third Person"' in html
    assert Signature.objects.count() == 2
    # Another connection is not affected.
    assert client.post(DETAIL, form_data(email="p4@example.org"), REMOTE_ADDR="10.9.8.7").status_code == 302


def test_rate_limit_per_email_domain_spares_big_webmail(client, pledge, settings):
    settings.PLEDGE_RATE_PER_DOMAIN = "2/h"
    for i in range(2):
        assert client.post(DETAIL, form_data(email=f"d{i}@spam.example"), REMOTE_ADDR=f"10.0.0.{i}").status_code == 302
    response = client.post(DETAIL, form_data(email="d3@spam.example"), REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert "spam.example" in response.content.decode()
    for i in range(3):
        assert client.post(DETAIL, form_data(email=f"g{i}@gmail.com"), REMOTE_ADDR=f"10.1.0.{i}").status_code == 302


def test_a_double_submit_sends_one_email(client, pledge, run_tasks):
    data = form_data()
    assert client.post(DETAIL, data).status_code == 302
    assert client.post(DETAIL, data).status_code == 302
    run_tasks()
    assert len(mail.outbox) == 1
    assert Signature.objects.count() == 1
    # The same form sent again with another person's email is a new signature, not a repeat.
    assert client.post(DETAIL, {**data, "email": "someone.else@example.org"}).status_code == 302
    assert Signature.objects.count() == 2


def test_a_closed_pledge_shows_no_form_and_records_nothing(client, pledge):
    pledge.is_open = False
    pledge.save()
    response = client.post(DETAIL, form_data())
    assert response.status_code == 200
    assert "This pledge is closed" in response.content.decode()
    assert Signature.objects.count() == 0


def test_the_code_page_prefills_the_email_and_confirms_by_post(client, pledge, run_tasks):
    client.post(DETAIL, form_data())
    run_tasks()
    page = client.get(reverse("pledges:confirm_code", args=[pledge.slug])).content.decode()
    assert 'value="sam@example.org"' in page
    code = re.search(r"^\s+(\d{6})\s*$", mail.outbox[0].body, re.M).group(1)
    wrong = "000000" if code != "000000" else "111111"
    response = client.post(reverse("pledges:confirm_code", args=[pledge.slug]), {"email": "sam@example.org", "code": wrong})
    assert response.status_code == 400
    assert "That code does not match" in response.content.decode()
    response = client.post(reverse("pledges:confirm_code", args=[pledge.slug]), {"email": "sam@example.org", "code": "12"})
    assert "The code is the 6 digits" in response.content.decode()
    response = client.post(
        reverse("pledges:confirm_code", args=[pledge.slug]), {"email": "SAM@example.org", "code": f" {code} "}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pledges:thanks", args=[pledge.slug])
    assert Signature.objects.get().status == "confirmed"


def test_confirm_link_needs_a_valid_token_and_a_post(client, pledge):
    signature = SignatureFactory(pledge=pledge)
    url = reverse("pledges:confirm_link", args=[signature.public_id, link_token(signature.public_id)])
    forged = reverse("pledges:confirm_link", args=[signature.public_id, "x" * 20])
    assert client.get(forged).status_code == 404
    assert client.post(forged).status_code == 404
    response = client.get(url)
    assert response.status_code == 200
    assert "Confirm my signature" in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == "pending"  # a GET (a mail scanner) never confirms
    assert client.post(url).status_code == 302
    signature.refresh_from_db()
    assert signature.status == "confirmed"
    # A second POST is harmless.
    assert client.post(url).status_code == 302


def test_withdraw_page_asks_then_erases(client, pledge):
    signature = SignatureFactory(pledge=pledge, confirmed=True, show_name=True, name="Visible Person")
    url = reverse("pledges:withdraw", args=[signature.public_id, link_token(signature.public_id)])
    assert "Withdraw my signature" in client.get(url).content.decode()
    signature.refresh_from_db()
    assert signature.status == "confirmed"
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert "Your signature is withdrawn" in response.content.decode()
    assert "Visible Person" not in response.content.decode()
    signature.refresh_from_db()
    assert signature.status == "withdrawn" and signature.name == ""
    assert "already withdrawn" in client.get(url).content.decode()


def test_an_invalidated_signature_cannot_be_withdrawn_by_its_link(client, pledge, organizer):
    from belonging.pledges.services import signatures_invalidate

    signature = SignatureFactory(pledge=pledge, confirmed=True, name="Bot Name")
    signatures_invalidate(pledge=pledge, signature_ids=[signature.pk], actor=organizer, reason="bots")
    url = reverse("pledges:withdraw", args=[signature.public_id, link_token(signature.public_id)])
    assert "review for fraud" in client.get(url).content.decode()
    client.post(url)
    signature.refresh_from_db()
    assert (signature.status, signature.name) == ("invalidated", "Bot Name")


def test_numbers_page_lists_only_consenting_names_newest_first(client, pledge, django_assert_max_num_queries):
    SignatureFactory(pledge=pledge, confirmed=True, show_name=True, name="Older Person")
    SignatureFactory(pledge=pledge, confirmed=True, show_name=True, name="Newer Person", province="NU")
    SignatureFactory(pledge=pledge, confirmed=True, show_name=False, name="Private Person")
    SignatureFactory(pledge=pledge, show_name=True, name="Pending Person")
    SignatureFactory(
        pledge=pledge, confirmed=True, show_name=True, name="Org Rep", signer_type="organization",
        organization_name="Maison des jeunes", sector="community",
    )
    with django_assert_max_num_queries(6):
        response = client.get("/en/pledges/strategy-for-belonging/numbers/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Private Person" not in html and "Pending Person" not in html
    assert html.index("Org Rep") < html.index("Newer Person") < html.index("Older Person")
    assert "Maison des jeunes" in html
    assert "<svg" in html and html.count("<path") == 13
    assert "Nunavut: 1" in html  # each region's title carries its count
    assert re.fullmatch(r"public, max-age=[34]", response["Cache-Control"])


def test_numbers_page_paginates(client, pledge, settings):
    settings.PUBLIC_LIST_PAGE_SIZE = 2
    for i in range(5):
        SignatureFactory(pledge=pledge, confirmed=True, show_name=True, name=f"Person {i}")
    page3 = client.get("/en/pledges/strategy-for-belonging/numbers/?page=3").content.decode()
    assert "Page 3 of 3" in page3 and "Person 0" in page3 and "Person 4" not in page3
    assert client.get("/en/pledges/strategy-for-belonging/numbers/?page=99").status_code == 200


def test_widget_can_be_embedded_and_other_pages_cannot(client, pledge):
    SignatureFactory.create_batch(3, pledge=pledge, confirmed=True)
    widget = client.get("/fr/pledges/strategy-for-belonging/widget/")
    assert widget.status_code == 200
    assert "X-Frame-Options" not in widget
    assert "frame-ancestors *" in widget["Content-Security-Policy"]
    assert 'data-field="signatories">3<' in widget.content.decode()
    page = client.get(DETAIL)
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'self'" in page["Content-Security-Policy"]


def test_every_page_links_to_the_same_page_in_the_other_language(client, pledge):
    html = client.get("/en/pledges/strategy-for-belonging/numbers/").content.decode()
    assert 'href="/fr/pledges/strategy-for-belonging/numbers/"' in html
    html = client.get("/fr/pledges/strategy-for-belonging/numbers/?page=2").content.decode()
    assert 'href="/en/pledges/strategy-for-belonging/numbers/?page=2"' in html


def test_home_page_has_the_campaign_sections_and_the_call_to_action(client, pledge):
    SignatureFactory.create_batch(2, pledge=pledge, confirmed=True, province="PE")
    for lang, heading in (("en", "What belonging is"), ("fr", "Ce qu’est l’appartenance")):
        html = client.get(f"/{lang}/").content.decode()
        assert escape(heading) in html
        assert f'href="/{lang}/pledges/strategy-for-belonging/"' in html
    html = client.get("/en/").content.decode()
    for heading in ("The idea", "The plan’s four features", "The opportunity", "Join us"):
        assert escape(heading) in html
    assert re.search(r"<strong>2</strong>\s*signatories", html)
    assert 'href="/en/voices/share/"' in html  # the campaign's ask: share a voice


def test_thanks_page_offers_the_link_to_share(client, pledge):
    html = client.get("/en/pledges/strategy-for-belonging/thanks/").content.decode()
    assert 'value="http://testserver/en/pledges/strategy-for-belonging/"' in html


def test_the_view_signs_through_the_service_normalization(client, pledge):
    client.post(DETAIL, form_data(email="Jo.Ann+x@gmail.com"))
    assert Signature.objects.get().email_normalized == "joann@gmail.com"


def test_an_address_that_cannot_be_normalized_gets_a_clear_error_not_a_crash(client, pledge):
    response = client.post(DETAIL, form_data(email="+tag@example.com"))
    assert response.status_code == 400
    assert "valid email address" in response.content.decode()
    assert Signature.objects.count() == 0
