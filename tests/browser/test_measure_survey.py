"""The belonging survey in Chromium: answered from start to thanks with the keyboard (and the mouse),
axe-core (WCAG 2.1 A and AA) on every page of the survey and on the organizers' wave pages in English
and French, and a question page on a 375 px phone.

Every check waits for what it looks at (Playwright's ``expect`` retries): the machine may be loaded.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from belonging.accounts.roles import ORGANIZERS, sync_roles
from belonging.core.models import Campaign
from belonging.measure import services
from belonging.measure.models import ImportBatch, Response, Wave
from tests.browser.helpers import has_horizontal_scroll, sign_in, tab_to
from tests.browser.test_axe import assert_accessible
from tests.browser.test_keyboard import is_focused
from tests.measure.conftest import SLUG, create_wave

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def wave(seeded) -> Wave:
    return create_wave(Campaign.objects.get(slug=SLUG))


@pytest.fixture
def invited_wave(seeded) -> Wave:
    return create_wave(
        Campaign.objects.get(slug=SLUG),
        slug="invited",
        title_en="Invited sample",
        title_fr="Échantillon invité",
        sample=Wave.Sample.INVITED,
    )


@pytest.fixture
def organizer(seeded, django_user_model):
    sync_roles()
    user = django_user_model.objects.create_user(username="olivia", email="olivia@example.org", password=PASSWORD)
    user.groups.add(Group.objects.get(name=ORGANIZERS))
    return user


def with_replicate_weights(wave: Wave) -> None:
    """An imported response with two bootstrap replicate weights: the wave becomes import-only."""
    batch = ImportBatch.objects.create(wave=wave, filename="css.csv", rows=1, replicates=2)
    Response.objects.create(
        wave=wave, source=Response.Source.IMPORTED, batch=batch, status=Response.Status.SUBMITTED,
        replicate_weights=bytes(16), started_on=date(2025, 1, 1), submitted_on=date(2025, 1, 1),
    )  # fmt: skip


def survey(lang: str, wave: Wave, suffix: str = "") -> str:
    return f"/{lang}/survey/{SLUG}/{wave.slug}/{suffix}"


def start(page: Page, lang: str, wave: Wave) -> None:
    page.goto(survey(lang, wave))
    page.click("form.survey-start button[type=submit]")
    page.wait_for_url(f"**{survey(lang, wave, 'page/1/')}")


def next_page(page: Page, lang: str, wave: Wave, number: int) -> None:
    page.click("form.survey-page button[value=next]")
    page.wait_for_url(f"**{survey(lang, wave, f'page/{number}/')}")


# --- the whole survey -------------------------------------------------------------------------------


def test_answer_the_whole_survey_with_the_keyboard_and_the_mouse(page, wave, screenshot):
    page.goto(survey("en", wave))
    kb = page.keyboard
    tab_to(page, "form.survey-start button[type=submit]")
    kb.press("Enter")
    page.wait_for_url(f"**{survey('en', wave, 'page/1/')}")
    expect(page.locator("#survey-progress")).to_have_text("Page 1 of 5")

    # Page 1: a radio group is one tab stop; Space checks, the arrows move the choice.
    tab_to(page, "input[name=css_belonging][value=very_strong]")
    kb.press("Space")
    kb.press("ArrowDown")
    assert is_focused(page, "input[name=css_belonging][value=somewhat_strong]:checked")
    tab_to(page, "form.survey-page button[value=next]")
    kb.press("Enter")
    page.wait_for_url(f"**{survey('en', wave, 'page/2/')}")
    expect(page.locator("#survey-progress")).to_have_text("Page 2 of 5")

    # Page 2: five statements; answer the first two with the keyboard, skip the rest.
    tab_to(page, "input[name=contribution][value=strongly_agree]")
    kb.press("Space")
    kb.press("Tab")
    assert is_focused(page, "input[name=power][value=strongly_agree]"), "the next group is the next tab stop"
    kb.press("ArrowDown")
    kb.press("ArrowDown")
    assert is_focused(page, "input[name=power][value=neither]:checked")
    tab_to(page, "form.survey-page button[value=next]")
    kb.press("Enter")
    page.wait_for_url(f"**{survey('en', wave, 'page/3/')}")

    # Page 3 with the mouse, by the labels.
    page.get_by_label("Quebec").check()
    page.get_by_label("25 to 29").check()
    page.get_by_label("Woman", exact=True).check()
    next_page(page, "en", wave, 4)

    # Page 4: check boxes with the keyboard.
    tab_to(page, "input[name=population_groups][value=black]")
    kb.press("Space")
    assert page.locator("input[name=population_groups][value=black]").is_checked()
    next_page(page, "en", wave, 5)

    # Going back keeps what was chosen.
    page.click("form.survey-page button[value=previous]")
    page.wait_for_url(f"**{survey('en', wave, 'page/4/')}")
    expect(page.locator("input[name=population_groups][value=black]")).to_be_checked()
    next_page(page, "en", wave, 5)

    page.get_by_label("Less than 5 years ago").check()
    page.get_by_label("English", exact=True).check()
    code = page.locator("#resume-code").inner_text()
    assert len(code) == 19
    screenshot(page, "survey-last-page")
    page.click("form.survey-page button[value=submit]")
    page.wait_for_url(f"**{survey('en', wave, 'thanks/')}")
    expect(page.locator("h1")).to_have_text("Thank you for answering the survey")
    assert page.problems == []  # type: ignore[attr-defined]

    response = Response.objects.get(wave=wave)
    assert response.status == "submitted" and response.language == "en"
    assert response.answers == {
        "css_belonging": "somewhat_strong",
        "contribution": "strongly_agree",
        "power": "neither",
        "province": "QC",
        "age_band": "25_29",
        "gender": "woman",
        "population_groups": ["black"],
        "arrival": "under_5",
        "first_official_language": "english",
    }
    assert response.province == "QC"
    assert response.communities == ",black,newcomer,olmc,racialized,women,youth,"
    # A submitted response cannot be edited: its pages lead to the thanks page.
    page.goto(survey("en", wave, "page/2/"))
    page.wait_for_url(f"**{survey('en', wave, 'thanks/')}")


# --- axe on the survey's pages ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
class TestSurveyPagesAreAccessible:
    def test_start(self, page, wave, lang, screenshot):
        page.goto(survey(lang, wave))
        expect(page.locator("form.survey-start")).to_be_visible()
        screenshot(page, f"survey-start-{lang}")
        assert_accessible(page, lang)

    def test_invited_start_with_an_unknown_code(self, page, invited_wave, lang):
        services.generate_invitations(invited_wave, 1)
        page.goto(survey(lang, invited_wave))
        page.fill("#id_code", "ABCD-EFGH-JK")
        page.click("form.survey-start button[type=submit]")
        expect(page.locator("#error-summary")).to_be_focused()
        expect(page.locator("#id_code")).to_have_value("ABCD-EFGH-JK")
        assert page.locator("#id_code").get_attribute("aria-invalid") == "true"
        assert_accessible(page, lang)

    def test_question_page(self, page, wave, lang, screenshot):
        start(page, lang, wave)
        next_page(page, lang, wave, 2)
        expect(page.locator("form.survey-page fieldset")).to_have_count(5)
        screenshot(page, f"survey-page-2-{lang}")
        assert_accessible(page, lang)

    def test_page_with_an_error(self, page, wave, lang):
        start(page, lang, wave)
        for number in (2, 3, 4):
            next_page(page, lang, wave, number)
        page.check("input[name=indigenous][value=first_nations]")
        page.check("input[name=indigenous][value=prefer_not]")
        page.click("form.survey-page button[value=next]")
        expect(page.locator("#error-summary")).to_be_focused()
        expect(page.locator("input[name=indigenous][value=first_nations]")).to_be_checked()
        assert_accessible(page, lang)
        # The summary's link takes the keyboard to the question.
        page.click("#error-summary a")
        assert is_focused(page, "#id_indigenous_0")

    def test_resume_with_a_wrong_code(self, page, wave, lang):
        page.goto(survey(lang, wave, "resume/"))
        assert_accessible(page, lang)
        page.fill("#id_code", "ABCD-EFGH-JKLM-NPQR")
        page.click("main form button[type=submit]")
        expect(page.locator("#error-summary")).to_be_focused()
        assert_accessible(page, lang)

    def test_thanks(self, page, wave, lang):
        start(page, lang, wave)
        for number in (2, 3, 4, 5):
            next_page(page, lang, wave, number)
        page.click("form.survey-page button[value=submit]")
        page.wait_for_url(f"**{survey(lang, wave, 'thanks/')}")
        assert_accessible(page, lang)

    def test_closed(self, page, wave, lang):
        Wave.objects.filter(pk=wave.pk).update(
            opens_at=timezone.now() - timedelta(days=30), closes_at=timezone.now() - timedelta(days=1)
        )
        page.goto(survey(lang, wave))
        expect(page.locator("#survey-state")).to_be_visible()
        assert_accessible(page, lang)

    def test_import_only(self, page, wave, lang):
        """A wave with imported replicate weights says it cannot be answered here, with no start button."""
        with_replicate_weights(wave)
        page.goto(survey(lang, wave))
        expect(page.locator("#survey-import-only")).to_be_visible()
        expect(page.locator("form.survey-start")).to_have_count(0)
        assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_question_page_fits_a_phone(phone_page, wave, lang):
    start(phone_page, lang, wave)
    assert not has_horizontal_scroll(phone_page)
    next_page(phone_page, lang, wave, 2)  # the longest page: five statements
    expect(phone_page.locator("#resume-code")).to_be_visible()
    assert not has_horizontal_scroll(phone_page)
    for number in (3, 4):
        next_page(phone_page, lang, wave, number)
        assert not has_horizontal_scroll(phone_page)
    phone_page.goto(survey(lang, wave))
    assert not has_horizontal_scroll(phone_page)


# --- the organizers' pages --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
class TestOrganizerPagesAreAccessible:
    def test_waves(self, page, organizer, invited_wave, lang):
        sign_in(page, lang, "olivia", PASSWORD)
        page.goto(f"/{lang}/survey/manage/")
        expect(page.locator(f"a[href='/{lang}/survey/manage/waves/{invited_wave.pk}/']")).to_be_visible()
        assert_accessible(page, lang)

    def test_create_with_errors(self, page, organizer, wave, lang):
        sign_in(page, lang, "olivia", PASSWORD)
        page.goto(f"/{lang}/survey/manage/new/")
        assert_accessible(page, lang)
        page.fill("#id_title_en", "Second baseline")
        page.fill("#id_slug", "second")
        page.fill("#id_opens_on", "2026-05-01")
        page.fill("#id_closes_on", "2026-04-01")
        page.click("form.wave-form button[type=submit]")
        expect(page.locator("#error-summary")).to_be_focused()
        expect(page.locator("#id_title_en")).to_have_value("Second baseline")
        assert_accessible(page, lang)

    def test_wave(self, page, organizer, invited_wave, lang, screenshot):
        sign_in(page, lang, "olivia", PASSWORD)
        page.goto(f"/{lang}/survey/manage/waves/{invited_wave.pk}/")
        expect(page.locator("form.wave-form")).to_be_visible()
        screenshot(page, f"survey-wave-{lang}")
        assert_accessible(page, lang)

    def test_import_only_wave(self, page, organizer, wave, lang):
        with_replicate_weights(wave)
        sign_in(page, lang, "olivia", PASSWORD)
        page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/")
        expect(page.locator("#wave-import-only")).to_be_visible()
        assert_accessible(page, lang)

    def test_invitations(self, page, organizer, invited_wave, lang):
        sign_in(page, lang, "olivia", PASSWORD)
        page.goto(f"/{lang}/survey/manage/waves/{invited_wave.pk}/invitations/")
        assert_accessible(page, lang)
        page.fill("#id_count", "12")
        with page.expect_download() as info:
            page.click("main form button[type=submit]")
        lines = open(info.value.path(), encoding="utf-8-sig").read().splitlines()
        assert lines[0] == "code" and len(lines) == 13
        page.goto(f"/{lang}/survey/manage/waves/{invited_wave.pk}/invitations/")
        expect(page.locator("main")).to_contain_text("12")
        page.fill("#id_count", "0")
        page.click("main form button[type=submit]")
        expect(page.locator("#error-summary")).to_be_focused()
        assert_accessible(page, lang)
