"""Themes in the browser: axe-core on "What we heard" and on the organizers' pages in both languages, and
the progress bar that follows a run without reloading the page.

The run and its themes are written straight to the database (``tests.themes.fixtures_report``). The
machine running these may be loaded: every check waits for what it looks at (Playwright's ``expect``
retries) instead of assuming the page is ready.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from belonging.accounts.roles import ORGANIZERS, sync_roles
from belonging.core.models import Campaign
from belonging.themes.models import SynthesisRun
from tests.browser.helpers import has_horizontal_scroll, seed_voice_content, sign_in
from tests.browser.test_axe import assert_accessible
from tests.themes.fixtures_report import NAME_A_EN, NAME_A_FR, SLUG, build_scenario, make_run

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _voice_content(seeded) -> None:
    seed_voice_content()


@pytest.fixture
def organizer(django_user_model):
    sync_roles()
    user = django_user_model.objects.create_user(username="olivia", email="olivia@example.org", password=PASSWORD)
    user.groups.add(Group.objects.get(name=ORGANIZERS))
    return user


@pytest.mark.parametrize("lang", LANGUAGES)
def test_what_we_heard_is_accessible(page, lang, screenshot):
    build_scenario()
    page.goto(f"/{lang}/themes/{SLUG}/")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("#themes")).to_be_visible()
    expect(page.locator("svg.theme-chart")).to_be_visible()
    expect(page.locator("main")).to_contain_text(NAME_A_EN if lang == "en" else NAME_A_FR)
    screenshot(page, f"themes-report-{lang}")
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_what_we_heard_before_anything_is_published(page, lang):
    page.goto(f"/{lang}/themes/")
    page.wait_for_url(f"**/{lang}/themes/{SLUG}/")
    expect(page.locator("svg.theme-chart")).to_have_count(0)
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_curation_page_is_accessible(page, organizer, lang, screenshot):
    scenario = build_scenario()
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/themes/manage/runs/{scenario.run.pk}/curate/")
    expect(page.locator(".curate-theme")).to_have_count(3)  # the hidden theme too
    screenshot(page, f"themes-curate-{lang}")
    assert_accessible(page, lang)


def test_a_refused_curation_is_accessible_and_keeps_focus_on_the_errors(page, organizer):
    scenario = build_scenario()
    sign_in(page, "en", "olivia", PASSWORD)
    page.goto(f"/en/themes/manage/runs/{scenario.run.pk}/curate/")
    page.locator(f"form[action$='/themes/{scenario.theme_b.key}/merge/'] button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_focused()  # the script focuses it once the page is ready
    assert_accessible(page, "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_runs_page_with_errors_is_accessible(page, organizer, lang):
    build_scenario()
    sign_in(page, lang, "olivia", PASSWORD)
    page.goto(f"/{lang}/themes/manage/{SLUG}/")
    page.fill("#id_min_themes", "9")
    page.fill("#id_max_themes", "3")
    page.click("form.start-run button[type=submit]")
    page.wait_for_selector("#error-summary")
    expect(page.locator("#id_max_themes")).to_have_value("3")
    assert page.locator("#id_max_themes").get_attribute("aria-invalid") == "true"
    assert_accessible(page, lang)


def test_the_progress_bar_follows_the_run(page, organizer):
    campaign = Campaign.objects.get(slug=SLUG)
    run = make_run(campaign, status=SynthesisRun.Status.QUEUED, finished_at=None, progress=0.0, stage="queued")
    sign_in(page, "en", "olivia", PASSWORD)
    page.goto(f"/en/themes/manage/runs/{run.pk}/")
    assert_accessible(page, "en")
    SynthesisRun.objects.filter(pk=run.pk).update(status=SynthesisRun.Status.RUNNING, progress=0.5, stage="cluster")
    # The page asks every 2 s, less often after a failed request: generous limits for a loaded machine.
    page.wait_for_function("() => document.getElementById('run-progress').value === 50", timeout=45_000)
    expect(page.locator("#run-status")).to_contain_text("50% done")
    SynthesisRun.objects.filter(pk=run.pk).update(
        status=SynthesisRun.Status.DONE, progress=1.0, stage="done", finished_at=timezone.now()
    )
    expect(page.get_by_role("link", name="Review, name and publish the themes")).to_be_visible(timeout=45_000)
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_what_we_heard_fits_a_phone(phone_page, lang):
    """The French page used to be wider than a phone: the method's facts (``dl.facts``) kept each label
    on one line ("Comment les voix ont été comparées") beside its value. Wide tables scroll in their own
    region instead."""
    build_scenario()
    phone_page.goto(f"/{lang}/themes/{SLUG}/")
    expect(phone_page.locator("svg.theme-chart")).to_be_visible()
    expect(phone_page.locator("#by-language-table")).to_be_attached()  # the end of the report
    assert not has_horizontal_scroll(phone_page)
    assert phone_page.evaluate("() => document.querySelector('svg.theme-chart').getBoundingClientRect().width") <= 375
    facts = phone_page.locator("#method ~ dl.facts")
    expect(facts).to_be_visible()
    assert phone_page.evaluate(
        "() => [...document.querySelectorAll('main dl.facts, main dl.facts *')]"
        ".every(el => el.getBoundingClientRect().right <= window.innerWidth + 0.5)"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_curation_page_fits_a_phone_and_says_changes_are_public_at_once(phone_page, organizer, lang):
    scenario = build_scenario()
    sign_in(phone_page, lang, "olivia", PASSWORD)
    phone_page.goto(f"/{lang}/themes/manage/runs/{scenario.run.pk}/curate/")
    expect(phone_page.locator(".curate-theme")).to_have_count(3)
    expect(phone_page.locator(".publish-state")).to_be_visible()
    expect(phone_page.locator("form.publish-form")).to_have_count(0)  # public already: nothing to publish again
    expect(phone_page.locator("table.curation-history td.change-detail").first).not_to_be_empty()
    assert not has_horizontal_scroll(phone_page)
