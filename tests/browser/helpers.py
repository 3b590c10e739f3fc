"""Steps shared by the browser tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core import mail
from playwright.sync_api import Page

from tests.factories import SignatureFactory

SLUG = "strategy-for-belonging"


def pledge_path(lang: str, suffix: str = "") -> str:
    return f"/{lang}/pledges/{SLUG}/{suffix}"


def confirmed_signatures() -> None:
    """Confirmed signatures in several provinces, most with a public name, so the map and list have content."""
    from belonging.pledges.models import Pledge

    pledge = Pledge.objects.get(slug=SLUG)
    for province, count in {"ON": 6, "QC": 3, "BC": 2, "NU": 1}.items():
        SignatureFactory.create_batch(count, pledge=pledge, province=province, confirmed=True, show_name=True)
    SignatureFactory(
        pledge=pledge,
        province="NS",
        confirmed=True,
        show_name=True,
        signer_type="organization",
        organization_name="Halifax Neighbourhood Centre",
        sector="community",
    )
    SignatureFactory(pledge=pledge, province="MB", confirmed=True, show_name=False)


def sign_with_form(
    page: Page,
    lang: str = "en",
    *,
    name: str = "Aiyana Whitehorse",
    email: str = "aiyana@example.org",
    province: str = "SK",
    show_name: bool = True,
) -> None:
    """Sign as an individual (mouse and fill allowed here) and land on the check-email page."""
    page.goto(pledge_path(lang))
    page.fill("#id_name", name)
    page.fill("#id_email", email)
    page.select_option("#id_province", province)
    if show_name:
        page.check("#id_show_name")
    page.click("form.sign-form button[type=submit]")
    page.wait_for_url(f"**{pledge_path(lang, 'confirm/')}")


@dataclass
class ConfirmationEmail:
    code: str
    confirm_path: str
    withdraw_path: str


def parse_confirmation(body: str) -> ConfirmationEmail:
    code = re.search(r"^\s+(\d{6})\s*$", body, re.M)
    confirm = re.search(r"https?://[^/\s]+(/\w\w/pledges/confirm/\S+)", body)
    withdraw = re.search(r"https?://[^/\s]+(/\w\w/pledges/withdraw/\S+)", body)
    assert code and confirm and withdraw, body
    return ConfirmationEmail(code.group(1), confirm.group(1), withdraw.group(1))


def last_confirmation(to: str) -> ConfirmationEmail:
    """The latest email in django.core.mail.outbox sent to ``to`` (the live server shares this process)."""
    messages = [m for m in mail.outbox if to in m.to]
    assert messages, f"no email to {to} in {[m.to for m in mail.outbox]}"
    return parse_confirmation(messages[-1].body)


def focused(page: Page) -> dict[str, str | None]:
    """What has the keyboard focus: tag, id, name, type, text (read only)."""
    return page.evaluate(
        """() => { const el = document.activeElement; return el ? {
            tag: el.tagName.toLowerCase(), id: el.id || null, name: el.getAttribute('name'),
            type: el.getAttribute('type'), text: (el.textContent || '').trim().slice(0, 80),
            cls: el.getAttribute('class') } : {}; }"""
    )


def tab_to(page: Page, css: str, *, limit: int = 60, shift: bool = False) -> int:
    """Press Tab until the focused element matches ``css``; returns how many presses it took."""
    key = "Shift+Tab" if shift else "Tab"
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        if page.evaluate("css => !!document.activeElement && document.activeElement.matches(css)", css):
            return presses
    raise AssertionError(f"{css} is not reachable with {key} within {limit} presses; focus is on {focused(page)}")


def has_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("() => document.scrollingElement.scrollWidth > window.innerWidth")


# --- voices ---------------------------------------------------------------------------------------


def seed_voice_content() -> None:
    """The prompts and reason codes of the voices data migration (flushed with the live server's database)."""
    import importlib

    from django.apps import apps

    importlib.import_module("belonging.voices.migrations.0003_prompts_and_reasons").create_content(apps, None)


@dataclass
class VoiceEmail:
    code: str
    confirm_path: str
    manage_path: str


def last_voice_email(to: str) -> VoiceEmail:
    """The latest voice confirmation email to ``to`` in django.core.mail.outbox: its code and private links."""
    messages = [m for m in mail.outbox if to in m.to]
    assert messages, f"no email to {to} in {[m.to for m in mail.outbox]}"
    body = messages[-1].body
    code = re.search(r"^\s*(\d{6})\s*$", body, re.MULTILINE)
    confirm = re.search(r"https?://[^/\s]+(/\w\w/voices/confirm/\S+)", body)
    manage = re.search(r"https?://[^/\s]+(/\w\w/voices/mine/\S+)", body)
    assert code and confirm and manage, body
    return VoiceEmail(code.group(1), confirm.group(1), manage.group(1))


def sign_in(page: Page, lang: str, username: str, password: str) -> None:
    """Sign in through the login form; lands on the moderation queue."""
    page.goto(f"/{lang}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/{lang}/moderation/")
