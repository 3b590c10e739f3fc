"""Shared fixtures: personas (anonymous, signer, organizer), the seeded pledge, the task worker."""

from __future__ import annotations

import importlib
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import translation

from belonging.accounts.roles import ORGANIZERS
from belonging.pledges.models import Pledge


@pytest.fixture(autouse=True)
def _fresh_cache_and_fast_forms(settings):
    """Each test starts with an empty cache and in the default language (a request to a /fr/ page leaves
    French active in the thread, which would otherwise leak into the next test); forms may be sent at once
    unless a test says otherwise."""
    translation.activate(settings.LANGUAGE_CODE)
    settings.PLEDGE_MIN_FILL_SECONDS = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
    settings.SITE_URL = "http://testserver"
    cache.clear()
    yield
    cache.clear()
    translation.deactivate()


@pytest.fixture
def run_tasks():
    """Run every queued background task with the real database worker, as `db_worker --batch` does."""

    def run() -> None:
        # The worker closes "old" connections between tasks; inside a test's transaction that
        # would close the test's own connection (Django's test client disables the same hook).
        with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
            call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)

    return run


def seed_campaign() -> None:
    """The campaign and pledge rows of the data migrations, made by the migrations' own idempotent functions.

    Transactional tests (the live server, the race test) flush the database when they end, so the
    migrations' rows are gone for the tests after them.
    """
    from django.apps import apps

    importlib.import_module("belonging.core.migrations.0002_campaign_content").create_content(apps, None)
    importlib.import_module("belonging.pledges.migrations.0002_first_pledge").create_pledge(apps, None)


@pytest.fixture
def pledge(db) -> Pledge:
    """The campaign's pledge, created by the data migration (recreated after a flush)."""
    seed_campaign()
    return Pledge.objects.get(slug="strategy-for-belonging")


@pytest.fixture
def organizer(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username="olivia", email="olivia@example.org", password="correct horse battery staple", is_staff=True
    )
    user.groups.add(Group.objects.get(name=ORGANIZERS))
    return user


@pytest.fixture
def outsider(db, django_user_model):
    """Signed in, but no role."""
    return django_user_model.objects.create_user(
        username="charlie", email="charlie@example.org", password="correct horse battery staple", is_staff=True
    )
