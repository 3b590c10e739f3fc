"""Browser fixtures: Debian's Chromium driven by Playwright (sync API) against pytest-django's live server.

Nothing is downloaded: Playwright launches /usr/bin/chromium (``make chromium`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import seed_campaign

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
FRENCH_PO = ROOT / "belonging" / "locale" / "fr" / "LC_MESSAGES" / "django.po"

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module; Playwright stops with the module.

    Playwright's sync API keeps an event loop in this thread while it runs, and Django refuses ORM calls
    from a thread with a running loop unless told it is safe (here it is: the loop only waits on the
    browser). The permission lasts exactly as long as Playwright does, so other tests keep Django's check.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (run `make chromium`)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture(scope="session")
def _french_catalog_dir(tmp_path_factory) -> Path | None:
    """A compiled copy of the French catalog when the working tree has no up-to-date .mo file.

    ``make test`` compiles the catalogs; a bare ``pytest`` run may not have, and French pages would then be
    tested with English strings (shorter, and not what French visitors see).
    """
    mo = FRENCH_PO.with_suffix(".mo")
    if not FRENCH_PO.exists() or (mo.exists() and mo.stat().st_mtime >= FRENCH_PO.stat().st_mtime):
        return None
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        return None
    root = tmp_path_factory.mktemp("locale")
    target = root / "fr" / "LC_MESSAGES"
    target.mkdir(parents=True)
    done = subprocess.run([msgfmt, "-o", str(target / "django.mo"), str(FRENCH_PO)], capture_output=True, check=False)
    return root if done.returncode == 0 else None


@pytest.fixture(autouse=True)
def _french_catalog(settings, _french_catalog_dir) -> None:
    if _french_catalog_dir is not None:
        settings.LOCALE_PATHS = [_french_catalog_dir]


@pytest.fixture
def seeded(transactional_db) -> None:
    """The live server needs a transactional database, which is flushed after each test, so the migrations'
    rows exist only in the first such test: recreate them."""
    seed_campaign()


@pytest.fixture
def pledge(seeded):
    from belonging.pledges.models import Pledge

    return Pledge.objects.get(slug="strategy-for-belonging")


class BrowserPage:
    """Collects what a page reports that a visitor would not see: script errors and CSP refusals."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda msg: self.problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None,
        )


def _new_page(browser: Browser, live_server, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport=viewport, locale="en-CA")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.problems = BrowserPage(page).problems  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server, seeded) -> Iterator[Page]:
    """A fresh browser context (no cookies) on a desktop-sized window, with ``page.goto("/en/")`` relative URLs."""
    yield from _new_page(browser, live_server, DESKTOP)


@pytest.fixture
def phone_page(browser, live_server, seeded) -> Iterator[Page]:
    yield from _new_page(browser, live_server, PHONE)


@pytest.fixture
def screenshot():
    """Saves a full-page screenshot under $BROWSER_SCREENSHOTS when set (for looking at pages by eye)."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")

    def take(page: Page, name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return take
