"""Voices in the browser: axe-core on every voice and moderation page, sharing with the keyboard alone,
the live character count, the moderators' one-click redaction, and accent-folded gallery search.

Every test runs in English and in French. Data is made through ``belonging.voices.services``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import translation
from playwright.sync_api import Page, expect

from belonging.accounts.roles import MODERATORS, sync_roles
from belonging.core import identity
from belonging.voices import emails, services
from belonging.voices.models import Prompt, ReasonCode, Voice
from tests.browser.helpers import focused, has_horizontal_scroll, last_voice_email, seed_voice_content, sign_in, tab_to
from tests.browser.test_axe import assert_accessible

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]
PASSWORD = "correct horse battery staple"
PHONE = "613-555-0199"
EMAIL = "joe.tremblay@example.org"
PII_TEXT = (
    f"The drop-in centre on our street changed everything for my family. Call me at {PHONE} "
    f"or write to {EMAIL} if you want to start one in your town."
)
RESEAU_TEXT = "Le réseau d’entraide de mon quartier m’a accueillie quand je suis arrivée à Moncton."


@pytest.fixture(autouse=True)
def _voice_content(seeded) -> None:
    seed_voice_content()


@pytest.fixture
def moderator(django_user_model):
    sync_roles()
    user = django_user_model.objects.create_user(username="maya", email="maya@example.org", password=PASSWORD)
    user.groups.add(Group.objects.get(name=MODERATORS))
    return user


@pytest.fixture
def other_moderator(django_user_model):
    sync_roles()
    user = django_user_model.objects.create_user(username="noah", email="noah@example.org", password=PASSWORD)
    user.groups.add(Group.objects.get(name=MODERATORS))
    return user


def is_focused(page: Page, css: str) -> bool:
    return page.evaluate("css => !!document.activeElement && document.activeElement.matches(css)", css)


def tab_expect(page: Page, css: str, key: str = "Tab") -> None:
    page.keyboard.press(key)
    assert is_focused(page, css), f"expected {css} after {key}, focus is on {focused(page)}"


def value(page: Page, css: str) -> str:
    return page.evaluate("css => document.querySelector(css).value", css)


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def path(url: str) -> str:
    """An absolute emailed link (SITE_URL is http://testserver in tests) as a path for the live server."""
    return url.removeprefix("http://testserver")


def private_path(voice: Voice, lang: str, link: str = "manage_url") -> str:
    with translation.override(lang):
        return path(emails.private_links(voice)[link])


def share(
    text: str,
    *,
    prompt: str = "needs-to-have",
    email: str = "amara@example.org",
    language: str = "en",
    province: str = "ON",
    kind: str = "thought",
    title: str = "",
    community: str = "",
    display: str = "anonymous",
    display_name: str = "",
    publish: bool = True,
    self_id: identity.Answers | None = None,
) -> Voice:
    """A voice as the share form records it (pending: its email is not confirmed yet)."""
    return services.voice_share(
        data=services.VoiceInput(
            prompt=Prompt.objects.get(slug=prompt),
            kind=kind,
            text=text,
            language=language,
            province=province,
            display=display,
            display_name=display_name,
            email=email,
            page_language=language,
            title=title,
            community=community,
            consent_publish=publish,
            consent_analysis=True,
            consent_self_id=self_id is not None,
            self_id=self_id,
        )
    )


def submitted(text: str, **kwargs) -> Voice:
    """A confirmed voice, waiting in the moderation queue."""
    return services.voice_confirm_with_link(voice=share(text, **kwargs))


def published(text: str, moderator, *, redacted_text: str = "", **kwargs) -> Voice:
    voice = submitted(text, **kwargs)
    services.voice_claim(voice=voice, moderator=moderator)
    return services.voice_approve(voice=voice, moderator=moderator, redacted_text=redacted_text)


def gallery_voices(moderator) -> dict[str, Voice]:
    """Published voices in both languages, several prompts, kinds and provinces."""
    return {
        "reseau": published(
            RESEAU_TEXT,
            moderator,
            prompt="story-of-belonging",
            language="fr",
            province="NB",
            kind="story",
            community="Moncton",
            display="first_name",
            display_name="Amélie",
        ),
        "library": published(
            "The public library in Thunder Bay is the one place where nobody asks why you are there. "
            "A strategy needs spaces like that in every town.",
            moderator,
            title="Libraries are for everyone",
            kind="thought",
            province="ON",
            display="pseudonym",
            display_name="Bookworm",
        ),
        "elders": published(
            "Elders and youth need to sit at the same table, and the table needs to be in the community, "
            "not in an office far away.",
            moderator,
            prompt="who-needs-to-be-part",
            kind="wisdom",
            province="BC",
        ),
    }


# --- axe-core on every page, in English and in French ----------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
class TestEveryVoicePage:
    def test_share_form_and_its_errors(self, page, lang):
        page.goto(f"/{lang}/voices/share/")
        assert page.locator("input[name=prompt]").count() == 3
        assert page.locator(f"input[name=language][value={lang}]").is_checked()
        assert_accessible(page, lang)

        page.click("form.voice-form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert page.title().startswith(("Error:", "Erreur"))
        for name in ("text", "province", "email"):
            expect(page.locator(f"#id_{name}")).to_have_attribute("aria-invalid", "true")
        for link in ("#id_prompt_0", "#id_kind_0", "#id_text", "#id_province", "#id_email"):
            expect(page.locator(f"#error-summary a[href='{link}']")).to_have_count(1)
        assert_accessible(page, lang)

    def test_confirm_code_and_its_error(self, page, lang):
        page.goto(f"/{lang}/voices/confirm/")
        assert_accessible(page, lang)

        share("A thought to confirm.", email="kiona@example.org")
        page.fill("#id_email", "kiona@example.org")
        page.fill("#id_code", "000000")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert_accessible(page, lang)

    def test_confirm_link_and_thanks(self, page, lang, run_tasks):
        share("A thought to confirm from the link.", email="kiona@example.org", language=lang)
        run_tasks()
        email = last_voice_email("kiona@example.org")
        assert email.confirm_path.startswith(f"/{lang}/")

        page.goto(email.confirm_path)
        assert_accessible(page, lang)

        page.click("main form button[type=submit]")
        page.wait_for_url(f"**/{lang}/voices/thanks/")
        assert Voice.objects.get().status == Voice.Status.SUBMITTED
        assert_accessible(page, lang)

    def test_gallery_empty(self, page, lang):
        page.goto(f"/{lang}/voices/")
        assert page.locator("article.voice-card").count() == 0
        assert_accessible(page, lang)

    def test_gallery_filtered_and_a_voice(self, page, lang, moderator):
        voices = gallery_voices(moderator)
        page.goto(f"/{lang}/voices/")
        assert page.locator("article.voice-card").count() == 3
        assert_accessible(page, lang)

        reseau = voices["reseau"]
        query = {"q": "reseau", "prompt": reseau.prompt_id, "kind": "story", "province": "NB", "language": "fr"}
        page.goto(f"/{lang}/voices/?{urlencode(query)}")
        assert page.locator("article.voice-card").count() == 1
        assert value(page, "#id_q") == "reseau"
        assert value(page, "#id_province") == "NB"
        assert_accessible(page, lang)

        page.goto(f"/{lang}/voices/?{urlencode({**query, 'province': 'YT'})}")
        assert page.locator("article.voice-card").count() == 0
        assert_accessible(page, lang)

        for voice in (reseau, voices["library"]):
            page.goto(f"/{lang}/voices/{voice.public_id}/")
            assert voice.text[:40] in page.locator("article.voice").inner_text()
            assert_accessible(page, lang)

    def test_numbers_with_suppressed_and_shown_cells(self, page, lang):
        # 24 self-identified voices on one question: 12 women (shown), 3 young people (suppressed,
        # and their complement with them).
        for i in range(24):
            answers = identity.Answers(gender="woman" if i < 12 else "man", age_band="18_24" if i < 3 else "45_54")
            submitted(f"Voice number {i} about belonging in my town.", email=f"p{i}@example.org", self_id=answers)
        page.goto(f"/{lang}/voices/numbers/")
        table = page.locator(".table-scroll[aria-labelledby=by-community] table")
        cells = table.locator("tbody td").all_inner_texts()
        assert "12" in cells and "24" in cells, cells
        assert table.locator("abbr").count() >= 1, cells
        assert_accessible(page, lang)

    def test_policy_and_login(self, page, lang):
        page.goto(f"/{lang}/voices/policy/")
        assert page.locator("main dl dt").count() == ReasonCode.objects.count() == 7
        assert_accessible(page, lang)

        page.goto(f"/{lang}/accounts/login/")
        assert_accessible(page, lang)
        page.fill("#id_username", "nobody")
        page.fill("#id_password", "wrong")
        page.click("main form button[type=submit]")
        page.wait_for_selector("#error-summary")
        assert_accessible(page, lang)

    def test_private_pages(self, page, lang, moderator):
        returned = submitted(
            "The bus stops at six in the evening, so I cannot go to anything in town.",
            email="lee@example.org",
            language=lang,
        )
        services.voice_claim(voice=returned, moderator=moderator)
        services.voice_return(
            voice=returned,
            moderator=moderator,
            reason=ReasonCode.objects.get(code="unclear"),
            note="Could you say which town?",
        )
        redacted = published(
            PII_TEXT,
            moderator,
            email="lee@example.org",
            language=lang,
            redacted_text=PII_TEXT.replace(PHONE, services.REDACTION_MARKER[lang]),
        )

        page.goto(private_path(redacted, lang))
        assert page.locator(".voice-text").count() == 2  # what was written and what is published
        assert_accessible(page, lang)

        page.goto(private_path(returned, lang))
        assert page.locator(".notice").is_visible()
        assert_accessible(page, lang)

        page.goto(private_path(returned, lang) + "edit/")
        assert value(page, "#id_text") == returned.text
        assert_accessible(page, lang)
        page.fill("#id_text", "")
        page.click("form.voice-form button[type=submit]")
        page.wait_for_selector("#error-summary")
        expect(page.locator("#id_text")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page, lang)

        page.goto(private_path(returned, lang) + "withdraw/")
        assert page.locator("main form button[type=submit]").is_visible()
        assert_accessible(page, lang)

    def test_moderation_pages(self, page, lang, moderator, other_moderator):
        gallery_voices(moderator)
        pii = submitted(PII_TEXT, language="en", province="ON")
        first = submitted("Everyone who lives here, including people without papers, must be part of it.")
        submitted("Everyone who lives here, including people without papers, must be part of it!")  # near-duplicate
        services.voice_claim(voice=first, moderator=other_moderator)

        sign_in(page, lang, "maya", PASSWORD)
        assert page.locator("main table tbody tr").count() == 3
        expect(page.locator("main table .badge")).to_have_count(1)  # the near-duplicate
        expect(page.locator("main table").get_by_text("noah@example.org")).to_be_visible()  # claimed by another
        assert_accessible(page, lang)

        page.goto(f"/{lang}/moderation/?status=published")
        assert page.locator("main table tbody tr").count() == 3
        assert_accessible(page, lang)

        page.goto(f"/{lang}/moderation/")
        page.locator(f"form[action$='/{pii.public_id}/claim/'] button").click()
        page.wait_for_url(f"**/{lang}/moderation/{pii.public_id}/")
        expect(page.locator(".voice-text mark")).to_have_count(2)
        expect(page.locator(f"button[data-redact='{PHONE}']")).to_be_visible()
        expect(page.locator(f"button[data-redact='{EMAIL}']")).to_be_visible()
        assert_accessible(page, lang)

        page.check("#id_decision_2")  # reject, without a reason
        page.click("form[aria-labelledby=decide] button[type=submit]")
        page.wait_for_selector("#error-summary")
        expect(page.locator("#id_reason")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page, lang)

        page.goto(f"/{lang}/moderation/log/")
        assert page.locator("main table tbody tr").count() >= 7
        assert_accessible(page, lang)

    def test_taking_down_a_published_voice(self, page, lang, moderator):
        voice = published("A voice that turns out to break the policy after all.", moderator)
        sign_in(page, lang, "maya", PASSWORD)
        page.goto(f"/{lang}/moderation/{voice.public_id}/")
        page.click("form[aria-labelledby=take-down] button[type=submit]")  # no reason chosen
        page.wait_for_selector("#error-summary")
        expect(page.locator("#id_down-reason")).to_have_attribute("aria-invalid", "true")
        assert_accessible(page, lang)
        page.select_option("#id_down-reason", index=1)
        page.click("form[aria-labelledby=take-down] button[type=submit]")
        page.wait_for_selector(".messages")
        assert_accessible(page, lang)
        voice.refresh_from_db()
        assert voice.status == Voice.Status.REJECTED
        assert page.goto(f"/{lang}/voices/{voice.public_id}/").status == 404

    def test_asking_for_a_new_code(self, page, lang, run_tasks):
        share("A voice whose first email got lost.", email="lost@example.org")
        page.goto(f"/{lang}/voices/confirm/")
        page.fill("#id_email", "lost@example.org")
        page.click("button[name=resend]")
        page.wait_for_selector(".messages")
        assert value(page, "#id_email") == "lost@example.org"
        assert_accessible(page, lang)


# --- behaviour --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_share_and_confirm_with_the_keyboard_only(page, lang, run_tasks):
    page.goto(f"/{lang}/voices/share/")
    kb = page.keyboard

    # A radio group is one tab stop; the arrows move through it and check the option.
    tab_to(page, "input[name=prompt]")
    assert is_focused(page, "#id_prompt_0")
    kb.press("ArrowDown")
    assert is_focused(page, "#id_prompt_1:checked")
    tab_expect(page, "#id_kind_0")
    kb.press("Space")
    assert is_focused(page, "#id_kind_0:checked")
    # Back to the question: Shift+Tab lands on the chosen one.
    tab_expect(page, "#id_prompt_1:checked", "Shift+Tab")
    tab_expect(page, "#id_kind_0:checked")

    tab_expect(page, "#id_title")
    kb.type("Le dépanneur du coin" if lang == "fr" else "The corner store")
    tab_expect(page, "#id_text")
    text = (
        "Le dépanneur du coin connaît le nom de tout le monde. Il faut des lieux comme ça."
        if lang == "fr"
        else "The corner store knows everyone's name. We need places like that."
    )
    kb.type(text)
    # The language of the page is already chosen; the group is one stop.
    tab_expect(page, f"input[name=language][value={lang}]:checked")
    tab_expect(page, "#id_province")
    kb.type("Manitoba")
    assert value(page, "#id_province") == "MB"
    tab_expect(page, "#id_community")
    kb.type("Winnipeg")

    # "Anonymous" is chosen at first and the first-name field is hidden; "My first name" shows it.
    tab_expect(page, "input[name=display][value=anonymous]:checked")
    assert page.locator("#id_display_name_group").is_hidden()
    kb.press("ArrowUp")
    kb.press("ArrowUp")
    assert is_focused(page, "input[name=display][value=first_name]:checked")
    assert page.locator("#id_display_name_group").is_visible()
    tab_expect(page, "#id_display_name")
    kb.type("Kiona")
    tab_expect(page, "#id_email")
    kb.type("kiona@example.org")
    tab_expect(page, "#id_consent_publish")
    kb.press("Space")
    tab_expect(page, "#id_consent_analysis")
    kb.press("Space")
    assert page.evaluate("() => document.querySelector('#id_consent_publish').checked")
    assert page.evaluate("() => document.querySelector('#id_consent_analysis').checked")

    tab_to(page, "form.voice-form button[type=submit]")
    kb.press("Enter")
    page.wait_for_url(f"**/{lang}/voices/confirm/")
    assert value(page, "#id_email") == "kiona@example.org"

    run_tasks()
    code = last_voice_email("kiona@example.org").code
    tab_to(page, "#id_code")
    kb.type(code)
    kb.press("Enter")
    page.wait_for_url(f"**/{lang}/voices/thanks/")
    assert page.problems == []  # type: ignore[attr-defined]

    voice = Voice.objects.get()
    assert voice.status == Voice.Status.SUBMITTED
    assert (voice.prompt.slug, voice.kind, voice.language, voice.page_language) == (
        "who-needs-to-be-part",
        "story",
        lang,
        lang,
    )
    assert (voice.text, voice.province, voice.community) == (text, "MB", "Winnipeg")
    assert (voice.display, voice.display_name) == ("first_name", "Kiona")
    assert voice.consent_publish and voice.consent_analysis and not voice.consent_self_id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_live_character_count_and_first_name_field(page, lang):
    page.goto(f"/{lang}/voices/share/")
    counter = page.locator("#id_text_count")
    expect(counter).to_be_visible()
    assert counter.get_attribute("aria-live") == "polite"
    assert page.evaluate("() => !!document.querySelector('#id_text_count').closest('[aria-live]')"), (
        "the count is not in a live region"
    )
    expect(counter).to_contain_text("0")

    page.locator("#id_text").press_sequentially("Twelve chars")
    # "12 of 5,000" in English, "12 sur 5 000" in French: the digits are the same.
    expect(counter).to_contain_text("12")
    assert digits(counter.inner_text()) == "125000", counter.inner_text()
    page.locator("#id_text").press_sequentially(" and more")
    expect(counter).to_contain_text("21")
    assert digits(counter.inner_text()) == "215000", counter.inner_text()

    name_group = page.locator("#id_display_name_group")
    assert page.locator("input[name=display][value=anonymous]").is_checked()
    expect(name_group).to_be_hidden()
    page.check("input[name=display][value=first_name]")
    expect(name_group).to_be_visible()
    expect(page.locator("#id_display_name")).to_be_visible()
    page.check("input[name=display][value=anonymous]")
    expect(name_group).to_be_hidden()
    page.check("input[name=display][value=pseudonym]")
    expect(name_group).to_be_visible()
    assert page.problems == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_moderator_redacts_a_phone_number_and_publishes(page, lang, moderator, run_tasks):
    voice = submitted(PII_TEXT, language="en", province="ON")
    marker = services.REDACTION_MARKER["en"]

    sign_in(page, lang, "maya", PASSWORD)
    page.locator(f"form[action$='/{voice.public_id}/claim/'] button").click()
    page.wait_for_url(f"**/{lang}/moderation/{voice.public_id}/")
    assert value(page, "#id_redacted_text") == PII_TEXT

    redact = page.locator(f"button[data-redact='{PHONE}']")
    redact.click()
    expect(redact).to_be_disabled()
    box_text = value(page, "#id_redacted_text")
    assert marker in box_text and PHONE not in box_text and EMAIL in box_text
    expect(page.locator("#id_redacted_text")).to_be_focused()
    expect(page.locator("#id_decision_0")).to_be_checked()  # approve

    page.click("form[aria-labelledby=decide] button[type=submit]")
    page.wait_for_url(f"**/{lang}/moderation/")
    expect(page.locator(".messages")).to_be_visible()

    voice.refresh_from_db()
    assert voice.status == Voice.Status.PUBLISHED
    assert voice.redacted_text == PII_TEXT.replace(PHONE, marker)
    assert voice.actions.filter(action="redact", moderator=moderator).exists()

    page.goto(f"/{lang}/voices/{voice.public_id}/")
    shown = page.locator("article.voice .voice-text").inner_text()
    assert marker in shown and PHONE not in shown
    assert PHONE not in page.content()
    assert page.problems == []  # type: ignore[attr-defined]

    run_tasks()  # the contributor is told by email, which links to the voice and does not repeat it
    body = mail.outbox[-1].body
    assert f"/voices/{voice.public_id}/" in body and PHONE not in body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_text_is_kept_when_the_form_comes_back_with_an_error(page, lang):
    page.goto(f"/{lang}/voices/share/")
    text = "Ma voix, avec des accents : « appartenance » et <b>pas de HTML</b>.\nDeuxième ligne."
    page.check("#id_prompt_0")
    page.check("#id_kind_2")
    page.fill("#id_text", text)
    page.fill("#id_email", "remi@example.org")
    page.check("#id_consent_publish")
    page.click("form.voice-form button[type=submit]")  # no province chosen

    page.wait_for_selector("#error-summary")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary a[href='#id_province']")).to_have_count(1)
    expect(page.locator("#id_province")).to_have_attribute("aria-invalid", "true")
    assert value(page, "#id_text") == text
    assert value(page, "#id_email") == "remi@example.org"
    assert page.locator("#id_prompt_0").is_checked() and page.locator("#id_kind_2").is_checked()
    assert page.locator("#id_consent_publish").is_checked()
    assert page.locator("main b").count() == 0  # HTML typed in is never rendered
    # The counter counts what was kept.
    expect(page.locator("#id_text_count")).to_contain_text(str(len(text)))

    page.select_option("#id_province", "NS")
    page.click("form.voice-form button[type=submit]")
    page.wait_for_url(f"**/{lang}/voices/confirm/")
    assert Voice.objects.get().text.replace("\r\n", "\n") == text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_gallery_search_folds_accents(page, lang, moderator):
    voices = gallery_voices(moderator)
    page.goto(f"/{lang}/voices/")
    page.fill("#id_q", "reseau")
    page.click("main form.filters button[type=submit]")
    page.wait_for_url("**q=reseau**")
    cards = page.locator("article.voice-card")
    expect(cards).to_have_count(1)
    assert "réseau" in cards.inner_text()
    cards.locator("h3 a").click()
    page.wait_for_url(f"**/{lang}/voices/{voices['reseau'].public_id}/")

    # And the other way: an accented search finds the unaccented word.
    page.goto(f"/{lang}/voices/")
    page.fill("#id_q", "bibliothèque library")
    page.click("main form.filters button[type=submit]")
    expect(page.locator("article.voice-card")).to_have_count(0)
    page.fill("#id_q", "LIBRÄRY")
    page.click("main form.filters button[type=submit]")
    expect(page.locator("article.voice-card")).to_have_count(1)
    assert page.problems == []  # type: ignore[attr-defined]


# What sticks out of a phone's width (descendants of a scrolling table container excepted).
WIDE = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
    && !(e.parentElement && e.parentElement.closest('.table-scroll')))
  .map(e => `${e.tagName}.${e.className}#${e.id} right=${Math.round(e.getBoundingClientRect().right)} w=${Math.round(e.getBoundingClientRect().width)} sw=${e.scrollWidth}`).slice(0, 15)"""


def test_voice_pages_fit_a_phone(phone_page, moderator):
    page = phone_page
    voices = gallery_voices(moderator)
    pii = submitted(PII_TEXT, email="a.very.long.address.that.does.not.break@example.org")
    for url in (
        "/fr/voices/share/",
        "/fr/voices/",
        f"/fr/voices/{voices['library'].public_id}/",
        "/fr/voices/numbers/",
        "/fr/voices/policy/",
        private_path(pii, "fr"),
        private_path(pii, "fr") + "edit/",
    ):
        page.goto(url)
        assert not has_horizontal_scroll(page), (url, page.evaluate(WIDE))

    sign_in(page, "fr", "maya", PASSWORD)
    assert not has_horizontal_scroll(page), page.evaluate(WIDE)
    page.locator(f"form[action$='/{pii.public_id}/claim/'] button").click()
    page.wait_for_url(f"**/moderation/{pii.public_id}/")
    assert not has_horizontal_scroll(page)
    page.goto("/fr/moderation/log/")
    assert not has_horizontal_scroll(page)
