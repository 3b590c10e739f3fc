"""Moderation as a team: who may moderate, claims, decisions, redaction, the log, and the outcome emails."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape

from belonging.voices import selectors, services
from belonging.voices.models import ModerationAction, Voice
from tests.factories import VoiceFactory
from tests.voices.conftest import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "/en/moderation/"


def review_url(voice: Voice, lang: str = "en") -> str:
    return f"/{lang}/moderation/{voice.public_id}/"


def claim_url(voice: Voice) -> str:
    return f"/en/moderation/{voice.public_id}/claim/"


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


@pytest.fixture
def voice(prompt) -> Voice:
    return VoiceFactory(prompt=prompt, submitted=True, text="Our neighbourhood garden brought us together.")


# --- permissions -------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, voice):
    for method, url in [
        ("get", QUEUE),
        ("get", review_url(voice)),
        ("post", claim_url(voice)),
        ("get", "/en/moderation/log/"),
        ("get", "/en/moderation/log.csv"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/en/accounts/login/?next="), url
    voice.refresh_from_db()
    assert voice.claimed_by is None


def test_a_signed_in_user_without_the_role_is_refused(client, voice, outsider):
    client.force_login(outsider)
    assert client.get(QUEUE).status_code == 403
    assert client.get(review_url(voice)).status_code == 403
    assert client.post(claim_url(voice)).status_code == 403
    assert client.post(review_url(voice), {"decision": "approve"}).status_code == 403
    assert client.get("/en/moderation/log/").status_code == 403
    assert client.get("/en/moderation/log.csv").status_code == 403
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED and voice.claimed_by is None


def test_moderators_see_the_queue_and_log_but_cannot_export_it(client, voice, moderator):
    assert client.login(username="maya", password=PASSWORD)
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert "Our neighbourhood garden" in response.content.decode()
    assert client.get(review_url(voice)).status_code == 200
    assert client.get("/en/moderation/log/").status_code == 200
    assert client.get("/en/moderation/log.csv").status_code == 403
    assert "/en/moderation/log.csv" not in client.get("/en/moderation/log/").content.decode()


def test_organizers_moderate_and_export_the_log(client, voice, organizer):
    client.force_login(organizer)
    assert client.get(QUEUE).status_code == 200
    assert client.get(review_url(voice)).status_code == 200
    response = client.get("/en/moderation/log.csv")
    assert response.status_code == 200
    assert csv_rows(response)[0] == ["at", "voice", "action", "moderator", "reason", "note"]


def test_an_inactive_moderator_is_refused(client, voice, moderator):
    moderator.is_active = False
    moderator.save()
    client.force_login(moderator)
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith("/en/accounts/login/")
    assert client.post(claim_url(voice)).status_code == 302
    voice.refresh_from_db()
    assert voice.claimed_by is None


# --- queue ------------------------------------------------------------------------------------------------


def test_the_queue_lists_waiting_voices_oldest_first_and_filters(client, prompts, moderator):
    needs, story = prompts["needs-to-have"], prompts["story-of-belonging"]
    now = timezone.now()
    old = VoiceFactory(prompt=needs, submitted=True, text="Oldest waiting voice", submitted_at=now - timedelta(days=4),
                       language="fr", province="QC")
    mid = VoiceFactory(prompt=story, submitted=True, text="Middle waiting voice", submitted_at=now - timedelta(days=2))
    new = VoiceFactory(prompt=needs, submitted=True, text="Newest waiting voice", submitted_at=now)
    VoiceFactory(prompt=needs, published=True, text="Already published voice")
    VoiceFactory(prompt=needs, text="Pending voice not confirmed")
    assert list(selectors.queue()) == [old, mid, new]
    assert list(selectors.queue(prompt=story)) == [mid]
    assert list(selectors.queue(language="fr")) == [old]
    assert list(selectors.queue(province="QC")) == [old]
    assert list(selectors.queue(older_than_days=3)) == [old]
    assert list(selectors.queue(older_than_days=1)) == [old, mid]
    client.force_login(moderator)
    html = client.get(QUEUE).content.decode()
    assert html.index("Oldest waiting") < html.index("Middle waiting") < html.index("Newest waiting")
    assert "Already published" not in html and "Pending voice" not in html
    html = client.get(f"{QUEUE}?status=submitted&age=3").content.decode()
    assert "Oldest waiting" in html and "Middle waiting" not in html
    html = client.get(f"{QUEUE}?status=published").content.decode()
    assert "Already published" in html and "Oldest waiting" not in html
    html = client.get(f"{QUEUE}?status=submitted&prompt={story.pk}").content.decode()
    assert "Middle waiting" in html and "Oldest waiting" not in html


def test_the_review_page_highlights_personal_information(client, prompt, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True, text="Write to me at jo@example.com or call 613-555-0199.")
    client.force_login(moderator)
    services.voice_claim(voice=voice, moderator=moderator)
    html = client.get(review_url(voice)).content.decode()
    assert "<mark>jo@example.com</mark>" in html
    assert "<mark>613-555-0199</mark>" in html
    assert 'data-redact="jo@example.com"' in html


# --- claims ----------------------------------------------------------------------------------------------


def test_a_claim_blocks_other_moderators_until_it_expires(client, voice, moderator, moderator_b, settings, reasons):
    services.voice_claim(voice=voice, moderator=moderator)
    with pytest.raises(services.ModerationError) as error:
        services.voice_claim(voice=voice, moderator=moderator_b)
    assert error.value.reason == "claimed"
    with pytest.raises(services.ModerationError) as error:
        services.voice_approve(voice=voice, moderator=moderator_b)
    assert error.value.reason == "claimed"
    with pytest.raises(services.ModerationError) as error:
        services.voice_reject(voice=voice, moderator=moderator_b, reason=reasons["off-topic"])
    assert error.value.reason == "claimed"

    # Over HTTP, B is told so in the queue and cannot decide.
    client.force_login(moderator_b)
    response = client.post(claim_url(voice), follow=True)
    assert "Another moderator is reviewing this voice." in response.content.decode()
    html = client.get(review_url(voice)).content.decode()
    assert "maya@example.org is reviewing this voice" in html
    assert 'name="decision"' not in html
    response = client.post(review_url(voice), {"decision": "approve", "redacted_text": voice.text}, follow=True)
    assert "Another moderator is reviewing this voice." in response.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED and voice.claimed_by == moderator

    # The claim lapses after VOICE_CLAIM_MINUTES.
    Voice.objects.filter(pk=voice.pk).update(
        claimed_at=timezone.now() - timedelta(minutes=settings.VOICE_CLAIM_MINUTES, seconds=1)
    )
    services.voice_claim(voice=voice, moderator=moderator_b)
    voice.refresh_from_db()
    assert voice.claimed_by == moderator_b
    assert [(a.action, a.moderator) for a in voice.actions.order_by("id")] == [
        ("claim", moderator),
        ("claim", moderator_b),
    ]


def test_claiming_again_is_not_logged_twice_and_release_frees_it(voice, moderator, moderator_b):
    services.voice_claim(voice=voice, moderator=moderator)
    services.voice_claim(voice=voice, moderator=moderator)
    assert voice.actions.filter(action="claim").count() == 1
    services.voice_release(voice=voice, moderator=moderator_b)  # not B's to release
    voice.refresh_from_db()
    assert voice.claimed_by == moderator
    services.voice_release(voice=voice, moderator=moderator)
    voice.refresh_from_db()
    assert voice.claimed_by is None
    assert voice.actions.filter(action="release").count() == 1
    services.voice_claim(voice=voice, moderator=moderator_b)


def test_a_decided_voice_cannot_be_claimed_or_decided_again(voice, moderator, reasons):
    services.voice_approve(voice=voice, moderator=moderator)
    with pytest.raises(services.ModerationError) as error:
        services.voice_claim(voice=voice, moderator=moderator)
    assert error.value.reason == "state"
    with pytest.raises(services.ModerationError) as error:
        services.voice_reject(voice=voice, moderator=moderator, reason=reasons["off-topic"])
    assert error.value.reason == "state"


def test_claim_and_decide_over_http(client, voice, moderator):
    client.force_login(moderator)
    html = client.get(review_url(voice)).content.decode()
    assert 'name="decision"' not in html and claim_url(voice) in html
    response = client.post(claim_url(voice))
    assert response.status_code == 302 and response["Location"] == review_url(voice)
    html = client.get(review_url(voice)).content.decode()
    assert 'name="decision"' in html
    response = client.post(review_url(voice), {"decision": "approve", "redacted_text": voice.text, "note": ""})
    assert response.status_code == 302 and response["Location"] == QUEUE
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED and voice.claimed_by is None
    assert voice.redacted_text == ""
    assert client.get(claim_url(voice)).status_code == 405


# --- decisions -------------------------------------------------------------------------------------------


def test_approval_publishes_only_with_consent(prompt, moderator):
    consenting = VoiceFactory(prompt=prompt, submitted=True, consent_publish=True)
    private = VoiceFactory(prompt=prompt, submitted=True, consent_publish=False,
                           text="Please do not publish this, but do count it.")
    services.voice_approve(voice=consenting, moderator=moderator, note="Thank you")
    services.voice_approve(voice=private, moderator=moderator)
    consenting.refresh_from_db()
    private.refresh_from_db()
    assert consenting.status == Voice.Status.PUBLISHED and consenting.published_at is not None
    assert consenting.moderator_note == "Thank you"
    assert private.status == Voice.Status.ACCEPTED and private.published_at is None
    assert list(selectors.gallery()) == [consenting]


def test_rejection_needs_a_reason_code(client, voice, moderator, reasons):
    services.voice_claim(voice=voice, moderator=moderator)
    client.force_login(moderator)
    response = client.post(review_url(voice), {"decision": "reject", "note": "No."})
    assert response.status_code == 400
    assert "Please choose why it is rejected." in response.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED
    response = client.post(
        review_url(voice), {"decision": "reject", "reason": reasons["advertising"].pk, "note": "Spam link."}
    )
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.REJECTED
    assert voice.reason == reasons["advertising"]
    action = voice.actions.get(action="reject")
    assert (action.moderator, action.reason, action.note) == (moderator, reasons["advertising"], "Spam link.")


def test_return_needs_a_note_or_a_reason(client, prompt, moderator, reasons):
    with pytest.raises(ValidationError):
        services.voice_return(voice=VoiceFactory(prompt=prompt, submitted=True), moderator=moderator, note="  ")
    voice = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_claim(voice=voice, moderator=moderator)
    client.force_login(moderator)
    response = client.post(review_url(voice), {"decision": "return", "note": "   "})
    assert response.status_code == 400
    assert "Please choose a reason or write a note that says what needs to change." in response.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED
    # A reason alone, or a note alone, is enough.
    response = client.post(review_url(voice), {"decision": "return", "reason": reasons["unclear"].pk})
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.RETURNED and voice.reason == reasons["unclear"]
    other = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_return(voice=other, moderator=moderator, note="Please shorten the second paragraph.")
    other.refresh_from_db()
    assert other.status == Voice.Status.RETURNED and other.moderator_note == "Please shorten the second paragraph."


def test_a_redaction_that_adds_words_is_refused(client, prompt, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True, text="Call Jo at 613-555-0199 about the garden.")
    with pytest.raises(ValidationError):
        services.voice_approve(
            voice=voice, moderator=moderator, redacted_text="Call [removed] about the wonderful garden."
        )
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED and voice.redacted_text == ""

    services.voice_claim(voice=voice, moderator=moderator)
    client.force_login(moderator)
    response = client.post(
        review_url(voice), {"decision": "approve", "redacted_text": "Call Jo at [removed] about a new garden."}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "A redaction may only replace parts of the text with the marker; it cannot add or change words." in html
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED and voice.redacted_text == ""
    assert not voice.actions.filter(action__in=["approve", "redact"]).exists()
    assert mail.outbox == []


def test_a_redaction_with_the_marker_is_published(client, prompt, moderator, run_tasks):
    original = "Call Jo at 613-555-0199 about the garden on Elm Street."
    voice = VoiceFactory(prompt=prompt, submitted=True, text=original, title="Garden")
    services.voice_claim(voice=voice, moderator=moderator)
    client.force_login(moderator)
    redacted = "Call Jo at [removed] about the garden on [removed]."
    response = client.post(review_url(voice), {"decision": "approve", "redacted_text": redacted, "note": "Phone."})
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    assert voice.text == original and voice.redacted_text == redacted
    assert voice.actions.get(action="redact").note == "Phone."
    # The search no longer finds what was removed.
    assert list(selectors.gallery(q="Elm")) == []
    assert list(selectors.gallery(q="garden")) == [voice]
    client.logout()
    public = client.get(f"/en/voices/{voice.public_id}/").content.decode()
    assert "[removed]" in public and "613-555-0199" not in public and "Elm Street" not in public
    assert "613-555-0199" not in client.get("/en/voices/").content.decode()
    assert "613-555-0199" not in client.get("/api/v1/voices").content.decode()
    assert client.get("/api/v1/voices").json()["results"][0]["redacted"] is True
    from belonging.core.tokens import VOICE_SALT, link_token

    own = client.get(f"/en/voices/mine/{voice.public_id}/{link_token(voice.public_id, VOICE_SALT)}/").content.decode()
    assert "613-555-0199" in own and escape(redacted) in own


def test_a_french_voice_is_redacted_with_the_french_marker(prompt, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True, language="fr", text="Appelez-moi au 613-555-0199, merci.")
    with pytest.raises(ValidationError):
        services.voice_approve(voice=voice, moderator=moderator, redacted_text="Appelez-moi au [removed], merci.")
    services.voice_approve(voice=voice, moderator=moderator, redacted_text="Appelez-moi au [retiré], merci.")
    voice.refresh_from_db()
    assert voice.public_text == "Appelez-moi au [retiré], merci."


def test_an_unchanged_redaction_field_is_a_plain_approval(prompt, moderator):
    voice = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_approve(voice=voice, moderator=moderator, redacted_text=f"  {voice.text}\n")
    voice.refresh_from_db()
    assert voice.redacted_text == ""
    assert voice.actions.get().action == "approve"


# --- the log ---------------------------------------------------------------------------------------------


def test_every_action_is_logged_and_exported(client, prompt, moderator, moderator_b, organizer, reasons):
    approved = VoiceFactory(prompt=prompt, submitted=True, text="First voice to approve.")
    rejected = VoiceFactory(prompt=prompt, submitted=True, text="Second voice to reject.")
    returned = VoiceFactory(prompt=prompt, submitted=True, text="Third voice to return.")
    withdrawn = VoiceFactory(prompt=prompt, submitted=True, text="Fourth voice, withdrawn after a return.")
    services.voice_claim(voice=approved, moderator=moderator)
    services.voice_approve(voice=approved, moderator=moderator, note="Lovely")
    services.voice_reject(voice=rejected, moderator=moderator_b, reason=reasons["hateful"], note="Attacks a group")
    services.voice_return(voice=returned, moderator=moderator, reason=reasons["unclear"], note="Say more")
    services.voice_return(voice=withdrawn, moderator=moderator_b, note="Remove “Fourth voice”")
    services.voice_withdraw(voice=withdrawn)
    services.voice_take_down(voice=approved, moderator=moderator_b, reason=reasons["off-topic"], note="On reflection")

    log = [(a.voice_id, a.action, a.moderator, a.reason, a.note) for a in ModerationAction.objects.order_by("id")]
    assert log == [
        (approved.pk, "claim", moderator, None, ""),
        (approved.pk, "approve", moderator, None, "Lovely"),
        (rejected.pk, "reject", moderator_b, reasons["hateful"], "Attacks a group"),
        (returned.pk, "return", moderator, reasons["unclear"], "Say more"),
        # Withdrawal erases the notes too: they may quote the erased text.
        (withdrawn.pk, "return", moderator_b, None, ""),
        (withdrawn.pk, "withdraw", None, None, ""),
        (approved.pk, "take_down", moderator_b, reasons["off-topic"], "On reflection"),
    ]
    assert all(a.at is not None for a in ModerationAction.objects.all())

    client.force_login(moderator)
    html = client.get("/en/moderation/log/").content.decode()
    assert "Attacks a group" in html and "bruno@example.org" in html

    client.force_login(organizer)
    response = client.get("/en/moderation/log.csv")
    assert response["Content-Disposition"] == 'attachment; filename="moderation-log.csv"'
    rows = csv_rows(response)
    assert rows[0] == ["at", "voice", "action", "moderator", "reason", "note"]
    exported = [(r[1], r[2], r[3], r[4], r[5]) for r in rows[1:]]
    assert sorted(exported) == sorted([
        (str(approved.public_id), "claim", "maya@example.org", "", ""),
        (str(approved.public_id), "approve", "maya@example.org", "", "Lovely"),
        (str(rejected.public_id), "reject", "bruno@example.org", "hateful", "Attacks a group"),
        (str(returned.public_id), "return", "maya@example.org", "unclear", "Say more"),
        (str(withdrawn.public_id), "return", "bruno@example.org", "", ""),
        (str(withdrawn.public_id), "withdraw", "", "", ""),
        (str(approved.public_id), "take_down", "bruno@example.org", "off-topic", "On reflection"),
    ])
    # Newest first, with times.
    assert rows[1][2] == "take_down"
    assert all(r[0] for r in rows[1:])
    # The log never exports the voices' text or the contributors' emails.
    flat = "\n".join(",".join(r) for r in rows)
    assert "First voice" not in flat and "Fourth voice" not in flat and approved.email not in flat


# --- take down -------------------------------------------------------------------------------------------


def test_a_published_voice_can_be_taken_down_with_a_reason(client, prompt, moderator, reasons, run_tasks):
    voice = VoiceFactory(prompt=prompt, submitted=True, title="Regrettable", page_language="fr")
    services.voice_approve(voice=voice, moderator=moderator)
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 200
    assert list(selectors.voices_for_analysis(prompt.campaign)) == [Voice.objects.get(pk=voice.pk)]
    client.force_login(moderator)
    html = client.get(review_url(voice)).content.decode()
    assert f"/en/moderation/{voice.public_id}/take-down/" in html
    # A reason is required.
    response = client.post(f"/en/moderation/{voice.public_id}/take-down/", {"down-note": "no reason"})
    assert response.status_code == 400
    assert "Please choose why it is taken down." in response.content.decode()
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    response = client.post(
        f"/en/moderation/{voice.public_id}/take-down/", {"down-reason": reasons["harassment"].pk, "down-note": "Sorry"}
    )
    assert response.status_code == 302
    voice.refresh_from_db()
    assert voice.status == Voice.Status.REJECTED and voice.reason == reasons["harassment"]
    client.logout()
    assert client.get(f"/en/voices/{voice.public_id}/").status_code == 404
    assert client.get("/api/v1/voices").json()["count"] == 0
    assert list(selectors.voices_for_analysis(prompt.campaign)) == []
    run_tasks()
    told = mail.outbox[-1]
    assert told.to == [voice.email]
    assert told.subject == subject("rejected", "fr")
    assert reasons["harassment"].explanation_fr in told.body
    # Only approved voices can be taken down; outsiders cannot.
    with pytest.raises(services.ModerationError):
        services.voice_take_down(voice=voice, moderator=moderator, reason=reasons["harassment"])
    other = VoiceFactory(prompt=prompt, published=True)
    outsider = get_user_model().objects.create_user(username="zed", email="zed@example.org", password=PASSWORD)
    client.force_login(outsider)
    response = client.post(f"/en/moderation/{other.public_id}/take-down/", {"down-reason": reasons["harassment"].pk})
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.status == Voice.Status.PUBLISHED


# --- outcome emails --------------------------------------------------------------------------------------


def subject(template: str, language: str) -> str:
    """The outcome email's subject as its template renders in ``language``."""
    with translation.override(language):
        return render_to_string(f"voices/email/{template}_subject.txt").strip()


