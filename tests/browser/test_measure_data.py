"""The organizers' survey data pages in the browser: axe-core on the import page (empty, after a check,
and with a refused file), the margins page and the compute page, in English and French; the error
summary takes the focus; the pages fit a phone.

Waves and responses are written straight to the database; every check waits for what it looks at.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from belonging.accounts.roles import ORGANIZERS, sync_roles
from belonging.core.models import Campaign
from belonging.measure import estimation
from belonging.measure.models import Margin
from tests.browser.helpers import has_horizontal_scroll, sign_in
from tests.browser.test_axe import assert_accessible
from tests.measure.conftest import SLUG, add_response, create_wave

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]
PASSWORD = "correct horse battery staple"

GOOD = (
    "GEO_PRV,PSC_Q1,contribution,WTS_M,BSW1,BSW2,BSW3\n"
    "35,1,strongly_agree,1200.5,0,2401,1200.5\n"
    "24,2,neither,800,800,0,1600\n"
)
BAD = (
    "GEO_PRV,PSC_Q1,contribution,WTS_M,BSW1,BSW2,BSW3\n"
    "35,1,strongly_agree,heavy,0,2401,1200.5\n"
    "24,2,neither,800,,0,1600\n"
    "99,2,neither,800,800,0\n"
)


@pytest.fixture
def organizer(seeded, django_user_model):
    sync_roles()
    user = django_user_model.objects.create_user(username="olivia", email="olivia@example.org", password=PASSWORD)
    user.groups.add(Group.objects.get(name=ORGANIZERS))
    return user


@pytest.fixture
def wave(seeded):
    return create_wave(Campaign.objects.get(slug=SLUG))


def _people(wave, count: int = 24) -> None:
    answers = ["very_strong", "somewhat_strong", "somewhat_weak", "very_weak"]
    for i in range(count):
        add_response(
            wave,
            {
                "css_belonging": answers[i % 4],
                "contribution": "somewhat_agree" if i % 3 else "strongly_disagree",
                "province": "ON" if i % 2 else "QC",
                "gender": "woman" if i % 3 else "man",
                "age_band": "prefer_not" if i == 0 else "35_44",
            },
            weight=1.0 + (i % 5) / 2,
        )


def _fill_mapping(page) -> None:
    page.fill("#id_weight_column", "WTS_M")
    page.fill("#id_replicate_columns", "BSW")
    page.fill("#id_column_province", "GEO_PRV")
    page.fill("#id_values_province", "24=QC; 35=ON")
    page.fill("#id_column_css_belonging", "PSC_Q1")
    page.fill("#id_values_css_belonging", "1=very_strong; 2=somewhat_strong")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_import_page_is_accessible(page, organizer, wave, lang, screenshot):
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/import/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("fieldset.import-item")).to_have_count(len(wave.questions.items))
    screenshot(page, f"measure-import-{lang}")
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_refused_file_lists_every_bad_line_accessibly(page, organizer, wave, lang, screenshot):
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/import/")
    _fill_mapping(page)
    page.set_input_files("#id_file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": BAD.encode()}])
    page.click("button[value=import]")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator(".row-problems li")).to_have_count(3)
    texts = page.locator(".row-problems li").all_inner_texts()
    assert [t.split(":")[0].split()[-1] for t in texts] == ["2", "3", "4"]  # "Line 2" / "Ligne 2"
    expect(page.locator("#id_weight_column")).to_have_value("WTS_M")  # what was typed is kept
    screenshot(page, f"measure-import-errors-{lang}")
    assert_accessible(page, lang)


def test_a_form_error_is_announced_and_linked(page, organizer, wave):
    sign_in(page, "en", "olivia", PASSWORD)
    page.goto(f"/en/survey/manage/waves/{wave.pk}/import/")
    page.fill("#id_values_css_belonging", "1=strong")
    page.click("button[value=check]")
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.locator("#id_values_css_belonging").get_attribute("aria-invalid") == "true"
    expect(page.locator("#id_values_css_belonging")).to_have_value("1=strong")
    assert_accessible(page, "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_checked_file_shows_its_preview_accessibly(page, organizer, wave, lang):
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/import/")
    _fill_mapping(page)
    page.set_input_files("#id_file", files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": GOOD.encode()}])
    page.click("button[value=check]")
    expect(page.locator("#preview-title")).to_be_visible()
    expect(page.locator(".notice[role=status]")).to_be_visible()
    assert wave.responses.count() == 0
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_margins_page_is_accessible(page, organizer, wave, lang, screenshot):
    _people(wave)
    Margin.objects.bulk_create(
        [
            Margin(wave=wave, variable="province", category="ON", population=600),
            Margin(wave=wave, variable="province", category="NU", population=10),
            Margin(wave=wave, variable="gender", category="woman", population=510),
        ]
    )
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/margins/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("p.error-text")).to_have_count(2)  # QC and man lack a margin
    screenshot(page, f"measure-margins-{lang}")
    assert_accessible(page, lang)
    page.set_input_files(
        "#id_file",
        files=[{"name": "m.csv", "mimeType": "text/csv", "buffer": b"variable,category,population\nprovince,ZZ,3\n"}],
    )
    page.click("form.margins-form button[type=submit]")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator(".row-problems li")).to_have_count(1)
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compute_page_is_accessible(page, organizer, wave, lang, screenshot):
    _people(wave)
    Margin.objects.bulk_create(
        [
            Margin(wave=wave, variable="gender", category="woman", population=510),
            Margin(wave=wave, variable="gender", category="man", population=490),
        ]
    )
    estimation.compute_estimates(wave)
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/compute/")
    expect(page.locator("#summary-title")).to_be_visible()
    screenshot(page, f"measure-compute-{lang}")
    assert_accessible(page, lang)
    page.click("form.compute-form button[type=submit]")  # queued: the page says so
    expect(page.locator("#computation-pending")).to_be_visible()
    assert_accessible(page, lang)


def test_the_compute_page_before_any_computation(page, organizer, wave):
    sign_in(page, "fr", "olivia", PASSWORD)
    page.goto(f"/fr/survey/manage/waves/{wave.pk}/compute/")
    expect(page.locator("#summary-title")).to_have_count(0)
    assert_accessible(page, "fr")


@pytest.mark.parametrize("path", ["import", "margins", "compute"])
def test_the_data_pages_fit_a_phone(phone_page, organizer, wave, path):
    _people(wave)
    estimation.compute_estimates(wave)
    sign_in(phone_page, "fr", "olivia", PASSWORD)
    phone_page.goto(f"/fr/survey/manage/waves/{wave.pk}/{path}/")
    expect(phone_page.locator("h1")).to_be_visible()
    assert not has_horizontal_scroll(phone_page)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_withheld_computation_is_explained_on_the_compute_page(page, organizer, wave, lang):
    """A published wave computed again with margins raking cannot meet: the public results stay, and the
    page says why the new computation was not applied (announced as an alert)."""
    _people(wave)
    Margin.objects.bulk_create(
        [
            Margin(wave=wave, variable="gender", category="woman", population=510),
            Margin(wave=wave, variable="gender", category="man", population=490),
        ]
    )
    estimation.compute_estimates(wave)
    estimation.publish(wave)
    Margin.objects.bulk_create(
        [
            Margin(wave=wave, variable="province", category="ON", population=3000),
            Margin(wave=wave, variable="province", category="QC", population=2000),
        ]
    )
    assert estimation.run_computation(wave.pk) == "withheld"
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/compute/")
    notice = page.locator("#computation-withheld")
    expect(notice).to_be_visible()
    assert notice.get_attribute("role") == "alert"
    expect(page.locator("#summary-title")).to_be_visible()  # the estimates that stand
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_genders_without_a_margin_are_listed_on_the_margins_page(page, organizer, wave, lang):
    _people(wave, 12)
    add_response(wave, {"css_belonging": "very_strong", "gender": "non_binary", "province": "ON"})
    Margin.objects.bulk_create(
        [
            Margin(wave=wave, variable="gender", category="woman", population=510),
            Margin(wave=wave, variable="gender", category="man", population=490),
        ]
    )
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/survey/manage/waves/{wave.pk}/margins/")
    expect(page.locator("p.error-text")).to_have_count(0)  # nothing lacking: non_binary is raked as not answered
    expect(page.locator("p", has_text="non_binary")).to_have_count(1)  # "1 respondent chose non_binary …"
    assert_accessible(page, lang)


def test_a_file_over_the_web_limit_is_refused_with_the_command_and_fits_a_phone(
    phone_page, organizer, wave, monkeypatch
):
    from belonging.measure import imports

    monkeypatch.setattr(imports, "WEB_MAX_ROWS", 1)
    sign_in(phone_page, "fr", "olivia", PASSWORD)
    phone_page.goto(f"/fr/survey/manage/waves/{wave.pk}/import/")
    phone_page.fill("#id_weight_column", "WTS_M")
    phone_page.fill("#id_replicate_columns", "BSW")
    phone_page.fill("#id_column_province", "GEO_PRV")
    phone_page.fill("#id_values_province", "24=QC; 35=ON; 10=NL; 11=PE; 12=NS; 13=NB; 46=MB; 47=SK; 48=AB; 59=BC")
    good = {"name": "good.csv", "mimeType": "text/csv", "buffer": GOOD.encode()}
    phone_page.set_input_files("#id_file", files=[good])
    phone_page.click("button[value=import]")
    summary = phone_page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("import_survey strategy-for-belonging baseline good.csv")
    assert wave.responses.count() == 0
    assert not has_horizontal_scroll(phone_page)
    assert_accessible(phone_page, "fr")
