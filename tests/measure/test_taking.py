"""Taking the survey through the Django client: open and invited waves end to end in English and
French, resuming on another device, validation that keeps what was chosen, closed waves, and what is
(not) stored: nothing identifying, no raw token or code anywhere in the database."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import uuid
from datetime import date, timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from belonging.measure import services
from belonging.measure.models import ImportBatch, Invitation, Response, Wave
from tests.measure.conftest import SLUG, add_response, create_wave

pytestmark = pytest.mark.django_db

# Every page's answers (a skipped question is simply not sent).
ANSWERS = [
    {"css_belonging": "very_strong"},
    {"contribution": "strongly_agree", "power": "neither", "belonging": "somewhat_agree", "possibility": "prefer_not"},
    {"province": "QC", "age_band": "18_24", "gender": "woman"},
    {"indigenous": ["not_indigenous"], "population_groups": ["black", "south_asian"], "two_slgbtq": "yes"},
    {"arrival": "under_5", "first_official_language": "english", "financial_difficulty": "difficult"},
]
COMMUNITIES = {"racialized", "black", "women", "2slgbtq", "olmc", "newcomer", "youth", "financial_difficulty"}


def in_french(message: str) -> str:
    with translation.override("fr"):
        return gettext(message)


def url(lang: str, wave: Wave, suffix: str = "") -> str:
    return f"/{lang}/survey/{SLUG}/{wave.slug}/{suffix}"


def page_url(lang: str, wave: Wave, number: int) -> str:
    return url(lang, wave, f"page/{number}/")


def resume_code(html: str) -> str:
    found = re.search(r'id="resume-code"[^>]*>([A-Z0-9-]+)<', html)
    assert found, "no resume code on the page"
    return found.group(1)


def start(client: Client, lang: str, wave: Wave, **data) -> object:
    return client.post(url(lang, wave), data)


def stored(response: Response) -> Response:
    return Response.objects.get(pk=response.pk)


def only_response(wave: Wave) -> Response:
    [found] = Response.objects.filter(wave=wave)
    return found


# --- open sample, end to end ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_open_survey_end_to_end_with_a_resume_on_another_device(client, wave, lang):
    first = client.get(url(lang, wave))
    assert first.status_code == 200
    html = first.content.decode()
    assert f'<html lang="{lang}">' in html
    assert (wave.title_en if lang == "en" else wave.title_fr) in html
    assert 'name="code"' not in html  # an open sample needs no code
    for needed in (
        "Every question is optional. You can skip any question or choose “Prefer not to answer”.",
        "It is anonymous. We do not ask for your name, email or address, and we store nothing that could identify "
        "you with your answers: no account, no IP address, only the date.",
    ):
        assert escape(in_french(needed) if lang == "fr" else needed) in html

    started = start(client, lang, wave)
    assert started.status_code == 302 and started["Location"] == page_url(lang, wave, 1)
    response = only_response(wave)
    assert response.language == lang and response.status == "in_progress"
    assert response.started_on == timezone.localdate() and response.page == 0

    for number in (1, 2, 3):
        shown = client.get(page_url(lang, wave, number))
        assert shown.status_code == 200
        text = shown.content.decode()
        with translation.override(lang):
            assert gettext("Page %(number)s of %(total)s") % {"number": number, "total": 5} in text
        assert 'type="radio"' in text and "<fieldset" in text and "<legend>" in text
        sent = client.post(page_url(lang, wave, number), {**ANSWERS[number - 1], "action": "next"})
        assert sent.status_code == 302 and sent["Location"] == page_url(lang, wave, number + 1)
    code = resume_code(client.get(page_url(lang, wave, 4)).content.decode())
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}", code)

    # Another device: no cookie; the resume page takes the code however it is typed.
    phone = Client()
    assert phone.get(page_url(lang, wave, 4)).status_code == 302  # nothing to continue yet
    resumed = phone.post(url(lang, wave, "resume/"), {"code": " " + code.lower().replace("-", " ") + " "})
    assert resumed.status_code == 302 and resumed["Location"] == page_url(lang, wave, 4)
    page4 = phone.get(page_url(lang, wave, 4)).content.decode()
    assert resume_code(page4) == code
    assert phone.post(page_url(lang, wave, 4), {**ANSWERS[3], "action": "next"})["Location"] == page_url(lang, wave, 5)
    last = phone.get(page_url(lang, wave, 5)).content.decode()
    assert 'value="submit"' in last
    done = phone.post(page_url(lang, wave, 5), {**ANSWERS[4], "action": "submit"})
    assert done.status_code == 302 and done["Location"] == url(lang, wave, "thanks/")
    assert phone.get(done["Location"]).status_code == 200

    response = stored(response)
    assert response.status == "submitted" and response.submitted_on == timezone.localdate()
    assert response.language == lang  # the language it was started in
    assert response.answers == {
        "css_belonging": "very_strong",
        "contribution": "strongly_agree",
        "power": "neither",
        "belonging": "somewhat_agree",
        "possibility": "prefer_not",
        "province": "QC",
        "age_band": "18_24",
        "gender": "woman",
        "indigenous": ["not_indigenous"],
        "population_groups": ["south_asian", "black"],  # in the questionnaire's order
        "two_slgbtq": "yes",
        "arrival": "under_5",
        "first_official_language": "english",
        "financial_difficulty": "difficult",
    }
    assert response.province == "QC"
    assert set(response.communities.strip(",").split(",")) == COMMUNITIES
    assert response.communities.startswith(",") and response.communities.endswith(",")
    assert response.page == 5
    # The first device, too, now lands on the thanks page: a submitted response cannot be edited.
    assert client.get(page_url(lang, wave, 2))["Location"] == url(lang, wave, "thanks/")


def test_previous_saves_the_page_and_earlier_pages_are_never_lost(client, wave):
    start(client, "en", wave)
    client.post(page_url("en", wave, 1), {**ANSWERS[0], "action": "next"})
    client.post(page_url("en", wave, 2), {**ANSWERS[1], "action": "next"})
    back = client.post(page_url("en", wave, 3), {"province": "NU", "action": "previous"})
    assert back["Location"] == page_url("en", wave, 2)
    response = only_response(wave)
    assert response.answers["province"] == "NU" and response.answers["css_belonging"] == "very_strong"
    assert response.page == 3  # the furthest page reached stays
    shown = client.get(page_url("en", wave, 2)).content.decode()
    assert re.search(r'value="strongly_agree"[^>]*checked|checked[^>]*value="strongly_agree"', shown)
    # Changing page 2 replaces page 2's answers only; a question now left blank is missing.
    client.post(page_url("en", wave, 2), {"contribution": "somewhat_disagree", "action": "next"})
    answers = stored(response).answers
    assert answers["contribution"] == "somewhat_disagree"
    assert "power" not in answers and "belonging" not in answers
    assert answers["css_belonging"] == "very_strong" and answers["province"] == "NU"


def test_every_question_can_be_skipped(client, wave):
    start(client, "en", wave)
    for number in range(1, 5):
        assert client.post(page_url("en", wave, number), {"action": "next"}).status_code == 302
    assert client.post(page_url("en", wave, 5), {"action": "submit"})["Location"] == url("en", wave, "thanks/")
    response = only_response(wave)
    assert response.status == "submitted" and response.answers == {}
    assert response.province == "" and response.communities == ""


def test_prefer_not_to_answer_for_the_province_derives_no_province(client, wave):
    start(client, "en", wave)
    client.post(page_url("en", wave, 1), {"action": "next"})
    client.post(page_url("en", wave, 2), {"action": "next"})
    client.post(page_url("en", wave, 3), {"province": "prefer_not", "gender": "non_binary", "action": "next"})
    client.post(page_url("en", wave, 4), {"action": "next"})
    client.post(page_url("en", wave, 5), {"first_official_language": "french", "action": "submit"})
    response = only_response(wave)
    assert response.province == "" and response.communities == ",gender_diverse,"  # no province: no OLMC


def test_pages_are_reached_in_order_and_unknown_pages_are_not_found(client, wave):
    assert client.get(page_url("en", wave, 1))["Location"] == url("en", wave)  # nothing started here
    start(client, "en", wave)
    assert client.get(page_url("en", wave, 3))["Location"] == page_url("en", wave, 1)
    assert client.get(page_url("en", wave, 5))["Location"] == page_url("en", wave, 1)  # not reached yet
    assert client.get(page_url("en", wave, 9)).status_code == 404  # the questionnaire has 5 pages
    client.post(page_url("en", wave, 1), {"action": "next"})
    assert client.get(page_url("en", wave, 2)).status_code == 200
    assert client.get(page_url("en", wave, 0)).status_code == 404
    assert client.get(url("en", wave, "thanks/"))["Location"] == url("en", wave)  # not submitted yet
    assert client.get(f"/en/survey/{SLUG}/no-such-wave/").status_code == 404


def test_the_start_page_offers_to_continue_on_this_device(client, wave):
    start(client, "en", wave)
    client.post(page_url("en", wave, 1), {"action": "next"})
    html = client.get(url("en", wave)).content.decode()
    assert "Continue where you left off" in html and page_url("en", wave, 2) in html
    assert "Start a new response" in html  # someone else on a shared device can still start


def test_a_start_form_sent_twice_starts_one_response(client, wave):
    key = str(uuid.uuid4())
    first = client.post(url("en", wave), {"request_key": key})
    again = Client().post(url("en", wave), {"request_key": key})  # the second request, its cookie lost
    assert first.status_code == again.status_code == 302
    assert Response.objects.filter(wave=wave).count() == 1
    assert first.cookies[f"survey{wave.pk}"].value == again.cookies[f"survey{wave.pk}"].value


def test_one_form_key_sent_to_two_waves_starts_a_response_in_each(client, wave, make_wave):
    """The key comes from the client: the same key on another wave's start page gives another token
    (the wave is part of it), so it starts a response there instead of clashing (it was a 500)."""
    other = make_wave(slug="follow-up", kind=Wave.Kind.FOLLOW_UP)
    key = str(uuid.uuid4())
    first = client.post(url("en", wave), {"request_key": key})
    second = client.post(url("en", other), {"request_key": key})
    assert first.status_code == second.status_code == 302
    assert second["Location"] == page_url("en", other, 1)
    mine, theirs = only_response(wave), only_response(other)
    assert mine.token_hash != theirs.token_hash
    assert first.cookies[f"survey{wave.pk}"].value != second.cookies[f"survey{other.pk}"].value
    # Sent again to each wave: still one response in each.
    assert Client().post(url("en", other), {"request_key": key}).status_code == 302
    assert Response.objects.filter(wave=other).count() == 1 and Response.objects.count() == 2


def test_a_token_already_taken_by_another_wave_starts_with_a_random_token(client, wave, make_wave):
    """Should a form's token ever clash with another wave's response, the start still succeeds, with a
    random token, and the other response is untouched."""
    other = make_wave(slug="follow-up", kind=Wave.Kind.FOLLOW_UP)
    taken, taken_token = services.start_response(other, language="en")
    with mock.patch.object(services, "_token_for_key", return_value=taken_token):
        started = client.post(url("en", wave), {"request_key": str(uuid.uuid4())})
        response, token = services.start_response(wave, language="fr", request_key=uuid.uuid4())
    assert started.status_code == 302 and started["Location"] == page_url("en", wave, 1)
    assert token != taken_token and response.wave == wave and response.language == "fr"
    assert Response.objects.filter(wave=wave).count() == 2
    assert services.find_response(other, taken_token) == taken
    assert services.find_response(wave, taken_token) is None
    # The device's cookie holds the new token, which finds its response.
    assert client.get(page_url("en", wave, 1)).status_code == 200


def test_an_integrity_error_that_is_not_a_clash_of_tokens_is_not_hidden(wave):
    with mock.patch.object(services, "_create_response", side_effect=IntegrityError("disk")):
        with pytest.raises(IntegrityError):
            services.start_response(wave, language="en")


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_prefer_not_cannot_be_combined_and_the_choices_are_kept(client, wave, lang):
    start(client, lang, wave)
    for number in (1, 2, 3):
        client.post(page_url(lang, wave, number), {"action": "next"})
    sent = client.post(
        page_url(lang, wave, 4),
        {"indigenous": ["prefer_not", "first_nations"], "population_groups": ["black"], "action": "next"},
    )
    assert sent.status_code == 400
    html = sent.content.decode()
    message = "“Prefer not to answer” cannot be combined with another answer"
    assert (in_french(message) if lang == "fr" else message) in html
    assert 'id="error-summary"' in html and 'href="#id_indigenous_0"' in html
    for code in ("prefer_not", "first_nations", "black"):
        assert re.search(rf'value="{code}"[^>]*checked', html), code
    assert 'aria-invalid="true"' in html or "field-error" in html
    response = only_response(wave)
    assert response.page == 3 and "population_groups" not in response.answers  # nothing half-saved


def test_an_answer_that_is_not_a_choice_is_refused_in_the_visitors_language(client, wave):
    start(client, "fr", wave)
    sent = client.post(page_url("fr", wave, 1), {"css_belonging": "maybe", "action": "next"})
    assert sent.status_code == 400
    with translation.override("fr"):
        expected = gettext("Select a valid choice. %(value)s is not one of the available choices.") % {
            "value": "maybe"
        }
    assert escape(expected) in sent.content.decode()
    assert expected.startswith("Sélectionnez")  # Django's own French catalog
    assert only_response(wave).answers == {}


def test_the_service_refuses_answers_that_do_not_belong_to_the_page(wave):
    response, _token = services.start_response(wave, language="en")
    with pytest.raises(ValueError):
        services.save_page(response, 0, {"province": "ON"})  # page 1 asks css_belonging only
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.save_page(response, 3, {"indigenous": ["prefer_not", "metis"]})
    with pytest.raises(ValueError):
        services.save_page(response, 7, {})
    assert stored(response).answers == {}


# --- invited sample ---------------------------------------------------------------------------------


def test_an_invitation_code_starts_one_response_once(client, invited_wave):
    code, other = services.generate_invitations(invited_wave, 2)
    page = client.get(url("en", invited_wave)).content.decode()
    assert 'name="code"' in page and "Invitation code" in page
    missing = start(client, "en", invited_wave)
    assert missing.status_code == 400 and "Enter the invitation code you received." in missing.content.decode()

    started = start(client, "en", invited_wave, code=code.lower().replace("-", ""))
    assert started.status_code == 302 and started["Location"] == page_url("en", invited_wave, 1)
    response = only_response(invited_wave)
    assert response.status == "in_progress"
    invitation = Invitation.objects.get(code_hash=services.invitation_hash(code))
    assert invitation.used is True
    assert Invitation.objects.get(code_hash=services.invitation_hash(other)).used is False

    # Someone else with the same code: refused, nothing started.
    stranger = Client()
    refused = start(stranger, "en", invited_wave, code=code)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "This invitation code has already been used." in html and 'id="used-here"' not in html
    # The person who used it, on the same device: offered to continue.
    again = start(client, "en", invited_wave, code=code).content.decode()
    assert 'id="used-here"' in again and page_url("en", invited_wave, 1) in again
    assert Response.objects.filter(wave=invited_wave).count() == 1


def test_an_unknown_code_is_refused_in_french(client, invited_wave):
    services.generate_invitations(invited_wave, 1)
    refused = start(client, "fr", invited_wave, code="ABCD-EFGH-JK")
    assert refused.status_code == 400
    html = refused.content.decode()
    assert '<html lang="fr">' in html
    message = (
        "This invitation code is not one of this survey’s codes. Check the code in your invitation and try again."
    )
    assert escape(in_french(message)) in html
    assert not Response.objects.exists()


def test_a_code_of_another_wave_is_unknown(client, invited_wave, make_wave):
    other = make_wave(slug="other-invited", sample=Wave.Sample.INVITED, kind=Wave.Kind.FOLLOW_UP)
    [code] = services.generate_invitations(other, 1)
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(invited_wave, invitation_code=code, language="en")
    assert refused.value.reason == "unknown_code"
    assert Invitation.objects.get().used is False


def test_the_code_is_claimed_by_one_conditional_update(invited_wave):
    """The claim is a single UPDATE … SET used = true WHERE NOT used: whichever request's UPDATE runs second
    matches no row, however the two requests interleave, so a code never starts two responses."""
    [code] = services.generate_invitations(invited_wave, 1)
    with CaptureQueriesContext(connection) as queries:
        services.start_response(invited_wave, invitation_code=code, language="en")
    updates = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and '"used"' in updates[0] and "NOT" in updates[0].upper()
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(invited_wave, invitation_code=code, language="fr")
    assert refused.value.reason == "used_code"
    assert Response.objects.count() == 1


def test_the_day_a_code_was_used_cannot_be_matched_to_the_day_a_response_started(invited_wave):
    """The review's scenario: the organizer keeps who received which code; codes are used on different
    days. Nothing stored on the invitations differs between the codes but the hash and the flag, so
    no date can be joined with a response's ``started_on``."""
    codes = services.generate_invitations(invited_wave, 4)
    mailing = dict(zip(["alice", "bob", "carol", "dan"], codes))
    for day, person in [(3, "alice"), (5, "bob"), (9, "carol")]:
        with mock.patch("belonging.measure.services.timezone.localdate", return_value=date(2026, 5, day)):
            services.start_response(invited_wave, invitation_code=mailing[person], language="en")
    assert sorted(Response.objects.values_list("started_on", flat=True)) == [
        date(2026, 5, 3), date(2026, 5, 5), date(2026, 5, 9)
    ]  # fmt: skip
    rows = list(Invitation.objects.order_by("pk").values())
    assert {(row["used"]) for row in rows} == {True, False}
    for row in rows:
        assert set(row) == {"id", "wave_id", "code_hash", "used", "created_at"}
    assert len({row["created_at"] for row in rows}) == 1  # one time for the batch: when it was made
    # The rows are in the order of their keyed hashes, not the order of the codes handed out.
    assert [row["code_hash"] for row in rows] == sorted(row["code_hash"] for row in rows)


