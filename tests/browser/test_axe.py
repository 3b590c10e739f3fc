"""axe-core (WCAG 2.1 A and AA rules) on every public page, in English and in French."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.browser.helpers import confirmed_signatures, last_confirmation, pledge_path, sign_with_form

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}

_axe = Axe()


def assert_accessible(page: Page, lang: str) -> None:
    assert page.evaluate("() => document.documentElement.lang") == lang
    assert "</p>" not in page.inner_text("body"), "markup is shown as text"
    # axe only reports a dangling aria-describedby as "incomplete"; a field whose help or error is not announced
    # is a real failure here.
    dangling = page.evaluate(
        """() => [...document.querySelectorAll('[aria-describedby], [aria-labelledby], [aria-controls]')].flatMap(
            el => ['aria-describedby', 'aria-labelledby', 'aria-controls'].flatMap(
                name => (el.getAttribute(name) || '').split(/\\s+/).filter(Boolean)
                    .filter(id => !document.getElementById(id)).map(id => `${el.id || el.tagName} ${name}=${id}`)))"""
    )
    assert dangling == [], dangling
    results = _axe.run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"
    assert page.problems == []  # type: ignore[attr-defined]  # no script error, nothing refused by the CSP


def sign_and_press_emailed_button(page: Page, lang: str, run_tasks, *, link: str, lands_on: str) -> None:
    """Sign through the form, open a link from the confirmation email and press its button."""
    sign_with_form(page, lang)
    run_tasks()
    page.goto(getattr(last_confirmation("aiyana@example.org"), link))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{pledge_path(lang, lands_on)}")


@pytest.mark.parametrize("lang", LANGUAGES)
class TestEveryPublicPage:
    def test_home(self, page, lang):
        page.goto(f"/{lang}/")
        assert page.locator("h1").count() == 1
        assert page.locator(".feature-list li p").count() == 4
        assert_accessible(page, lang)

    def test_pledge_list(self, page, lang):
        page.goto(f"/{lang}/pledges/")
        assert_accessible(page, lang)

    def test_pledge(self, page, lang):
        page.goto(pledge_path(lang))
        assert page.locator("form.sign-form").is_visible()
        assert page.locator(".commitment > p").count() == 2
        assert_accessible(page, lang)

    def test_pledge_with_errors(self, page, lang):
        page.goto(pledge_path(lang))
        page.click("form.sign-form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert page.locator("#id_name").get_attribute("aria-invalid") == "true"
        assert_accessible(page, lang)

    def test_check_email(self, page, lang):
        page.goto(pledge_path(lang, "confirm/"))
        assert_accessible(page, lang)

    def test_check_email_with_error(self, page, lang):
        page.goto(pledge_path(lang, "confirm/"))
        page.fill("#id_email", "nobody@example.org")
        page.fill("#id_code", "123456")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert_accessible(page, lang)

    def test_check_email_with_field_errors(self, page, lang):
        page.goto(pledge_path(lang, "confirm/"))
        page.fill("#id_code", "12")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert page.locator("#id_code").get_attribute("aria-invalid") == "true"
        assert_accessible(page, lang)

    def test_confirm_link_and_withdraw(self, page, lang, run_tasks):
        sign_with_form(page, lang)
        run_tasks()
        email = last_confirmation("aiyana@example.org")
        assert email.confirm_path.startswith(f"/{lang}/")

        page.goto(email.confirm_path)
        assert page.locator("main form button[type=submit]").is_visible()
        assert_accessible(page, lang)

        page.goto(email.withdraw_path)
        assert page.locator("main form button[type=submit]").is_visible()
        assert_accessible(page, lang)

    def test_thanks(self, page, lang, run_tasks):
        sign_and_press_emailed_button(page, lang, run_tasks, link="confirm_path", lands_on="thanks/")
        assert_accessible(page, lang)

    def test_numbers(self, page, lang, screenshot):
        confirmed_signatures()
        page.goto(pledge_path(lang, "numbers/"))
        assert page.locator("[data-field=signatories]").inner_text() == "14"
        # The map is shaded in several classes and the public list shows names.
        classes = set(page.eval_on_selector_all(".canada-map path", "els => els.map(e => e.getAttribute('class'))"))
        assert len(classes) >= 3, classes
        assert page.locator(".signatory-list li").count() == 13
        assert page.get_by_text("Halifax Neighbourhood Centre").is_visible()
        screenshot(page, f"numbers-{lang}")
        assert_accessible(page, lang)

    def test_withdrawn_message_on_numbers(self, page, lang, run_tasks):
        sign_and_press_emailed_button(page, lang, run_tasks, link="withdraw_path", lands_on="numbers/")
        assert page.locator(".messages .message").is_visible()
        assert_accessible(page, lang)

    def test_widget(self, page, lang):
        confirmed_signatures()
        page.goto(pledge_path(lang, "widget/"))
        assert page.locator("[data-field=signatories]").inner_text() == "14"
        assert_accessible(page, lang)

    def test_privacy(self, page, lang):
        page.goto(f"/{lang}/privacy/")
        assert_accessible(page, lang)

    def test_not_found(self, page, lang):
        response = page.goto(f"/{lang}/no-such-page/")
        assert response is not None and response.status == 404
        assert_accessible(page, lang)

    def test_dev_outbox(self, page, lang, settings, tmp_path, run_tasks):
        settings.DEV_OUTBOX = True
        settings.EMAIL_BACKEND = "belonging.core.mail.OutboxBackend"
        settings.EMAIL_OUTBOX_DIR = tmp_path

        page.goto(f"/{lang}/dev/outbox/")
        assert_accessible(page, lang)  # empty

        sign_with_form(page, lang)
        run_tasks()
        assert len(list(tmp_path.glob("*.eml"))) == 1
        page.goto(f"/{lang}/dev/outbox/")
        assert_accessible(page, lang)

        page.click("main table a")
        page.wait_for_selector(".email-body")
        assert "aiyana@example.org" in page.locator(".meta").inner_text()
        assert_accessible(page, lang)
