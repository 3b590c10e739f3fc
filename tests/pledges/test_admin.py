"""Organizer tools in the admin: search, filters, CSV export of consented fields, fraud invalidation."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.models import LogEntry

from belonging.pledges import selectors
from belonging.pledges.models import Invalidation, Signature
from tests.factories import SignatureFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/en/admin/pledges/signature/"


def test_anonymous_visitors_are_sent_to_sign_in(client, pledge):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_without_the_organizer_role_is_refused(client, outsider, pledge):
    client.force_login(outsider)
    assert client.get(CHANGELIST).status_code == 403
    SignatureFactory(pledge=pledge, confirmed=True)
    response = client.post(CHANGELIST, {"action": "export_csv", "_selected_action": Signature.objects.values_list("pk", flat=True)})
    assert response.status_code == 403


def test_organizers_search_and_filter_signatures(client, organizer, pledge):
    SignatureFactory(pledge=pledge, confirmed=True, name="Findable Fatima", province="MB")
    SignatureFactory(pledge=pledge, confirmed=True, name="Other Oscar", province="NL")
    client.force_login(organizer)
    html = client.get(CHANGELIST, {"q": "fatima"}).content.decode()
    assert "Findable Fatima" in html and "Other Oscar" not in html
    html = client.get(CHANGELIST, {"province__exact": "NL"}).content.decode()
    assert "Other Oscar" in html and "Findable Fatima" not in html


def test_organizers_edit_campaign_texts_in_both_languages(client, organizer, pledge):
    from belonging.core.models import CampaignSection

    section = CampaignSection.objects.get(kind="opportunity")
    client.force_login(organizer)
    url = f"/en/admin/core/campaignsection/{section.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "campaign": section.campaign_id, "kind": "opportunity", "order": 5,
            "heading_en": "A new opportunity", "heading_fr": "Une nouvelle occasion",
            "body_en": "English text.", "body_fr": "Texte français.",
            "items-TOTAL_FORMS": 0, "items-INITIAL_FORMS": 0, "items-MIN_NUM_FORMS": 0, "items-MAX_NUM_FORMS": 1000,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert "Une nouvelle occasion" in client.get("/fr/").content.decode()
    assert "A new opportunity" in client.get("/en/").content.decode()


def test_export_has_only_confirmed_signatures_and_consented_fields(client, organizer, pledge):
    public = SignatureFactory(pledge=pledge, confirmed=True, name="Public Pat", email="pat@example.org",
                              show_name=True, follow_up=False, postal_code="K1A 0B1")
    emailable = SignatureFactory(pledge=pledge, confirmed=True, name="Quiet Quinn", email="quinn@example.org",
                                 show_name=False, follow_up=True, signer_type="organization",
                                 organization_name="Secret Org", sector="health")
    SignatureFactory(pledge=pledge, name="Pending Paula", show_name=True, follow_up=True)
    client.force_login(organizer)
    response = client.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": list(Signature.objects.values_list("pk", flat=True))}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.getvalue().decode("utf-8-sig")  # streamed: read once
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["signature_id"]) for r in rows] == [public.pk, emailable.pk]
    pat, quinn = rows
    assert (pat["name"], pat["email"], pat["postal_code_fsa"]) == ("Public Pat", "", "K1A")
    assert (quinn["name"], quinn["email"], quinn["organization_name"]) == ("", "quinn@example.org", "")
    assert quinn["sector"] == "health" and quinn["signer_type"] == "organization"
    assert "Pending Paula" not in body


def test_invalidation_asks_why_then_logs_who_and_removes_from_counts(client, organizer, pledge):
    bots = SignatureFactory.create_batch(3, pledge=pledge, confirmed=True, province="YT")
    SignatureFactory(pledge=pledge, confirmed=True, province="QC")
    client.force_login(organizer)
    ids = [s.pk for s in bots]
    response = client.post(CHANGELIST, {"action": "invalidate", "_selected_action": ids})
    assert response.status_code == 200
    assert "Reason" in response.content.decode()
    assert Signature.objects.filter(status="invalidated").count() == 0
    response = client.post(
        CHANGELIST, {"action": "invalidate", "_selected_action": ids, "reason": "Scripted burst from one IP"}
    )
    assert response.status_code == 302
    invalidation = Invalidation.objects.get()
    assert (invalidation.actor, invalidation.reason, invalidation.signature_count) == (
        organizer, "Scripted burst from one IP", 3)
    assert LogEntry.objects.filter(user=organizer, object_id=str(invalidation.pk)).exists()
    numbers = selectors.numbers_compute(pledge)
    assert numbers.signatories == 1 and numbers.by_province["YT"] == 0
    assert client.get("/en/admin/pledges/invalidation/").status_code == 200


def test_signatures_cannot_be_edited_or_deleted_in_the_admin(client, organizer, pledge):
    signature = SignatureFactory(pledge=pledge, confirmed=True)
    client.force_login(organizer)
    response = client.post(f"/en/admin/pledges/signature/{signature.pk}/change/", {"name": "Changed"})
    assert response.status_code == 403
    signature.refresh_from_db()
    assert signature.name != "Changed"
    assert client.post(f"/en/admin/pledges/signature/{signature.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Signature.objects.filter(pk=signature.pk).exists()


def test_organizers_can_erase_invalidated_signatures_on_request(client, organizer, pledge):
    from belonging.core.models import ConsentRecord
    from belonging.pledges import services

    signature = SignatureFactory(pledge=pledge, confirmed=True, name="Asks Erasure", signer_type="organization",
                                 organization_name="Some Org", sector="other", postal_code="K1A 0B1")
    ConsentRecord.objects.create(subject=signature.consent_subject, purpose="public_name", given=True,
                                 wording_version="v", language="en")
    invalidation = services.signatures_invalidate(pledge=pledge, signature_ids=[signature.pk], actor=organizer,
                                                  reason="review")
    client.force_login(organizer)
    response = client.post(CHANGELIST, {"action": "erase_invalidated", "_selected_action": [signature.pk]})
    assert response.status_code == 302
    signature.refresh_from_db()
    assert (signature.status, signature.invalidation) == ("invalidated", invalidation)
    assert (signature.name, signature.email, signature.email_normalized, signature.organization_name,
            signature.postal_code) == ("", "", None, "", "")
    assert not ConsentRecord.objects.filter(subject=signature.consent_subject).exists()
    invalidation.refresh_from_db()
    assert invalidation.signature_count == 1