def test_a_leaked_code_list_does_not_match_the_stored_hashes_without_the_key(invited_wave, settings):
    [code] = services.generate_invitations(invited_wave, 1)
    stored = Invitation.objects.get().code_hash
    canonical = services.normalize_code(code).encode()
    assert stored != hashlib.sha256(canonical).hexdigest()
    keyed = hmac.new(settings.SECRET_KEY.encode(), b"measure-invitation:" + canonical, hashlib.sha256)
    assert stored == keyed.hexdigest()
    # Another secret: another hash, so the code is not found under it...
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-of-at-least-thirty-two-characters"
    assert services.invitation_hash(code) != stored
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(invited_wave, invitation_code=code, language="en")
    assert refused.value.reason == "unknown_code"
    # ...unless the old secret is being rotated out (a fallback).
    settings.SECRET_KEY_FALLBACKS = [old_key]
    services.start_response(invited_wave, invitation_code=code, language="en")
    assert Invitation.objects.get().used is True


def test_a_code_made_before_codes_were_keyed_still_starts_the_survey(invited_wave):
    """Codes made before migration 0002 keep their plain SHA-256 hash (the codes are not kept, so it
    cannot be recomputed): a lookup tries it too."""
    code = "ABCD-EFGH-JK"
    Invitation.objects.create(wave=invited_wave, code_hash=hashlib.sha256(b"ABCDEFGHJK").hexdigest())
    response, _token = services.start_response(invited_wave, invitation_code=code.lower(), language="en")
    assert response.wave == invited_wave and Invitation.objects.get().used is True
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(invited_wave, invitation_code=code, language="en")
    assert refused.value.reason == "used_code"