@pytest.mark.parametrize("page_language", ["en", "fr"])
def test_the_contributor_is_told_the_outcome_in_their_language(prompt, moderator, reasons, run_tasks, page_language):
    published = VoiceFactory(prompt=prompt, submitted=True, page_language=page_language, email="p@example.org")
    rejected = VoiceFactory(prompt=prompt, submitted=True, page_language=page_language, email="r@example.org")
    returned = VoiceFactory(prompt=prompt, submitted=True, page_language=page_language, email="t@example.org")
    accepted = VoiceFactory(prompt=prompt, submitted=True, page_language=page_language, email="a@example.org",
                            consent_publish=False)
    services.voice_approve(voice=published, moderator=moderator)
    services.voice_reject(voice=rejected, moderator=moderator, reason=reasons["harassment"], note="Note to you")
    services.voice_return(voice=returned, moderator=moderator, reason=reasons["personal-information"], note="")
    services.voice_approve(voice=accepted, moderator=moderator)
    run_tasks()
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {"p@example.org", "r@example.org", "t@example.org", "a@example.org"}
    templates = {"p@example.org": "published", "r@example.org": "rejected", "t@example.org": "returned",
                 "a@example.org": "accepted"}
    for to, template in templates.items():
        assert by_recipient[to].subject == subject(template, page_language), to
        if page_language == "fr":
            assert by_recipient[to].subject != subject(template, "en"), f"the French email to {to} is in English"
    assert len({subject(t, page_language) for t in templates.values()}) == 4
    rejection = by_recipient["r@example.org"].body
    assert getattr(reasons["harassment"], f"explanation_{page_language}") in rejection
    assert "Note to you" in rejection
    assert f"http://testserver/{page_language}/voices/policy/" in rejection
    returned_body = by_recipient["t@example.org"].body
    assert getattr(reasons["personal-information"], f"explanation_{page_language}") in returned_body
    assert f"/{page_language}/voices/mine/{returned.public_id}/" in returned_body
    other = "fr" if page_language == "en" else "en"
    assert getattr(reasons["harassment"], f"explanation_{other}") not in rejection
    assert f"/{page_language}/voices/{published.public_id}/" in by_recipient["p@example.org"].body


def test_no_outcome_email_after_withdrawal(prompt, moderator, run_tasks):
    voice = VoiceFactory(prompt=prompt, submitted=True)
    services.voice_approve(voice=voice, moderator=moderator)
    services.voice_withdraw(voice=voice)
    run_tasks()
    assert mail.outbox == []
