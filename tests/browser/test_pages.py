"""Language switching, signing for an organization, phone-sized screens and the focus indicator."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from belonging.pledges.models import Signature
from tests.browser.helpers import confirmed_signatures, focused, has_horizontal_scroll, pledge_path, tab_to

pytestmark = pytest.mark.browser


def test_language_switcher_keeps_the_page(page):
    page.goto(pledge_path("en", "numbers/"))
    assert page.evaluate("() => document.documentElement.lang") == "en"

    link = page.locator(".lang-switch a", has_text="Français")
    assert link.get_attribute("lang") == "fr"
    assert link.get_attribute("hreflang") == "fr"
    link.click()
    page.wait_for_url(f"**{pledge_path('fr', 'numbers/')}")
    assert page.url.endswith(pledge_path("fr", "numbers/"))
    assert page.evaluate("() => document.documentElement.lang") == "fr"
    assert "L’engagement pour une stratégie pour l’appartenance" in page.locator("h1").inner_text()

    page.locator(".lang-switch a", has_text="English").click()
    page.wait_for_url(f"**{pledge_path('en', 'numbers/')}")
    assert page.url.endswith(pledge_path("en", "numbers/"))
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert "The pledge for a Strategy for Belonging" in page.locator("h1").inner_text()


def test_language_switcher_keeps_the_query_string(page):
    page.goto("/en/pledges/strategy-for-belonging/numbers/?page=1")
    page.locator(".lang-switch a", has_text="Français").click()
    page.wait_for_url("**/fr/pledges/strategy-for-belonging/numbers/?page=1")


def test_sign_as_an_organization_shows_its_fields_and_keeps_answers(page, pledge):
    page.goto(pledge_path("en"))
    org_fields = page.locator("[data-org-fields]")
    expect(org_fields).to_be_hidden()

    page.fill("#id_name", "Mireille Tremblay")
    page.fill("#id_email", "mireille@example.org")
    page.select_option("#id_province", "QC")
    page.fill("#id_postal_code", "h2x 1y4")
    page.get_by_label("An organization").check()
    expect(org_fields).to_be_visible()
    expect(page.locator("#id_organization_name")).to_be_visible()
    expect(page.locator("#id_sector")).to_be_visible()
    page.check("#id_show_name")

    # Back to an individual hides them again; an organization shows them.
    page.get_by_label("An individual").check()
    expect(org_fields).to_be_hidden()
    page.get_by_label("An organization").check()
    expect(org_fields).to_be_visible()

    page.click("form.sign-form button[type=submit]")
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.locator("a[href='#id_organization_name']")).to_contain_text(
        "Please enter the name of the association or organization you sign for."
    )
    expect(summary.locator("a[href='#id_sector']")).to_contain_text("Please choose the sector it belongs to.")
    assert summary.locator("li").count() == 2

    # The fields in error stay shown, are marked invalid and point to their message.
    expect(org_fields).to_be_visible()
    for field in ("organization_name", "sector"):
        control = page.locator(f"#id_{field}")
        expect(control).to_have_attribute("aria-invalid", "true")
        described = control.get_attribute("aria-describedby").split()
        assert f"id_{field}_error" in described
        expect(page.locator(f"#id_{field}_error")).to_be_visible()

    # Everything typed is still there.
    expect(page.locator("#id_name")).to_have_value("Mireille Tremblay")
    expect(page.locator("#id_email")).to_have_value("mireille@example.org")
    expect(page.locator("#id_province")).to_have_value("QC")
    expect(page.locator("#id_postal_code")).to_have_value("h2x 1y4")
    expect(page.locator("input[name=signer_type][value=organization]")).to_be_checked()
    expect(page.locator("#id_show_name")).to_be_checked()
    expect(page.locator("#id_follow_up")).not_to_be_checked()
    assert not Signature.objects.exists()

    # Completing the two fields signs.
    page.fill("#id_organization_name", "Centre communautaire du Plateau")
    page.select_option("#id_sector", "nonprofit")
    page.click("form.sign-form button[type=submit]")
    page.wait_for_url(f"**{pledge_path('en', 'confirm/')}")
    signature = Signature.objects.get()
    assert (signature.signer_type, signature.organization_name, signature.sector) == (
        "organization",
        "Centre communautaire du Plateau",
        "nonprofit",
    )


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize(
    "path", ["/{lang}/", "/{lang}/pledges/strategy-for-belonging/", "/{lang}/pledges/strategy-for-belonging/numbers/"]
)
def test_phone_viewport_has_no_horizontal_scroll(phone_page, lang, path, screenshot):
    confirmed_signatures()  # map labels, names in the list
    phone_page.goto(path.format(lang=lang))
    assert phone_page.evaluate("() => window.innerWidth") == 375
    assert not has_horizontal_scroll(phone_page), phone_page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth)
            .slice(0, 5).map(el => el.outerHTML.slice(0, 120))"""
    )
    screenshot(phone_page, "phone-" + path.format(lang=lang).strip("/").replace("/", "-"))


def test_phone_viewport_pledge_with_errors_has_no_horizontal_scroll(phone_page):
    phone_page.goto(pledge_path("fr"))
    phone_page.check("input[name=signer_type][value=organization]")  # every field in error, the longest page
    phone_page.click("form.sign-form button[type=submit]")
    phone_page.wait_for_selector("#error-summary")
    assert not has_horizontal_scroll(phone_page)


def outline_or_shadow(page) -> dict[str, str]:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
            return {outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow}; }"""
    )


@pytest.mark.parametrize(
    "css",
    [
        "a.brand",
        ".lang-switch a",
        "main a",
        "#id_name",
        "#id_province",
        "input[name=signer_type]",
        "#id_show_name",
        "form.sign-form button[type=submit]",
        ".site-footer a",
    ],
)
def test_focus_is_visible(page, css):
    page.goto(pledge_path("en"))
    tab_to(page, css)
    style = outline_or_shadow(page)
    assert (style["outline"] != "none" and style["width"] != "0px") or style["shadow"] != "none", (focused(page), style)
