"""The public indicators page in the browser: axe-core finds no violation with results and before any
are published, in English and in French, and the page fits a 375 px phone (wide tables scroll in their
own labelled, focusable region).

Waves and estimates are written straight to the database (``tests.measure.test_dashboard``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from belonging.core.models import Campaign
from tests.browser.helpers import SLUG, has_horizontal_scroll
from tests.browser.test_axe import assert_accessible
from tests.measure.test_dashboard import build_scenario

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "fr"]


def results(lang: str) -> str:
    return f"/{lang}/survey/{SLUG}/results/"


@pytest.fixture
def published(seeded) -> None:
    build_scenario(Campaign.objects.get(slug=SLUG))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_results_page_is_accessible(page, published, lang, screenshot):
    page.goto(results(lang))
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("svg.measure-chart").first).to_be_visible()
    expect(page.locator("#statcan")).to_be_visible()
    # Two samples, each its own series: never one chart or table for both.
    expect(page.locator("section.measure-series")).to_have_count(2)
    expect(page.locator("#how-to-read")).to_be_visible()
    # The change section says how many comparisons its verdicts allow for, and links to why.
    link = page.locator('a[href="#reading-change"]')
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("#reading-change")).to_be_in_viewport()
    screenshot(page, f"measure-dashboard-{lang}")
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_results_page_before_anything_is_published(page, seeded, lang):
    page.goto(results(lang))
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("svg")).to_have_count(0)
    assert_accessible(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_results_page_fits_a_phone(phone_page, published, lang, screenshot):
    phone_page.goto(results(lang))
    expect(phone_page.locator("#questions")).to_be_attached()  # the end of the page
    assert not has_horizontal_scroll(phone_page)
    widths = phone_page.evaluate(
        "() => [...document.querySelectorAll('svg.measure-chart')].map(s => s.getBoundingClientRect().right)"
    )
    assert widths and max(widths) <= 375
    # Every wide table is in a region that scrolls on its own, has a name and takes the keyboard focus.
    regions = phone_page.locator("main .table-scroll")
    assert regions.count() > 0
    for i in range(regions.count()):
        region = regions.nth(i)
        assert region.get_attribute("role") == "region"
        assert region.get_attribute("tabindex") == "0"
        assert phone_page.evaluate(
            "el => !!document.getElementById(el.getAttribute('aria-labelledby'))", region.element_handle()
        )
    # Nothing but the scroll regions is wider than the screen.
    assert phone_page.evaluate(
        "() => [...document.querySelectorAll('main p, main h2, main h3, main h4, main figure, main dl')]"
        ".every(el => el.getBoundingClientRect().right <= window.innerWidth + 0.5)"
    )
    screenshot(phone_page, f"measure-dashboard-phone-{lang}")
