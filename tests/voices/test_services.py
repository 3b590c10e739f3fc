"""Voice services without HTTP: share, codes, confirmation, near-duplicates, edit, withdraw, analysis set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from belonging.core import identity
from belonging.core.models import ConsentRecord
from belonging.voices import selectors, services
from belonging.voices.models import ModerationAction, SelfIdentification, Voice
from tests.factories import VoiceFactory
from tests.voices.conftest import code_from, share_and_submit, voice_input

pytestmark = pytest.mark.django_db


def consents_of(voice: Voice) -> list[ConsentRecord]:
    return list(ConsentRecord.objects.filter(subject=voice.consent_subject).order_by("id"))


def latest_consents(voice: Voice) -> dict[str, bool]:
    return {c.purpose: c.given for c in consents_of(voice)}


# --- sharing ---------------------------------------------------------------------------------------


def test_share_records_a_pending_voice_with_one_consent_line_per_purpose(prompt, run_tasks):
    voice = services.voice_share(
        data=voice_input(
            prompt,
            email="  Amara.N@Example.org ",
            page_language="fr",
            language="fr",
            consent_publish=True,
            consent_analysis=False,
            self_id=identity.Answers(gender="woman"),
        )
    )
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PENDING
    assert voice.email == "Amara.N@Example.org"
    assert voice.email_normalized == "amara.n@example.org"
    assert voice.campaign_id == prompt.campaign_id
    assert voice.expires_at > timezone.now() + timedelta(days=6)
    assert voice.search_text and voice.fingerprint is not None
    records = consents_of(voice)
    assert {(r.purpose, r.given) for r in records} == {
        (ConsentRecord.Purpose.PUBLISH_VOICE, True),
        (ConsentRecord.Purpose.ANALYSIS, False),
        (ConsentRecord.Purpose.SELF_ID_STATS, False),
    }
    assert {r.wording_version for r in records} == {services.CONSENT_WORDING_VERSION}
    assert {r.language for r in records} == {"fr"}
    # Answers given without the consent to statistics are not kept.
    assert not SelfIdentification.objects.filter(voice=voice).exists()


def test_self_identification_is_kept_only_with_its_consent_and_derives_communities(prompt):
    voice = services.voice_share(
        data=voice_input(
            prompt,
            province="ON",
            consent_self_id=True,
            self_id=identity.Answers(first_official_language="french", gender="woman", age_band="18_24"),
        )
    )
    row = SelfIdentification.objects.get(voice=voice)
    assert row.first_official_language == "french"
    assert identity.decode_communities(row.communities) == {"olmc", "women", "youth"}
    # Stored apart: the self-identification row has no name or email.
    field_names = {f.name for f in SelfIdentification._meta.get_fields()}
    assert not field_names & {"email", "email_normalized", "display_name", "text"}

    metis = services.voice_share(
        data=voice_input(
            prompt,
            email="metis@example.org",
            province="MB",
            consent_self_id=True,
            self_id=identity.Answers(indigenous=("metis",), population_groups=("south_asian",)),
        )
    )
    communities = identity.decode_communities(SelfIdentification.objects.get(voice=metis).communities)
    assert communities == {"indigenous", "metis"}
    assert "racialized" not in communities

    # English first official language is a minority only in Quebec.
    quebec = services.voice_share(
        data=voice_input(
            prompt,
            email="qc@example.org",
            province="QC",
            consent_self_id=True,
            self_id=identity.Answers(first_official_language="english"),
        )
    )
    assert identity.decode_communities(SelfIdentification.objects.get(voice=quebec).communities) == {"olmc"}
    french_in_quebec = services.voice_share(
        data=voice_input(
            prompt,
            email="qc2@example.org",
            province="QC",
            consent_self_id=True,
            self_id=identity.Answers(first_official_language="french"),
        )
    )
    assert SelfIdentification.objects.get(voice=french_in_quebec).communities == ""

    # Ticking the consent without answering keeps nothing either way; not ticking keeps nothing.
    unticked = services.voice_share(
        data=voice_input(
            prompt,
            email="no@example.org",
            consent_self_id=False,
            self_id=identity.Answers(indigenous=("metis",)),
        )
    )
    assert not SelfIdentification.objects.filter(voice=unticked).exists()


def test_a_closed_prompt_takes_no_voice(prompt):
    prompt.is_open = False
    prompt.save()
    with pytest.raises(ValidationError):
        services.voice_share(data=voice_input(prompt))
    assert Voice.objects.count() == 0


def test_a_named_display_needs_a_name(prompt):
    # The form says so in words; below it, the database's constraint refuses the row.
    with pytest.raises((ValidationError, IntegrityError)), transaction.atomic():
        services.voice_share(data=voice_input(prompt, display="first_name", display_name="  "))
    assert Voice.objects.count() == 0
    voice = services.voice_share(data=voice_input(prompt, display="pseudonym", display_name="  Prairie   Rose "))
    assert voice.shown_name == "Prairie Rose"
    anonymous = services.voice_share(data=voice_input(prompt, display="anonymous", display_name="Ignored"))
    assert anonymous.display_name == "" and anonymous.shown_name == ""


@pytest.mark.parametrize("page_language", ["en", "fr"])
def test_the_code_email_is_in_the_page_language(prompt, run_tasks, page_language):
    voice = services.voice_share(data=voice_input(prompt, page_language=page_language, language="en"))
    run_tasks()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    code = code_from(message)
    assert message.to == ["amara@example.org"]
    with translation.override(page_language):
        subject = gettext("Your code to confirm your voice: %(code)s") % {"code": code}
        greeting = gettext("Hello,")
        keep = gettext("Keep this email: this private link lets you see, edit or withdraw your voice at any time:")
    assert message.subject == subject
    assert greeting in message.body and keep in message.body
    assert f"http://testserver/{page_language}/voices/mine/{voice.public_id}/" in message.body
    assert f"http://testserver/{page_language}/voices/confirm/{voice.public_id}/" in message.body
    if page_language == "fr":
        assert "Your code to confirm" not in message.subject
        assert "Keep this email" not in message.body, "the French email has English text (translation missing)"
    # The code is stored as a hash only.
    voice.refresh_from_db()
    assert voice.code_hash and code not in voice.code_hash


# --- confirmation ------------------------------------------------------------------------------------


def test_the_right_code_sends_the_voice_for_review(prompt, run_tasks):
    voice = services.voice_share(data=voice_input(prompt))
    run_tasks()
    confirmed = services.voice_confirm_with_code(email="AMARA@example.org", code=f" {code_from(mail.outbox[0])} ")
    assert confirmed.pk == voice.pk
    confirmed.refresh_from_db()
    assert confirmed.status == Voice.Status.SUBMITTED
    assert confirmed.submitted_at is not None
    assert confirmed.code_hash == ""
    # Confirming again is harmless: the code is spent.
    with pytest.raises(services.ConfirmError) as error:
        services.voice_confirm_with_code(email="amara@example.org", code=code_from(mail.outbox[0]))
    assert error.value.reason == "invalid"


def test_a_wrong_code_counts_and_too_many_block_the_voice(prompt, run_tasks, settings):
    settings.PLEDGE_CODE_MAX_ATTEMPTS = 3
    voice = services.voice_share(data=voice_input(prompt))
    run_tasks()
    code = code_from(mail.outbox[0])
    wrong = "000000" if code != "000000" else "111111"
    for expected in ("invalid", "invalid", "attempts"):
        with pytest.raises(services.ConfirmError) as error:
            services.voice_confirm_with_code(email="amara@example.org", code=wrong)
        assert error.value.reason == expected
    voice.refresh_from_db()
    assert voice.code_attempts == 3
    # Now even the right code is refused.
    with pytest.raises(services.ConfirmError):
        services.voice_confirm_with_code(email="amara@example.org", code=code)
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PENDING


def test_an_unknown_email_or_malformed_email_is_invalid(prompt):
    for email in ("nobody@example.org", "not an email"):
        with pytest.raises(services.ConfirmError) as error:
            services.voice_confirm_with_code(email=email, code="123456")
        assert error.value.reason == "invalid"


def test_an_expired_voice_cannot_be_confirmed_and_is_purged(prompt, run_tasks):
    voice = services.voice_share(data=voice_input(prompt))
    run_tasks()
    code = code_from(mail.outbox[0])
    Voice.objects.filter(pk=voice.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(services.ConfirmError) as error:
        services.voice_confirm_with_code(email="amara@example.org", code=code)
    assert error.value.reason == "expired"
    with pytest.raises(services.ConfirmError) as error:
        services.voice_confirm_with_link(voice=voice)
    assert error.value.reason == "expired"
    assert services.voice_issue_code(voice_id=voice.pk) is None
    kept = VoiceFactory(prompt=prompt)  # a pending voice not yet expired stays
    assert services.voices_purge_expired() == 1
    assert not Voice.objects.filter(pk=voice.pk).exists()
    assert not ConsentRecord.objects.filter(subject=voice.consent_subject).exists()
    assert Voice.objects.filter(pk=kept.pk).exists()


def test_the_link_confirms_once_and_never_a_withdrawn_voice(prompt):
    voice = services.voice_share(data=voice_input(prompt))
    assert services.voice_confirm_with_link(voice=voice).status == Voice.Status.SUBMITTED
    first = Voice.objects.get(pk=voice.pk).submitted_at
    assert services.voice_confirm_with_link(voice=voice).submitted_at == first
    services.voice_withdraw(voice=voice)
    with pytest.raises(services.ConfirmError) as error:
        services.voice_confirm_with_link(voice=voice)
    assert error.value.reason == "withdrawn"


# --- near-duplicates -----------------------------------------------------------------------------------

LONG = (
    "Belonging starts when the town hall translates its notices, when the school invites parents in their own "
    "language, and when the community centre stays open late enough for shift workers to come to the meetings."
)


def test_a_near_identical_second_voice_is_marked_as_a_duplicate(prompt, run_tasks):
    first = share_and_submit(prompt, run_tasks, text=LONG, email="first@example.org")
    assert first.duplicate_of_id is None
    second = share_and_submit(
        prompt, run_tasks, text=LONG.replace("late enough", "late  enough") + "!", email="second@example.org"
    )
    second.refresh_from_db()
    assert second.duplicate_of_id == first.pk
    # A third copy joins the same group (the root), not a chain.
    third = share_and_submit(prompt, run_tasks, text=LONG.replace("Belonging", "belonging"), email="third@example.org")
    third.refresh_from_db()
    assert third.duplicate_of_id == first.pk
    different = share_and_submit(
        prompt,
        run_tasks,
        text="My grandmother taught me to fish on the river every spring, and that is where I felt at home.",
        email="fourth@example.org",
    )
    different.refresh_from_db()
    assert different.duplicate_of_id is None
    assert set(selectors.near_duplicates(first)) == {second, third}
    assert set(selectors.queue(duplicates_only=True)) == {first, second, third}


# --- edit ----------------------------------------------------------------------------------------------


def test_editing_a_claimed_voice_returns_it_to_the_queue_and_releases_the_claim(prompt, run_tasks, moderator):
    voice = share_and_submit(prompt, run_tasks)
    services.voice_claim(voice=voice, moderator=moderator)
    edited = services.voice_edit(
        voice=voice,
        data=voice_input(prompt, text="Our library, on Tuesdays, became a second home for everyone.", kind="thought"),
    )
    edited.refresh_from_db()
    assert edited.status == Voice.Status.SUBMITTED
    assert edited.claimed_by is None and edited.claimed_at is None
    assert edited.text == "Our library, on Tuesdays, became a second home for everyone."
    assert edited.kind == "thought"
    assert "second home" in edited.search_text
    assert ModerationAction.objects.filter(voice=voice, action=ModerationAction.Action.RESUBMIT).count() == 1


def test_editing_a_returned_voice_sends_it_back_for_review(prompt, run_tasks, moderator):
    voice = share_and_submit(prompt, run_tasks)
    services.voice_return(voice=voice, moderator=moderator, note="Please remove the street name.")
    services.voice_edit(voice=voice, data=voice_input(prompt, text="Our library welcomed everyone."))
    voice.refresh_from_db()
    assert voice.status == Voice.Status.SUBMITTED
    assert list(selectors.queue()) == [voice]
    assert [a.action for a in voice.actions.order_by("id")] == ["return", "resubmit"]


def test_editing_replaces_self_identification_and_records_new_consents(prompt, run_tasks):
    voice = share_and_submit(
        prompt, run_tasks, consent_self_id=True, self_id=identity.Answers(disability="yes")
    )
    assert SelfIdentification.objects.get(voice=voice).communities == ",disability,"
    services.voice_edit(voice=voice, data=voice_input(prompt, consent_self_id=False, consent_publish=False))
    assert not SelfIdentification.objects.filter(voice=voice).exists()
    assert latest_consents(voice) == {"publish_voice": False, "analysis": True, "self_id_stats": False}
    assert len(consents_of(voice)) == 6


@pytest.mark.parametrize("status", ["published", "accepted", "rejected", "withdrawn"])
def test_editing_is_refused_once_decided(prompt, status):
    voice = VoiceFactory(prompt=prompt, published=True)
    Voice.objects.filter(pk=voice.pk).update(
        status=status,
        **({"text": "", "email": "", "withdrawn_at": timezone.now()} if status == "withdrawn" else {}),
    )
    voice.refresh_from_db()
    with pytest.raises(services.ModerationError) as error:
        services.voice_edit(voice=voice, data=voice_input(prompt, text="Changed after the decision."))
    assert error.value.reason == "state"
    voice.refresh_from_db()
    assert voice.text != "Changed after the decision."
    assert voice.status == status


# --- withdrawal -----------------------------------------------------------------------------------------


def test_withdrawal_erases_unpublishes_and_leaves_the_analysis(client, prompt, run_tasks, moderator):
    voice = share_and_submit(
        prompt,
        run_tasks,
        title="Tuesday library",
        community="Sudbury",
        display="first_name",
        display_name="Amara",
        consent_self_id=True,
        self_id=identity.Answers(gender="woman"),
    )
    services.voice_approve(voice=voice, moderator=moderator, note="Thank you, Amara from Sudbury.")
    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    assert list(selectors.voices_for_analysis(prompt.campaign)) == [voice]
    detail = f"/en/voices/{voice.public_id}/"
    assert client.get(detail).status_code == 200
    assert "Tuesday library" in client.get("/en/voices/").content.decode()
    assert client.get("/api/v1/voices").json()["count"] == 1

    services.voice_withdraw(voice=voice)
    voice.refresh_from_db()
    assert voice.status == Voice.Status.WITHDRAWN
    assert voice.withdrawn_at is not None
    assert voice.moderator_note == ""
    assert (voice.text, voice.redacted_text, voice.title, voice.community) == ("", "", "", "")
    assert (voice.email, voice.email_normalized, voice.display_name, voice.search_text) == ("", "", "", "")
    assert voice.display == "anonymous" and voice.fingerprint is None
    assert not SelfIdentification.objects.filter(voice=voice).exists()
    # Unpublished everywhere.
    assert client.get(detail).status_code == 404
    gallery = client.get("/en/voices/").content.decode()
    assert "Tuesday library" not in gallery and "newcomers and old-timers" not in gallery
    assert client.get("/api/v1/voices").json() == {"count": 0, "page": 1, "page_size": 50, "pages": 0, "results": []}
    csv_text = b"".join(client.get("/en/voices/voices.csv").streaming_content).decode("utf-8-sig")
    assert csv_text.strip().splitlines()[1:] == []
    assert list(selectors.gallery()) == []
    # Out of the analysis, with a "not given" consent line for each purpose.
    assert list(selectors.voices_for_analysis(prompt.campaign)) == []
    assert latest_consents(voice) == {"publish_voice": False, "analysis": False, "self_id_stats": False}
    assert ModerationAction.objects.filter(voice=voice, action="withdraw").count() == 1
    assert not ModerationAction.objects.filter(voice=voice).exclude(note="").exists()
    # Withdrawing twice changes nothing more.
    services.voice_withdraw(voice=voice)
    assert ModerationAction.objects.filter(voice=voice, action="withdraw").count() == 1
    # The aggregates no longer count it.
    cache.clear()
    assert selectors.aggregates().published == 0


def test_withdrawal_ungroups_duplicates(prompt, run_tasks):
    first = share_and_submit(prompt, run_tasks, text=LONG, email="first@example.org")
    second = share_and_submit(prompt, run_tasks, text=LONG + " Yes.", email="second@example.org")
    second.refresh_from_db()
    assert second.duplicate_of_id == first.pk
    services.voice_withdraw(voice=first)
    second.refresh_from_db()
    assert second.duplicate_of_id is None


def test_the_database_refuses_a_withdrawn_voice_that_keeps_its_text(prompt):
    voice = VoiceFactory(prompt=prompt, published=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Voice.objects.filter(pk=voice.pk).update(status="withdrawn", withdrawn_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Voice.objects.filter(pk=voice.pk).update(status="withdrawn", withdrawn_at=timezone.now(), text="")
    Voice.objects.filter(pk=voice.pk).update(status="withdrawn", withdrawn_at=timezone.now(), text="", email="")
    assert Voice.objects.get(pk=voice.pk).status == "withdrawn"


def test_the_database_refuses_publication_without_consent(prompt):
    voice = VoiceFactory(prompt=prompt, submitted=True, consent_publish=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        Voice.objects.filter(pk=voice.pk).update(status="published", published_at=timezone.now())


# --- analysis -------------------------------------------------------------------------------------------


def test_the_analysis_set_follows_the_analysis_consent_not_publication(prompt, run_tasks, moderator):
    unpublished = share_and_submit(
        prompt, run_tasks, email="a@example.org", consent_publish=False, consent_analysis=True
    )
    no_analysis = share_and_submit(
        prompt, run_tasks, email="b@example.org", consent_publish=True, consent_analysis=False,
        text="A completely different voice about the hockey rink and the volunteers who run it.",
    )
    waiting = share_and_submit(
        prompt, run_tasks, email="c@example.org", consent_analysis=True,
        text="Still waiting for review: a voice about the food bank and its Saturday breakfasts.",
    )
    services.voice_approve(voice=unpublished, moderator=moderator)
    services.voice_approve(voice=no_analysis, moderator=moderator)
    unpublished.refresh_from_db()
    no_analysis.refresh_from_db()
    assert unpublished.status == Voice.Status.ACCEPTED and unpublished.published_at is None
    assert no_analysis.status == Voice.Status.PUBLISHED
    analysed = list(selectors.voices_for_analysis(prompt.campaign))
    assert analysed == [unpublished]
    assert waiting not in analysed
    assert list(selectors.gallery()) == [no_analysis]
