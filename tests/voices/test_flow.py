"""The whole life of a voice over HTTP: share → email → confirm → moderate → publish → withdraw."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext

from belonging.core.models import ConsentRecord
from belonging.voices import selectors
from belonging.voices.models import ModerationAction, SelfIdentification, Voice
from tests.voices.conftest import code_from, link_from
from tests.voices.test_views import share_data

pytestmark = pytest.mark.django_db

TEXT = "Quand je suis arrivée à Moncton, le réseau des bénévoles m’a appelée au 506-555-0142 pour m’accueillir."
REDACTED = "Quand je suis arrivée à Moncton, le réseau des bénévoles m’a appelée au [retiré] pour m’accueillir."


def fr(message: str) -> str:
    with translation.override("fr"):
        return gettext(message)


def subject(template: str, language: str) -> str:
    with translation.override(language):
        return render_to_string(f"voices/email/{template}_subject.txt").strip()


def csv_text(client) -> str:
    return b"".join(client.get("/en/voices/voices.csv").streaming_content).decode("utf-8-sig")


def test_a_french_voice_from_share_to_withdrawal(client, prompt, moderator, run_tasks):
    # 1. Share on the French page, with self-identification for statistics.
    data = share_data(
        prompt, text=TEXT, language="fr", province="NB", title="Accueil à Moncton", display="first_name",
        display_name="Élise", email="elise@example.org", consent_self_id="on", first_official_language="french",
        gender="woman",
    )
    response = client.post("/fr/voices/share/", data)
    assert response.status_code == 302 and response["Location"] == "/fr/voices/confirm/"
    voice = Voice.objects.get()
    assert voice.status == Voice.Status.PENDING

    # 2. The code email is in French; a GET on the emailed link changes nothing; the code confirms.
    run_tasks()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == fr("Your code to confirm your voice: %(code)s") % {"code": code_from(message)}
    assert fr("Hello,") in message.body and fr("Hello,") != "Hello,"
    confirm_url = link_from(message, "confirm")
    manage_url = link_from(message, "mine")
    assert confirm_url.startswith("/fr/") and manage_url.startswith("/fr/")
    assert client.get(confirm_url).status_code == 200
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PENDING
    response = client.post("/fr/voices/confirm/", {"email": "Elise@Example.org", "code": code_from(message)})
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED

    # Waiting voices are not public, but they count in the community statistics (suppressed: one person).
    assert client.get("/api/v1/voices").json()["count"] == 0
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 404
    figures = selectors.aggregates()
    assert figures.published == 0
    communities = {str(label): (people, voices) for label, people, voices in figures.communities}
    assert communities["Official-language minority"] == (None, None)
    assert figures.self_identified_people is None

    # 3. A moderator claims it, sees the phone number highlighted, redacts it and publishes.
    client.force_login(moderator)
    queue = client.get("/en/moderation/").content.decode()
    assert "Moncton" in queue
    assert client.post(f"/en/moderation/{voice.public_id}/claim/").status_code == 302
    review = client.get(f"/en/moderation/{voice.public_id}/").content.decode()
    assert "<mark>506-555-0142</mark>" in review
    assert "[retiré]" in review  # the marker for a French voice
    response = client.post(
        f"/en/moderation/{voice.public_id}/", {"decision": "approve", "redacted_text": REDACTED, "note": ""}
    )
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    assert [a.action for a in voice.actions.order_by("id")] == ["claim", "redact"]
    client.logout()

    # 4. The contributor is told in French; the public sees the redacted text everywhere.
    run_tasks()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == subject("published", "fr") != subject("published", "en")
    assert mail.outbox[1].to == ["elise@example.org"]
    cache.clear()
    gallery = client.get("/fr/voices/?q=reseau+benevoles").content.decode()
    assert "Accueil à Moncton" in gallery and "506-555-0142" not in gallery
    detail = client.get(f"/fr/voices/{voice.public_id}/").content.decode()
    assert "[retiré]" in detail and "Élise" in detail and "506-555-0142" not in detail
    api = client.get("/api/v1/voices?q=MONCTON").json()
    assert api["count"] == 1
    assert api["results"][0]["text"] == REDACTED
    assert api["results"][0]["shown_as"] == "Élise"
    assert "elise@example.org" not in str(api)
    assert REDACTED in csv_text(client)
    assert "506-555-0142" in client.get(manage_url).content.decode()
    figures = selectors.aggregates()
    assert figures.published == 1
    assert {code: n for code, _, n in figures.by_province}["NB"] == 1

    # 5. Withdrawal from the emailed private link: gone everywhere, erased, out of analysis.
    assert list(selectors.voices_for_analysis(prompt.campaign)) == [voice]
    withdraw_url = manage_url + "withdraw/"
    assert client.get(withdraw_url).status_code == 200
    assert client.post(withdraw_url).status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.WITHDRAWN
    assert (voice.text, voice.redacted_text, voice.email, voice.title, voice.display_name) == ("", "", "", "", "")
    assert not SelfIdentification.objects.filter(voice=voice).exists()
    cache.clear()
    assert client.get(f"/fr/voices/{voice.public_id}/").status_code == 404
    assert "Moncton" not in client.get("/fr/voices/").content.decode()
    assert client.get("/api/v1/voices").json()["count"] == 0
    assert list(csv.reader(io.StringIO(csv_text(client))))[1:] == []
    assert list(selectors.voices_for_analysis(prompt.campaign)) == []
    assert selectors.aggregates().published == 0
    given = {c.purpose: c.given for c in ConsentRecord.objects.filter(subject=voice.consent_subject).order_by("id")}
    assert given == {"publish_voice": False, "analysis": False, "self_id_stats": False}
    assert ModerationAction.objects.filter(voice=voice, action="withdraw").exists()
    # The old links cannot bring it back.
    client.post(confirm_url)
    voice.refresh_from_db()
    assert voice.status == Voice.Status.WITHDRAWN
    assert client.get(manage_url + "edit/").status_code == 302
    run_tasks()
    assert len(mail.outbox) == 2


def test_a_returned_voice_is_edited_from_the_emailed_link_and_accepted_for_analysis_only(
    client, prompt, moderator, reasons, run_tasks
):
    data = share_data(prompt, email="sam@example.org", consent_publish=None, consent_analysis="on")
    assert client.post("/en/voices/share/", data).status_code == 302
    run_tasks()
    manage_url = link_from(mail.outbox[0], "mine")
    assert client.post(link_from(mail.outbox[0], "confirm")).status_code == 302
    voice = Voice.objects.get()
    assert voice.status == Voice.Status.SUBMITTED and not voice.consent_publish

    client.force_login(moderator)
    client.post(f"/en/moderation/{voice.public_id}/claim/")
    response = client.post(
        f"/en/moderation/{voice.public_id}/",
        {"decision": "return", "reason": reasons["unclear"].pk, "note": "Which library?"},
    )
    assert response.status_code == 302
    client.logout()
    run_tasks()
    returned = mail.outbox[-1]
    assert returned.subject == subject("returned", "en")
    assert reasons["unclear"].explanation_en in returned.body and "Which library?" in returned.body

    page = client.get(manage_url).content.decode()
    assert "Which library?" in page
    edit = share_data(prompt, text="The Sudbury public library, every Tuesday evening.", consent_publish=None)
    del edit["email"]
    assert client.post(manage_url + "edit/", edit).status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED
    assert voice.text == "The Sudbury public library, every Tuesday evening."

    client.force_login(moderator)
    client.post(f"/en/moderation/{voice.public_id}/claim/")
    client.post(f"/en/moderation/{voice.public_id}/", {"decision": "approve", "redacted_text": voice.text})
    voice.refresh_from_db()
    assert voice.status == Voice.Status.ACCEPTED
    assert [a.action for a in voice.actions.order_by("id")] == ["claim", "return", "resubmit", "claim", "approve"]
    run_tasks()
    assert mail.outbox[-1].subject == subject("accepted", "en")
    # Counted in analysis, never public.
    assert list(selectors.voices_for_analysis(prompt.campaign)) == [voice]
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 404
    assert client.get("/api/v1/voices").json()["count"] == 0
    assert "Sudbury" not in csv_text(client)