@pytest.mark.django_db(transaction=True)
def test_two_people_racing_with_one_code_start_one_response(campaign):
    if connection.vendor != "postgresql":
        pytest.skip("a real race needs PostgreSQL's row locks (run by .ci/run with DATABASE_URL); SQLite serializes writers")
    wave = create_wave(campaign, slug="race", sample=Wave.Sample.INVITED)
    [code] = services.generate_invitations(wave, 1)
    barrier = threading.Barrier(6)
    started, refused, errors = [], [], []

    def worker() -> None:
        from django.db import connections

        try:
            barrier.wait()
            started.append(services.start_response(wave, invitation_code=code, language="en")[0].pk)
        except services.SurveyError as exc:
            refused.append(exc.reason)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(started) == 1 and refused == ["used_code"] * 5
    assert Response.objects.filter(wave=wave).count() == 1


# --- a wave with imported replicate weights --------------------------------------------------------


def import_rows(wave: Wave, rows: int, replicates: int) -> ImportBatch:
    """Imported responses written straight to the database, as the import writes them."""
    batch = ImportBatch.objects.create(wave=wave, filename="css.csv", rows=rows, replicates=replicates)
    weights = b"\x00\x00\x00\x00\x00\x00\xf0\x3f" * replicates or None  # 1.0, little-endian float64
    for _ in range(rows):
        Response.objects.create(
            wave=wave, source=Response.Source.IMPORTED, batch=batch, status=Response.Status.SUBMITTED,
            answers={"css_belonging": "very_strong"}, replicate_weights=weights,
            started_on=date(2025, 1, 1), submitted_on=date(2025, 1, 1),
        )  # fmt: skip
    return batch


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_wave_with_imported_replicate_weights_cannot_be_answered_here(client, wave, lang):
    """The review's scenario: an open wave gets a file with BSW1–3, then a visitor starts and submits:
    every later computation failed (designs are never mixed). Starting is refused, in the visitor's
    language, and nothing is stored."""
    import_rows(wave, 30, 3)
    message = (
        "This survey cannot be answered on this site: its results come from responses collected by another survey."
    )
    shown = client.get(url(lang, wave))
    html = shown.content.decode()
    assert shown.status_code == 200 and f'<html lang="{lang}">' in html
    expected = message if lang == "en" else in_french(message)
    assert 'id="survey-import-only"' in html and escape(expected) in html
    assert 'class="survey-start"' not in html  # no start button
    posted = client.post(url(lang, wave), {"request_key": str(uuid.uuid4())})
    assert posted.status_code == 200 and escape(expected) in posted.content.decode()
    assert f"survey{wave.pk}" not in posted.cookies
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(wave, language=lang, request_key=uuid.uuid4())
    assert refused.value.reason == "import_only"
    assert Response.objects.filter(source=Response.Source.COLLECTED).count() == 0


