"""Public voice pages over HTTP: share (errors, abuse, rate limits), confirm, private page, gallery, CSV, policy."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from belonging.core.forms import started_token
from belonging.core.tokens import VOICE_SALT, link_token
from belonging.voices import selectors, services
from belonging.voices.models import Voice
from tests.factories import VoiceFactory
from tests.voices.conftest import code_from, voice_input

pytestmark = pytest.mark.django_db

SHARE = "/en/voices/share/"
TEXT = "Our library became the place where newcomers and old-timers met every Tuesday evening."


def share_data(prompt, **overrides):
    values = {
        "prompt": str(prompt.pk),
        "kind": "story",
        "title": "",
        "text": TEXT,
        "language": "en",
        "province": "ON",
        "community": "",
        "display": "anonymous",
        "display_name": "",
        "email": "amara@example.org",
        "consent_publish": "on",
        "consent_analysis": "on",
        "started": started_token(),
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def in_french(message: str) -> str:
    with translation.override("fr"):
        return gettext(message)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def links(voice) -> dict[str, str]:
    token = link_token(voice.public_id, VOICE_SALT)
    return {
        "manage": f"/en/voices/mine/{voice.public_id}/{token}/",
        "edit": f"/en/voices/mine/{voice.public_id}/{token}/edit/",
        "withdraw": f"/en/voices/mine/{voice.public_id}/{token}/withdraw/",
        "confirm": f"/en/voices/confirm/{voice.public_id}/{token}/",
    }


# --- share ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_share_form_has_every_field_and_unticked_consents(client, prompts, lang):
    response = client.get(f"/{lang}/voices/share/?prompt=who-needs-to-be-part")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("prompt", "kind", "title", "text", "language", "province", "community", "display", "display_name",
                 "email", "consent_publish", "consent_analysis", "consent_self_id", "indigenous",
                 "population_groups", "gender", "first_official_language", "arrival", "age_band",
                 "financial_difficulty", "website", "started"):
        assert f'name="{name}"' in html, name
    for consent in ("consent_publish", "consent_analysis", "consent_self_id"):
        assert not re.search(rf'name="{consent}"[^>]*checked', html)
    # The prompt asked for in the link and the page's language are preselected.
    chosen = prompts["who-needs-to-be-part"].pk
    assert re.search(rf'name="prompt" value="{chosen}"[^>]*checked', html)
    assert re.search(rf'name="language" value="{lang}"[^>]*checked', html)
    assert 'data-counter="true"' in html and 'maxlength="5000"' in html


def test_sharing_records_a_pending_voice_and_goes_to_the_code_page(client, prompt, run_tasks):
    response = client.post(SHARE, share_data(prompt, email="Amara@Example.org"))
    assert response.status_code == 302
    assert response["Location"] == reverse("voices:confirm_code")
    voice = Voice.objects.get()
    assert voice.status == Voice.Status.PENDING
    assert voice.page_language == "en"
    run_tasks()
    assert len(mail.outbox) == 1
    # The code page offers the email typed, and the code confirms (by POST).
    page = client.get(response["Location"]).content.decode()
    assert 'value="Amara@Example.org"' in page
    response = client.post(reverse("voices:confirm_code"), {"email": "amara@example.org", "code": "999999" if code_from(mail.outbox[0]) != "999999" else "888888"})
    assert response.status_code == 400
    assert "That code does not match" in response.content.decode()
    response = client.post(reverse("voices:confirm_code"), {"email": "amara@example.org", "code": code_from(mail.outbox[0])})
    assert response.status_code == 302 and response["Location"] == reverse("voices:thanks")
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED
    assert client.get(response["Location"]).status_code == 200


def test_a_new_code_can_be_asked_for_and_replaces_the_old_one(client, prompt, run_tasks):
    assert client.post(SHARE, share_data(prompt)).status_code == 302
    run_tasks()
    first = code_from(mail.outbox[0])
    response = client.post(reverse("voices:confirm_code"), {"email": "amara@example.org", "resend": "1"}, follow=True)
    assert "If a voice from this address waits for confirmation, a new code is on its way." in (
        response.content.decode()
    )
    run_tasks()
    assert len(mail.outbox) == 2
    second = code_from(mail.outbox[1])
    if first != second:
        with pytest.raises(services.ConfirmError):
            services.voice_confirm_with_code(email="amara@example.org", code=first)
    assert services.voice_confirm_with_code(email="amara@example.org", code=second).status == Voice.Status.SUBMITTED
    # The same answer for an address with no voice waiting, and no email.
    response = client.post(reverse("voices:confirm_code"), {"email": "nobody@example.org", "resend": "1"}, follow=True)
    assert "If a voice from this address waits for confirmation" in response.content.decode()
    run_tasks()
    assert len(mail.outbox) == 2
    response = client.post(reverse("voices:confirm_code"), {"email": "", "resend": "1"})
    assert response.status_code == 400


def test_the_page_language_is_the_contributors_language(client, prompt):
    assert client.post("/fr/voices/share/", share_data(prompt, language="en")).status_code == 302
    voice = Voice.objects.get()
    assert (voice.page_language, voice.language) == ("fr", "en")


def test_a_missing_text_gets_a_french_error_on_a_french_page(client, prompt):
    response = client.post("/fr/voices/share/", share_data(prompt, text="   ", title="Mon titre"))
    assert response.status_code == 400
    html = response.content.decode()
    message = in_french("Please write your voice before sending it.")
    assert escape(message) in html
    assert message != "Please write your voice before sending it.", "no French translation for this error"
    assert 'value="Mon titre"' in html
    assert Voice.objects.count() == 0


def test_a_missing_text_gets_an_english_error_on_an_english_page(client, prompt):
    response = client.post(SHARE, share_data(prompt, text=""))
    assert response.status_code == 400
    assert "Please write your voice before sending it." in response.content.decode()


def test_the_text_is_kept_when_another_field_fails(client, prompt):
    typed = "Quand je suis arrivée à Moncton, l’école m’a accueillie <en français> & en anglais."
    response = client.post(SHARE, share_data(prompt, text=typed, province="", email="not-an-email"))
    assert response.status_code == 400
    html = response.content.decode()
    textarea = re.search(r'<textarea[^>]*name="text"[^>]*>(.*?)</textarea>', html, re.DOTALL).group(1)
    assert textarea.strip() == escape(typed)
    assert "Please choose your province or territory." in html
    assert "Enter a valid email address." in html
    assert 'value="not-an-email"' in html
    assert Voice.objects.count() == 0


def test_a_named_display_needs_a_name(client, prompt):
    response = client.post(SHARE, share_data(prompt, display="pseudonym", display_name=""))
    assert response.status_code == 400
    assert escape("Please enter the first name or pseudonym to show, or choose “Anonymous”.") in (
        response.content.decode()
    )
    assert Voice.objects.count() == 0


def test_prefer_not_to_answer_cannot_be_combined(client, prompt):
    response = client.post(
        SHARE, share_data(prompt, consent_self_id="on", indigenous=["prefer_not", "metis"])
    )
    assert response.status_code == 400
    assert Voice.objects.count() == 0


def test_self_identification_from_the_form_is_kept_with_consent(client, prompt):
    data = share_data(
        prompt, consent_self_id="on", indigenous=["first_nations"], gender="man", first_official_language="french",
        province="NB",
    )
    assert client.post(SHARE, data).status_code == 302
    row = Voice.objects.get().self_identification
    assert row.indigenous == "first_nations"
    assert row.communities == ",first_nations,indigenous,olmc,"


def test_the_honeypot_refuses_and_keeps_the_text(client, prompt):
    response = client.post(SHARE, share_data(prompt, website="http://spam.example"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Your submission looked automated" in html
    assert escape(TEXT) in html
    assert Voice.objects.count() == 0


def test_a_form_sent_too_fast_is_refused_then_accepted(client, prompt, settings):
    settings.PLEDGE_MIN_FILL_SECONDS = 60
    response = client.post(SHARE, share_data(prompt))
    assert response.status_code == 400
    assert "That was faster than a person usually types" in response.content.decode()
    assert escape(TEXT) in response.content.decode()
    assert Voice.objects.count() == 0
    settings.PLEDGE_MIN_FILL_SECONDS = 0
    assert client.post(SHARE, share_data(prompt)).status_code == 302
    assert Voice.objects.count() == 1


def test_a_forged_timestamp_gets_a_fresh_one(client, prompt):
    response = client.post(SHARE, share_data(prompt, started="forged"))
    assert response.status_code == 400
    fresh = re.search(r'name="started" value="([^"]+)"', response.content.decode()).group(1)
    assert fresh != "forged"
    assert client.post(SHARE, share_data(prompt, started=fresh)).status_code == 302


def test_a_double_submit_is_recorded_once(client, prompt, run_tasks):
    data = share_data(prompt)
    assert client.post(SHARE, data).status_code == 302
    assert client.post(SHARE, data).status_code == 302
    run_tasks()
    assert Voice.objects.count() == 1
    assert len(mail.outbox) == 1
    # The same form sent with another email is another voice.
    assert client.post(SHARE, {**data, "email": "someone.else@example.org"}).status_code == 302
    assert Voice.objects.count() == 2


def test_rate_limit_per_ip_refuses_with_429_and_keeps_the_text(client, prompt, settings):
    settings.VOICE_RATE_PER_IP = "2/h"
    for i in range(2):
        assert client.post(SHARE, share_data(prompt, email=f"p{i}@example.org")).status_code == 302
    typed = "A third voice from the same connection, about the rink."
    response = client.post(SHARE, share_data(prompt, email="p3@example.org", text=typed))
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many voices have come from your connection" in html
    assert escape(typed) in html
    assert Voice.objects.count() == 2
    assert client.post(SHARE, share_data(prompt, email="p4@example.org"), REMOTE_ADDR="10.9.8.7").status_code == 302


def test_rate_limit_per_email_refuses_with_429_and_keeps_the_text(client, prompt, settings):
    settings.VOICE_RATE_PER_EMAIL = "2/h"
    for i in range(2):
        data = share_data(prompt, email="Same.Person@example.org")
        assert client.post(SHARE, data, REMOTE_ADDR=f"10.0.0.{i}").status_code == 302
    typed = "Third voice with the same address, from another connection."
    response = client.post(
        SHARE, share_data(prompt, email="same.person+x@example.org", text=typed), REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many voices have come from this email address" in html
    assert escape(typed) in html
    assert Voice.objects.count() == 2
    assert client.post(SHARE, share_data(prompt, email="other@example.org"), REMOTE_ADDR="10.0.0.10").status_code == 302


def test_rate_limit_message_is_in_french_on_french_pages(client, prompt, settings):
    settings.VOICE_RATE_PER_IP = "1/h"
    assert client.post("/fr/voices/share/", share_data(prompt, email="a@example.org")).status_code == 302
    response = client.post("/fr/voices/share/", share_data(prompt, email="b@example.org"))
    assert response.status_code == 429
    english = (
        "Too many voices have come from your connection in a short time, so this one was not recorded yet. "
        "Please try again in an hour; your text is still here."
    )
    assert escape(in_french(english)) in response.content.decode()
    assert in_french(english) != english, "no French translation for the rate-limit message"


def test_other_methods_are_refused(client, prompts):
    assert client.put(SHARE).status_code == 405
    assert client.post("/en/voices/").status_code == 405
    assert client.post("/en/voices/numbers/").status_code == 405


# --- confirm link and the private page ---------------------------------------------------------------------


def test_the_confirm_link_shows_a_button_on_get_and_confirms_on_post(client, prompt):
    voice = services.voice_share(data=voice_input(prompt))
    url = links(voice)["confirm"]
    response = client.get(url)
    assert response.status_code == 200
    assert re.search(r'<form method="post">.*<button type="submit"', response.content.decode(), re.DOTALL)
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PENDING and voice.submitted_at is None
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("voices:thanks")
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED


def test_a_forged_confirm_or_private_link_is_404(client, prompt):
    voice = services.voice_share(data=voice_input(prompt))
    other = services.voice_share(data=voice_input(prompt, email="other@example.org"))
    other_token = link_token(other.public_id, VOICE_SALT)
    pledge_token = link_token(voice.public_id)  # a pledge link's token never opens a voice
    for token in ("forged", other_token, pledge_token):
        assert client.get(f"/en/voices/confirm/{voice.public_id}/{token}/").status_code == 404
        assert client.post(f"/en/voices/confirm/{voice.public_id}/{token}/").status_code == 404
        assert client.get(f"/en/voices/mine/{voice.public_id}/{token}/").status_code == 404
        assert client.post(f"/en/voices/mine/{voice.public_id}/{token}/withdraw/").status_code == 404
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PENDING


def test_the_private_page_shows_the_voice_and_the_contributors_other_voices(client, prompt):
    voice = services.voice_share(data=voice_input(prompt, title="Tuesdays"))
    services.voice_share(data=voice_input(prompt, title="Another one", text="A second voice of mine."))
    response = client.get(links(voice)["manage"])
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(TEXT) in html
    assert "Another one" in html
    assert links(voice)["edit"] in html and links(voice)["withdraw"] in html
    assert "amara@example.org" not in html


def test_the_private_page_of_a_returned_voice_shows_what_to_change(client, prompt, reasons, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_return(voice=voice, moderator=moderator, reason=reasons["personal-information"],
                          note="Please remove the name of your neighbour.")
    html = client.get(links(voice)["manage"]).content.decode()
    assert "Please remove the name of your neighbour." in html
    assert escape(reasons["personal-information"].explanation_en) in html


def test_edit_before_publication_through_the_private_link(client, prompt, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_claim(voice=voice, moderator=moderator)
    page = client.get(links(voice)["edit"])
    assert page.status_code == 200
    assert escape(voice.text) in page.content.decode()
    data = share_data(prompt, text="Edited: the library on Tuesdays.")
    del data["email"]
    response = client.post(links(voice)["edit"], data)
    assert response.status_code == 302 and response["Location"] == links(voice)["manage"]
    voice.refresh_from_db()
    assert voice.text == "Edited: the library on Tuesdays."
    assert voice.status == Voice.Status.SUBMITTED and voice.claimed_by is None
    # Errors keep the text.
    response = client.post(links(voice)["edit"], {**data, "province": "", "text": "Kept <b>text</b>"})
    assert response.status_code == 400
    assert escape("Kept <b>text</b>") in response.content.decode()


def test_edit_after_publication_is_refused(client, prompt):
    voice = VoiceFactory(prompt=prompt, published=True)
    response = client.get(links(voice)["edit"])
    assert response.status_code == 302 and response["Location"] == links(voice)["manage"]
    data = share_data(prompt, text="Changed after publication.")
    response = client.post(links(voice)["edit"], data)
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.text != "Changed after publication."
    html = client.get(links(voice)["manage"]).content.decode()
    assert "This voice can no longer be edited." in html
    assert links(voice)["edit"] not in html


def test_withdraw_asks_on_get_and_erases_on_post(client, prompt):
    voice = VoiceFactory(prompt=prompt, published=True, title="Gone soon")
    response = client.get(links(voice)["withdraw"])
    assert response.status_code == 200
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    response = client.post(links(voice)["withdraw"])
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.WITHDRAWN and voice.text == "" and voice.email == ""
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 404
    html = client.get(links(voice)["manage"]).content.decode()
    assert "Gone soon" not in html


# --- gallery, detail, escaping ---------------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)> & <b>bold</b>'


def test_html_in_a_voice_is_never_rendered(client, prompt, run_tasks, moderator):
    data = share_data(prompt, text=f"Belonging is {SCRIPT}", title="<script>t()</script>", community="<i>Town</i>",
                      display="pseudonym", display_name="<u>Me</u>")
    assert client.post(SHARE, data).status_code == 302
    voice = Voice.objects.get()
    assert voice.text == f"Belonging is {SCRIPT}"
    services.voice_confirm_with_link(voice=voice)
    client.force_login(moderator)
    review = client.get(f"/en/moderation/{voice.public_id}/").content.decode()
    queue = client.get("/en/moderation/").content.decode()
    services.voice_approve(voice=voice, moderator=moderator)
    client.logout()
    pages = {
        "review": review,
        "queue": queue,
        "gallery": client.get("/en/voices/").content.decode(),
        "detail": client.get(f"/en/voices/{voice.public_id}/").content.decode(),
        "manage": client.get(links(voice)["manage"]).content.decode(),
    }
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        assert "<script>t()" not in html, name
        assert "<img src=x" not in html, name
        assert "<b>bold" not in html and "<u>Me" not in html and "<i>Town" not in html, name
    for name in ("review", "gallery", "detail", "manage"):
        assert "&lt;script&gt;alert(&quot;x&quot;)" in pages[name], name


def test_gallery_shows_published_voices_newest_first(client, prompt):
    old = VoiceFactory(prompt=prompt, published=True, title="Older voice", published_at=timezone.now() - timedelta(days=2))
    new = VoiceFactory(prompt=prompt, published=True, title="Newer voice")
    for status in ("pending", "submitted", "returned", "accepted", "rejected"):
        VoiceFactory(prompt=prompt, status=status, title=f"Hidden {status}", consent_publish=False)
    html = client.get("/en/voices/").content.decode()
    assert html.index("Newer voice") < html.index("Older voice")
    assert "Hidden" not in html
    assert "2 voices" in html
    assert [v.pk for v in selectors.gallery()] == [new.pk, old.pk]


def filter_titles(client, query: str) -> set[str]:
    html = client.get(f"/en/voices/?{query}").content.decode()
    return set(re.findall(r'<h3><a href="/en/voices/[^"]+/">([^<]+)</a></h3>', html))


def test_gallery_filters(client, prompts):
    story = prompts["story-of-belonging"]
    needs = prompts["needs-to-have"]
    VoiceFactory(prompt=story, published=True, title="A", kind="story", province="NS", language="en")
    VoiceFactory(prompt=needs, published=True, title="B", kind="wisdom", province="QC", language="fr")
    VoiceFactory(prompt=needs, published=True, title="C", kind="thought", province="NS", language="fr")
    VoiceFactory(prompt=needs, submitted=True, title="D", kind="thought", province="NS", language="fr")
    assert filter_titles(client, "") == {"A", "B", "C"}
    assert filter_titles(client, f"prompt={story.pk}") == {"A"}
    assert filter_titles(client, f"prompt={needs.pk}") == {"B", "C"}
    assert filter_titles(client, "kind=wisdom") == {"B"}
    assert filter_titles(client, "province=NS") == {"A", "C"}
    assert filter_titles(client, "language=fr") == {"B", "C"}
    assert filter_titles(client, "province=NS&language=fr&kind=thought") == {"C"}
    assert filter_titles(client, "province=YT") == set()
    assert "No published voice matches" in client.get("/en/voices/?province=YT").content.decode()
    # A bad filter value is ignored, not an error.
    response = client.get("/en/voices/?province=ZZ&kind=poem")
    assert response.status_code == 200


def test_gallery_search_folds_accents_and_case_and_needs_every_word(client, prompt):
    VoiceFactory(prompt=prompt, published=True, title="R1", text="Le réseau communautaire de l’École Sainte-Anne.")
    VoiceFactory(prompt=prompt, published=True, title="R2", text="Un réseau de bénévoles, sans école.", language="fr")
    VoiceFactory(prompt=prompt, published=True, title="R3", text="The ECOLE is closed; no network here.")
    VoiceFactory(prompt=prompt, submitted=True, title="R4", text="Le réseau de l'école, pas encore publié.")
    assert filter_titles(client, "q=reseau") == {"R1", "R2"}
    assert filter_titles(client, "q=RÉSEAU") == {"R1", "R2"}
    assert filter_titles(client, "q=ECOLE") == {"R1", "R2", "R3"}
    assert filter_titles(client, "q=reseau+ecole+sainte") == {"R1"}
    assert filter_titles(client, "q=reseau+network") == set()
    assert filter_titles(client, "q=benevole") == {"R2"}  # prefix match
    assert filter_titles(client, "q=réseau&language=fr") == {"R2"}
    # Query syntax is never passed through.
    for query in ('q="', "q=*", "q=OR", "q=NEAR(a b)", "q=a:b -c"):
        assert client.get(f"/en/voices/?{query}").status_code == 200


def test_gallery_paginates(client, prompt, settings):
    settings.VOICE_PAGE_SIZE = 2
    now = timezone.now()
    for i in range(5):
        VoiceFactory(prompt=prompt, published=True, title=f"Voice {i}", published_at=now - timedelta(minutes=i),
                     province="MB")
    page1 = filter_titles(client, "province=MB")
    page3 = filter_titles(client, "province=MB&page=3")
    assert page1 == {"Voice 0", "Voice 1"}
    assert page3 == {"Voice 4"}
    html = client.get("/en/voices/?province=MB&page=2").content.decode()
    assert 'href="?province=MB&amp;page=3"' in html and 'href="?province=MB&amp;page=1"' in html
    assert client.get("/en/voices/?page=99").status_code == 200
    assert client.get("/en/voices/?page=abc").status_code == 200


def test_detail_page_of_a_published_voice_has_share_links(client, prompt):
    voice = VoiceFactory(prompt=prompt, published=True, title="Shared", display="first_name", display_name="Amara",
                         community="Sudbury")
    html = client.get(f"/en/voices/{voice.public_id}/").content.decode()
    assert "Shared" in html and "Amara" in html and "Sudbury" in html
    assert f'value="http://testserver/en/voices/{voice.public_id}/"' in html
    assert voice.email not in html


@pytest.mark.parametrize("status", ["pending", "submitted", "returned", "accepted", "rejected"])
def test_detail_page_of_an_unpublished_voice_is_404(client, prompt, status):
    voice = VoiceFactory(prompt=prompt, status=status, consent_publish=False)
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 404


def test_detail_of_an_unknown_voice_is_404(client, prompts):
    assert client.get("/en/voices/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_published_redaction_shows_the_marker_publicly(client, prompt):
    voice = VoiceFactory(prompt=prompt, published=True, text="Call me at 613-555-0199 any time.",
                         redacted_text="Call me at [removed] any time.")
    html = client.get(f"/en/voices/{voice.public_id}/").content.decode()
    assert "[removed]" in html and "613-555-0199" not in html


# --- open data (CSV) -----------------------------------------------------------------------------------------


def test_csv_has_the_documented_header_and_only_published_voices(client, prompt):
    published = VoiceFactory(prompt=prompt, published=True, title="Open", email="secret@example.org",
                             display="pseudonym", display_name="Prairie Rose", text="Café, école, « guillemets ».")
    redacted = VoiceFactory(prompt=prompt, published=True, text="Reach me at a@b.ca", redacted_text="Reach me at [removed]")
    VoiceFactory(prompt=prompt, submitted=True, title="Waiting")
    VoiceFactory(prompt=prompt, status="accepted", consent_publish=False, title="Accepted only")
    response = client.get("/en/voices/voices.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    header = rows[0]
    assert header == [
        "id", "campaign", "prompt", "prompt_text_en", "prompt_text_fr", "kind", "title", "text", "redacted",
        "language", "province", "community", "shown_as", "published_at",
    ]
    assert not any("email" in column for column in header)
    body = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(body) == {str(published.public_id), str(redacted.public_id)}
    row = body[str(published.public_id)]
    assert row["text"] == "Café, école, « guillemets »."
    assert row["shown_as"] == "Prairie Rose"
    assert row["prompt"] == prompt.slug and row["campaign"] == prompt.campaign.slug
    assert body[str(redacted.public_id)]["text"] == "Reach me at [removed]"
    assert body[str(redacted.public_id)]["redacted"] == "True"
    flat = "\n".join(",".join(r) for r in rows)
    assert "secret@example.org" not in flat and "a@b.ca" not in flat


def test_the_data_dictionary_describes_every_csv_column():
    from pathlib import Path

    from django.conf import settings

    dictionary = (Path(settings.BASE_DIR) / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert "voices" in dictionary.lower(), "docs/data-dictionary.md does not describe the voices export"
    missing = [f for f in selectors.EXPORT_FIELDS if f"`{f}`" not in dictionary]
    assert not missing, f"columns not described in docs/data-dictionary.md: {missing}"


# --- policy ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_policy_lists_the_reason_codes_in_the_page_language(client, reasons, lang):
    reasons["duplicate"].is_active = False
    reasons["duplicate"].save()
    html = client.get(f"/{lang}/voices/policy/").content.decode()
    other = "fr" if lang == "en" else "en"
    for code, reason in reasons.items():
        label, explanation = getattr(reason, f"label_{lang}"), getattr(reason, f"explanation_{lang}")
        if code == "duplicate":
            assert escape(label) not in html
            continue
        assert escape(label) in html, code
        assert escape(explanation) in html, code
        assert escape(getattr(reason, f"label_{other}")) not in html, code
    heading = "Moderation policy"
    if lang == "fr":
        assert escape(in_french(heading)) in html
        assert in_french(heading) != heading, "no French translation for the policy page"
