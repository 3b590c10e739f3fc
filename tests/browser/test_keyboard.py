"""Signing and confirming with the keyboard alone: no mouse, no filling elements from the test."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from belonging.pledges.models import Signature
from tests.browser.helpers import focused, last_confirmation, pledge_path, tab_to

pytestmark = pytest.mark.browser


def is_focused(page: Page, css: str) -> bool:
    return page.evaluate("css => !!document.activeElement && document.activeElement.matches(css)", css)


def tab_expect(page: Page, css: str) -> None:
    """One Tab press must land exactly on ``css`` (the tab order follows the form)."""
    page.keyboard.press("Tab")
    assert is_focused(page, css), f"expected {css}, focus is on {focused(page)}"


def test_skip_link_is_first_and_moves_focus_to_main(page):
    page.goto(pledge_path("en"))
    page.keyboard.press("Tab")
    assert is_focused(page, "a.skip-link")
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "the focused skip link is off screen"
    assert page.locator("a.skip-link").is_visible()

    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    assert is_focused(page, "main#main")
    # The next Tab continues from the main content, not from the header.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)"), focused(page)


def test_sign_and_confirm_with_the_keyboard_only(page, pledge, run_tasks):
    page.goto(pledge_path("en"))
    kb = page.keyboard

    tab_to(page, "#id_name")
    kb.type("Kiona Sinclair")
    tab_expect(page, "#id_email")
    kb.type("kiona@example.org")
    tab_expect(page, "#id_province")
    kb.type("Saskatchewan")  # a closed select picks the option whose label starts with what is typed
    assert page.evaluate("() => document.querySelector('#id_province').value") == "SK"
    tab_expect(page, "#id_postal_code")
    kb.type("s4p 3y2")

    # The radio group is one tab stop; arrows move through it and check the option.
    tab_expect(page, "input[name=signer_type][value=individual]")
    assert page.locator("[data-org-fields]").is_hidden()
    kb.press("ArrowDown")
    assert is_focused(page, "input[name=signer_type][value=association]:checked")
    kb.press("ArrowDown")
    assert is_focused(page, "input[name=signer_type][value=organization]:checked")
    kb.press("ArrowUp")
    assert is_focused(page, "input[name=signer_type][value=association]:checked")
    assert page.locator("[data-org-fields]").is_visible()

    # The fields that appeared come next in the tab order.
    tab_expect(page, "#id_organization_name")
    kb.type("Regina Neighbours Association")
    tab_expect(page, "#id_sector")
    kb.type("Community")
    assert page.evaluate("() => document.querySelector('#id_sector').value") == "community"

    tab_expect(page, "#id_show_name")
    kb.press("Space")
    assert page.evaluate("() => document.querySelector('#id_show_name').checked")
    tab_expect(page, "#id_follow_up")
    kb.press("Space")
    kb.press("Space")  # ticked, then unticked again
    assert not page.evaluate("() => document.querySelector('#id_follow_up').checked")

    tab_to(page, "form.sign-form button[type=submit]")
    kb.press("Enter")
    page.wait_for_url(f"**{pledge_path('en', 'confirm/')}")
    assert page.locator("h1").inner_text() == "Check your email"
    assert page.evaluate("() => document.querySelector('#id_email').value") == "kiona@example.org"

    run_tasks()
    code = last_confirmation("kiona@example.org").code

    tab_to(page, "#id_code")
    kb.type(code)
    kb.press("Enter")
    page.wait_for_url(f"**{pledge_path('en', 'thanks/')}")
    assert page.locator("h1").inner_text() == "Thank you for signing"

    signature = Signature.objects.get(email_normalized="kiona@example.org")
    assert signature.status == Signature.Status.CONFIRMED
    assert signature.pledge == pledge
    assert (signature.name, signature.province, signature.postal_code) == ("Kiona Sinclair", "SK", "S4P 3Y2")
    assert (signature.signer_type, signature.organization_name, signature.sector) == (
        "association",
        "Regina Neighbours Association",
        "community",
    )
    assert signature.show_name is True
    assert signature.follow_up is False


def test_errors_take_the_focus_and_lead_to_the_field(page):
    page.goto(pledge_path("en"))
    tab_to(page, "form.sign-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error-summary")
    assert page.title().startswith("Error:")
    assert is_focused(page, "#error-summary")

    # The summary links to each field in error; following one puts the focus in that field.
    tab_expect(page, "#error-summary a[href='#id_name']")
    page.keyboard.press("Enter")
    assert is_focused(page, "#id_name")
    expect(page.locator("label[for=id_name]")).to_be_in_viewport()
    assert page.evaluate("() => document.querySelector('#id_name').getAttribute('aria-describedby')") == "id_name_error"
    page.keyboard.type("Kiona Sinclair")
    assert page.evaluate("() => document.querySelector('#id_name').value") == "Kiona Sinclair"