def test_a_refusal_that_comes_after_the_page_was_shown_is_worded_for_the_visitor(client, invited_wave):
    """Replicate weights imported between showing the page and sending it: the service refuses and the
    page says why, above the form (the code is not the problem, and is not spent)."""
    [code] = services.generate_invitations(invited_wave, 1)
    with mock.patch.object(services, "import_only", side_effect=[False, True]):
        refused = start(client, "en", invited_wave, code=code)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "This survey cannot be answered on this site" in html
    assert Invitation.objects.get().used is False and not Response.objects.exists()


def test_imports_without_replicate_weights_leave_the_wave_open_to_answers(client, wave):
    import_rows(wave, 5, 0)
    assert 'class="survey-start"' in client.get(url("en", wave)).content.decode()
    assert start(client, "en", wave).status_code == 302
    assert Response.objects.filter(source=Response.Source.COLLECTED).count() == 1


# --- dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_wave_not_open_yet_says_when_it_opens(client, make_wave, lang):
    now = timezone.now()
    wave = make_wave(slug="later", opens_at=now + timedelta(days=3), closes_at=now + timedelta(days=40))
    shown = client.get(url(lang, wave))
    html = shown.content.decode()
    assert shown.status_code == 200 and 'id="survey-state"' in html
    assert "<form method=\"post\" novalidate aria-labelledby=\"start-title\"" not in html
    from django.utils.formats import date_format

    with translation.override(lang):
        assert date_format(services.first_day(wave), "DATE_FORMAT") in html
    start(client, lang, wave)
    assert not Response.objects.exists()
    with pytest.raises(services.SurveyError) as refused:
        services.start_response(wave, language=lang)
    assert refused.value.reason == "upcoming"


def test_a_closed_wave_keeps_an_unsubmitted_response_but_does_not_count_it(client, wave):
    start(client, "en", wave)
    client.post(page_url("en", wave, 1), {**ANSWERS[0], "action": "next"})
    Wave.objects.filter(pk=wave.pk).update(
        opens_at=timezone.now() - timedelta(days=20), closes_at=timezone.now() - timedelta(minutes=1)
    )
    assert client.get(page_url("en", wave, 2))["Location"] == url("en", wave)
    late = client.post(page_url("en", wave, 2), {**ANSWERS[1], "action": "next"})
    assert late["Location"] == url("en", wave)
    closed = client.get(url("en", wave)).content.decode()
    assert "This survey is closed." in closed and "is not counted in the results" in closed
    response = only_response(wave)
    assert response.status == "in_progress" and response.answers == ANSWERS[0]  # kept, not changed, not submitted
    assert start(client, "en", wave).status_code == 200 and Response.objects.count() == 1
    with pytest.raises(services.SurveyError) as refused:
        services.submit(response)
    assert refused.value.reason == "closed"


# --- after submission -------------------------------------------------------------------------------


def test_a_submitted_response_cannot_change(client, wave):
    start(client, "en", wave)
    for number in range(1, 5):
        client.post(page_url("en", wave, number), {**ANSWERS[number - 1], "action": "next"})
    client.post(page_url("en", wave, 5), {**ANSWERS[4], "action": "submit"})
    response = only_response(wave)
    before = response.answers
    changed = client.post(page_url("en", wave, 1), {"css_belonging": "very_weak", "action": "next"})
    assert changed["Location"] == url("en", wave, "thanks/")
    assert stored(response).answers == before
    with pytest.raises(services.SurveyError):
        services.save_page(response, 0, {"css_belonging": "very_weak"})
    with pytest.raises(services.SurveyError):
        services.submit(response)


def test_the_thanks_page_links_to_published_results(client, wave):
    start(client, "en", wave)
    for number in range(1, 5):
        client.post(page_url("en", wave, number), {"action": "next"})
    client.post(page_url("en", wave, 5), {"action": "submit"})
    dashboard = f"/en/survey/{SLUG}/results/"
    assert dashboard not in client.get(url("en", wave, "thanks/")).content.decode()
    Wave.objects.filter(pk=wave.pk).update(is_published=True)
    assert dashboard in client.get(url("en", wave, "thanks/")).content.decode()


# --- rate limits ------------------------------------------------------------------------------------


def test_starting_many_responses_from_one_connection_is_limited(client, wave, settings):
    settings.SURVEY_RATE_PER_IP = "2/h"
    assert start(client, "en", wave).status_code == 302
    assert Client().post(url("en", wave)).status_code == 302
    refused = Client().post(url("en", wave))
    assert refused.status_code == 429 and "Please try again in an hour." in refused.content.decode()
    assert Response.objects.count() == 2
    assert Client(REMOTE_ADDR="198.51.100.9").post(url("en", wave)).status_code == 302  # another connection


def test_guessing_codes_is_limited(client, invited_wave, settings):
    settings.SURVEY_CODE_RATE_PER_IP = "2/h"
    [code] = services.generate_invitations(invited_wave, 1)
    for guess in ("AAAA-AAAA-AA", "BBBB-BBBB-BB", "CCCC-CCCC-CC"):
        start(client, "en", invited_wave, code=guess)
    refused = start(client, "en", invited_wave, code=code)
    assert refused.status_code == 429
    assert Invitation.objects.get().used is False  # the right code was not spent on a refusal
    assert start(Client(REMOTE_ADDR="198.51.100.9"), "en", invited_wave, code=code).status_code == 302


def test_a_wrong_resume_code_is_refused_and_guessing_is_limited(client, wave, settings):
    settings.SURVEY_CODE_RATE_PER_IP = "2/h"
    wrong = client.post(url("en", wave, "resume/"), {"code": "ABCD-EFGH-JKLM-NPQR"})
    assert wrong.status_code == 400
    assert "No answers to this survey were found with this code." in wrong.content.decode()
    assert client.post(url("en", wave, "resume/"), {"code": ""}).status_code == 400
    for _ in range(3):
        client.post(url("en", wave, "resume/"), {"code": "ABCD-EFGH-JKLM-NPQ2"})
    assert client.post(url("en", wave, "resume/"), {"code": "ABCD-EFGH-JKLM-NPQ3"}).status_code == 429


# --- nothing identifying ----------------------------------------------------------------------------


def _every_stored_value() -> str:
    """Every row of every table, as text (responses, invitations, sessions, caches: everything)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_nothing_identifying_is_stored_with_the_answers(organizer, invited_wave):
    """A signed-in organizer takes the invited survey from a known address: the response keeps no user,
    email, IP address, time of day or link to the code; the token and the code are nowhere in the database."""
    [code] = services.generate_invitations(invited_wave, 1)
    client = Client(REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="Mozilla/5.0 (Test; Distinctive-UA/9.9)")
    client.force_login(organizer)
    start(client, "en", invited_wave, code=code)
    token = resume_code(client.get(page_url("en", invited_wave, 1)).content.decode())
    for number in range(1, 5):
        client.post(page_url("en", invited_wave, number), {**ANSWERS[number - 1], "action": "next"})
    client.post(page_url("en", invited_wave, 5), {**ANSWERS[4], "action": "submit"})
    response = only_response(invited_wave)
    assert response.status == "submitted"

    # The model: no relation but the wave (and an import batch), no date-time, no IP or email field.
    for field in Response._meta.concrete_fields:
        assert not isinstance(field, models.DateTimeField | models.GenericIPAddressField | models.EmailField), field
        if field.is_relation:
            assert field.name in ("wave", "batch"), field.name
    assert not any(f.is_relation and f.related_model is Response for f in Invitation._meta.get_fields())
    invitation = Invitation.objects.get()
    assert invitation.used is True
    # The invitation keeps no date or time of use: only a flag, and when its batch was made.
    assert not any(
        isinstance(f, models.DateField | models.DateTimeField) and f.name != "created_at"
        for f in Invitation._meta.concrete_fields
    )

    # The row: its values hold nothing of the person, their connection, the code or the token.
    row = repr(Response.objects.filter(pk=response.pk).values().get())
    for secret in (
        "203.0.113.77", "Distinctive-UA", organizer.email, organizer.username,
        code, services.normalize_code(code), token, services.normalize_code(token), invitation.code_hash,
    ):  # fmt: skip
        assert secret not in row, secret
    assert response.token_hash == hashlib.sha256(services.normalize_code(token).encode()).hexdigest()

    # The whole database (the organizer's session included) holds neither the token nor the code.
    everything = _every_stored_value()
    for secret in (token, services.normalize_code(token), token.lower(), code, services.normalize_code(code)):
        assert secret not in everything, secret
    assert "203.0.113.77" not in everything


def test_the_response_remembered_on_the_device_is_signed(client, wave):
    start(client, "en", wave)
    cookie = client.cookies[f"survey{wave.pk}"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    client.cookies[f"survey{wave.pk}"] = "ABCDEFGHJKLMNPQR"  # forged: not signed
    assert client.get(page_url("en", wave, 1))["Location"] == url("en", wave)


def test_a_response_of_another_wave_cannot_be_resumed_here(client, wave, make_wave):
    other = make_wave(slug="follow-up", kind=Wave.Kind.FOLLOW_UP)
    _response, token = services.start_response(other, language="en")
    assert services.find_response(wave, token) is None
    assert client.post(url("en", wave, "resume/"), {"code": token}).status_code == 400
    assert services.find_response(other, token) is not None
    assert services.find_response(other, "") is None and services.find_response(other, None) is None


def test_imported_responses_are_never_found_by_a_token(wave):
    add_response(wave, {"css_belonging": "very_strong"})
    assert services.find_response(wave, "ABCD-EFGH-JKLM-NPQR") is None
