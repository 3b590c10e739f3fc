"""Themes pages: the public "What we heard" in both languages, and the organizers' pages (permissions,
starting a run with errors in the visitor's language, progress, curation, publishing)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from belonging.accounts.roles import MODERATORS
from belonging.themes import services
from belonging.themes.models import Curation, CurationAction, SynthesisRun
from belonging.voices import services as voice_services
from tests.themes.fixtures_report import (
    NAME_A_EN,
    NAME_A_FR,
    NAME_B_FR,
    NAME_C_FR,
    SLUG,
    build_scenario,
    make_run,
    seed,
)

pytestmark = pytest.mark.django_db

REPORT = f"/en/themes/{SLUG}/"
REPORT_FR = f"/fr/themes/{SLUG}/"
RUNS = f"/en/themes/manage/{SLUG}/"
RUNS_FR = f"/fr/themes/manage/{SLUG}/"


def in_french(message: str) -> str:
    with translation.override("fr"):
        return gettext(message)


@pytest.fixture
def scenario():
    return build_scenario()


@pytest.fixture
def moderator(db, django_user_model):
    user = django_user_model.objects.create_user(username="maya", email="maya@example.org", password="x")
    user.groups.add(Group.objects.get(name=MODERATORS))
    return user


def start_data(**overrides):
    values = {
        "place": "",
        "prompt": "",
        "date_from": "",
        "date_to": "",
        "min_themes": "2",
        "max_themes": "12",
        "backend": "lexical",
    }
    values.update(overrides)
    return values


# --- public -------------------------------------------------------------------------------------------


def test_the_report_in_english(client, scenario):
    response = client.get(REPORT)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert NAME_A_EN in html
    assert "rent, housing, affordable" in html
    assert NAME_C_FR not in html and "thidden003" not in html  # hidden from the public
    assert f"/en/voices/{scenario.a_voices[0].public_id}/" in html  # quotes link to the published voices
    assert f"/voices/{scenario.unpublished_quote.public_id}/" not in html
    assert f'href="/en/themes/{SLUG}/report.pdf"' in html
    assert "<svg" in html and 'role="img"' in html  # the chart, with its table alternative
    assert 'id="sizes-table"' in html
    assert "Under-represented" in html and "▼" in html  # a text flag, not colour alone
    assert response.context["report"].run == scenario.run


def test_the_report_in_french(client, scenario):
    response = client.get(REPORT_FR)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert escape(NAME_A_FR) in html
    assert NAME_B_FR in html
    assert escape(in_french("What we heard")) in html
    assert f"/fr/voices/{scenario.a_voices[0].public_id}/" in html
    assert 'lang="fr"' in html


def test_the_report_says_so_when_nothing_is_published(client, db):
    seed()
    response = client.get(REPORT)
    assert response.status_code == 200
    assert "Nothing is published here yet." in response.content.decode()
    assert response.context["report"] is None


def test_an_unpublished_run_is_not_public(client, db):
    build_scenario(published=False)
    assert client.get(REPORT).context["report"] is None
    assert client.get(f"/en/themes/{SLUG}/report.pdf").status_code == 404


def test_an_unknown_campaign_is_not_found(client, db):
    assert client.get("/en/themes/nothing-here/").status_code == 404


def test_the_index_goes_to_the_featured_campaign(client, db):
    seed()
    response = client.get("/en/themes/")
    assert response.status_code == 302
    assert response["Location"] == REPORT


def test_the_navigation_links_to_what_we_heard(client, db):
    seed()
    assert 'href="/en/themes/"' in client.get("/en/").content.decode()


def test_a_withdrawn_voice_leaves_the_public_page(client, scenario, django_capture_on_commit_callbacks):
    voice = scenario.a_voices[1]
    assert str(voice.public_id) in client.get(REPORT).content.decode()  # and the report is cached
    with django_capture_on_commit_callbacks(execute=True):
        voice_services.voice_withdraw(voice=voice)
    html = client.get(REPORT).content.decode()
    assert str(voice.public_id) not in html
    assert "30 voices" not in html and "29 voices" in html


# --- permissions --------------------------------------------------------------------------------------


ORGANIZER_PAGES = ["/en/themes/manage/", RUNS, "/en/themes/manage/runs/{run}/", "/en/themes/manage/runs/{run}/curate/"]


@pytest.mark.parametrize("path", ORGANIZER_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, scenario, path):
    path = path.format(run=scenario.run.pk)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/en/accounts/login/?next=")


@pytest.mark.parametrize("path", ORGANIZER_PAGES)
def test_people_without_the_role_are_refused(client, scenario, outsider, moderator, path):
    path = path.format(run=scenario.run.pk)
    for user in (outsider, moderator):
        client.force_login(user)
        assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ORGANIZER_PAGES)
def test_organizers_see_the_pages(client, scenario, organizer, path):
    client.force_login(organizer)
    assert client.get(path.format(run=scenario.run.pk)).status_code == 200


def test_the_status_json_is_for_organizers_only(client, scenario, organizer, outsider):
    path = f"/en/themes/manage/runs/{scenario.run.pk}/status.json"
    assert client.get(path).status_code == 302
    client.force_login(outsider)
    assert client.get(path).status_code == 403
    client.force_login(organizer)
    response = client.get(path)
    assert response.status_code == 200
    data = json.loads(response.content)
    assert data["status"] == "done" and data["percent"] == 100 and data["finished"] is True


def test_outsiders_cannot_start_curate_or_publish(client, scenario, outsider):
    client.force_login(outsider)
    run = scenario.run.pk
    assert client.post(RUNS, start_data()).status_code == 403
    assert client.post(f"/en/themes/manage/runs/{run}/publish/").status_code == 403
    path = f"/en/themes/manage/runs/{run}/themes/{scenario.theme_a.key}/hide/"
    assert client.post(path).status_code == 403
    assert not Curation.objects.get(key=scenario.theme_a.key).hidden
    assert SynthesisRun.objects.count() == 1


def test_curation_needs_a_post(client, scenario, organizer):
    client.force_login(organizer)
    path = f"/en/themes/manage/runs/{scenario.run.pk}/themes/{scenario.theme_a.key}/hide/"
    assert client.get(path).status_code == 405


# --- starting a run -------------------------------------------------------------------------------------


def test_starting_a_run_queues_it_and_shows_its_progress(client, scenario, organizer):
    client.force_login(organizer)
    response = client.post(RUNS, start_data(prompt=str(scenario.prompt.pk)))
    run = SynthesisRun.objects.exclude(pk=scenario.run.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/en/themes/manage/runs/{run.pk}/"
    assert (run.status, run.prompt, run.min_themes, run.max_themes, run.backend) == (
        "queued",
        scenario.prompt,
        2,
        12,
        "lexical",
    )
    assert run.started_by == organizer
    page = client.get(response["Location"]).content.decode()
    assert '<progress id="run-progress" max="100" value="0"' in page
    assert "js/themes.js" in page
    assert f'href="/en/themes/manage/runs/{run.pk}/"' in page  # the no-script refresh link
    assert '<meta http-equiv="refresh"' not in page


def test_bad_bounds_get_a_french_error_on_a_french_page_and_keep_the_input(client, scenario, organizer):
    client.force_login(organizer)
    response = client.post(RUNS_FR, start_data(min_themes="5", max_themes="2", date_from="2025-03-01"))
    assert response.status_code == 400
    html = response.content.decode()
    message = in_french("The most themes must be at least the fewest themes (%(low)d).") % {"low": 5}
    assert escape(message) in html
    assert 'id="error-summary"' in html
    assert 'name="min_themes" value="5"' in html
    assert 'name="max_themes" value="2"' in html
    assert 'value="2025-03-01"' in html
    assert SynthesisRun.objects.count() == 1


def test_zero_themes_gets_django_french_message(client, scenario, organizer):
    client.force_login(organizer)
    response = client.post(RUNS_FR, start_data(min_themes="0"))
    assert response.status_code == 400
    assert "Assurez-vous que cette valeur est supérieure ou égale à 1." in response.content.decode()


def test_a_date_range_backwards_is_refused(client, scenario, organizer):
    client.force_login(organizer)
    response = client.post(RUNS, start_data(date_from="2025-05-01", date_to="2025-04-01"))
    assert response.status_code == 400
    assert "The end date must be on or after the start date." in response.content.decode()


def test_more_themes_than_the_site_allows_is_refused(client, scenario, organizer, settings):
    settings.THEMES_MAX_THEMES = 10
    client.force_login(organizer)
    response = client.post(RUNS, start_data(max_themes="12"))
    assert response.status_code == 400
    assert "Ensure this value is less than or equal to 10." in response.content.decode()


def test_a_refusal_from_the_services_is_shown_on_its_field(client, scenario, organizer, settings):
    settings.THEMES_MODEL = ""
    client.force_login(organizer)
    response = client.post(RUNS, start_data(backend="sentence-transformers"))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_backend_error"' in html
    assert escape(gettext("This method needs a local model, which this site does not have (THEMES_MODEL).")) in html
    assert SynthesisRun.objects.count() == 1


def test_the_same_form_sent_twice_starts_one_run(client, scenario, organizer):
    client.force_login(organizer)
    key = uuid.UUID(client.get(RUNS).context["form"]["request_key"].value())
    assert client.get(RUNS).context["form"]["request_key"].value() != str(key)  # fresh each time it is shown
    # Refused, the form keeps its key; corrected and sent twice (a double click), it starts one run.
    refused = client.post(RUNS, start_data(max_themes="1", min_themes="3", request_key=str(key)))
    assert refused.status_code == 400 and refused.context["form"]["request_key"].value() == str(key)
    first = client.post(RUNS, start_data(request_key=str(key)))
    second = client.post(RUNS, start_data(request_key=str(key)))
    run = SynthesisRun.objects.exclude(pk=scenario.run.pk).get()
    assert run.request_key == key
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/en/themes/manage/runs/{run.pk}/"
    # Another showing of the form (another key) starts another run.
    client.post(RUNS, start_data(request_key=str(uuid.uuid4())))
    assert SynthesisRun.objects.count() == 3


# --- curation -----------------------------------------------------------------------------------------


def curate_path(scenario, action, key=None):
    return f"/en/themes/manage/runs/{scenario.run.pk}/themes/{key or scenario.theme_b.key}/{action}/"


def test_the_curation_page_shows_hidden_themes_and_history(client, scenario, organizer):
    client.force_login(organizer)
    response = client.get(f"/en/themes/manage/runs/{scenario.run.pk}/curate/")
    html = response.content.decode()
    assert NAME_C_FR in html and "Hidden from the public" in html
    assert "History of changes" in html and "Hidden</td>" in html
    assert "Added since the analysis" in html


def test_rename_then_the_public_page_uses_the_names(client, scenario, organizer):
    client.force_login(organizer)
    data = {
        f"rename-{scenario.theme_b.key}-name_en": "Housing we can afford",
        f"rename-{scenario.theme_b.key}-name_fr": "Se loger à prix abordable",
    }
    response = client.post(curate_path(scenario, "rename"), data)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/curate/#theme-{scenario.theme_b.key}")
    curation = Curation.objects.get(key=scenario.theme_b.key)
    assert (curation.name_en, curation.name_fr) == ("Housing we can afford", "Se loger à prix abordable")
    assert CurationAction.objects.filter(key=scenario.theme_b.key, action="rename", actor=organizer).exists()
    client.logout()
    assert "Housing we can afford" in client.get(REPORT).content.decode()
    assert escape("Se loger à prix abordable") in client.get(REPORT_FR).content.decode()


def test_a_name_too_long_is_refused_with_the_input_kept(client, scenario, organizer):
    client.force_login(organizer)
    long_name = "x" * 151
    data = {f"rename-{scenario.theme_b.key}-name_en": long_name, f"rename-{scenario.theme_b.key}-name_fr": "Logement"}
    response = client.post(curate_path(scenario, "rename"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="error-summary"' in html
    assert f'value="{long_name}"' in html and 'value="Logement"' in html
    assert not Curation.objects.filter(key=scenario.theme_b.key).exists()


def test_hide_and_show(client, scenario, organizer):
    client.force_login(organizer)
    assert client.post(curate_path(scenario, "hide")).status_code == 302
    assert Curation.objects.get(key=scenario.theme_b.key).hidden
    assert "rent, housing, affordable" not in client.get(REPORT).content.decode()
    assert client.post(curate_path(scenario, "show")).status_code == 302
    assert not Curation.objects.get(key=scenario.theme_b.key).hidden


def test_a_refused_merge_shows_the_reason_and_keeps_the_choice(client, scenario, organizer, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError(gettext("Choose two different themes to merge."))

    monkeypatch.setattr(services, "merge", refuse)
    client.force_login(organizer)
    response = client.post(
        curate_path(scenario, "merge"), {f"merge-{scenario.theme_b.key}-target": scenario.theme_a.key}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose two different themes to merge." in html
    assert f'<option value="{scenario.theme_a.key}" selected>' in html


def test_merging_needs_a_target(client, scenario, organizer):
    client.force_login(organizer)
    response = client.post(curate_path(scenario, "merge"), {f"merge-{scenario.theme_b.key}-target": ""})
    assert response.status_code == 400
    assert "Choose the theme to merge into." in response.content.decode()


def test_pinning_offers_only_published_members(client, scenario, organizer, monkeypatch):
    calls = []
    monkeypatch.setattr(services, "pin_quote", lambda **kwargs: calls.append(kwargs))
    client.force_login(organizer)
    unpublished = scenario.a_voices[5]
    path = curate_path(scenario, "pin", scenario.theme_a.key)
    response = client.post(path, {f"pin-{scenario.theme_a.key}-voice": str(unpublished.public_id)})
    assert response.status_code == 400 and calls == []
    published = scenario.a_voices[2]
    response = client.post(path, {f"pin-{scenario.theme_a.key}-voice": str(published.public_id)})
    assert response.status_code == 302
    assert calls[0]["voice"] == published and calls[0]["key"] == scenario.theme_a.key


def test_an_unknown_theme_or_action_is_not_found(client, scenario, organizer):
    client.force_login(organizer)
    assert client.post(curate_path(scenario, "hide", "tnothing")).status_code == 404
    assert client.post(curate_path(scenario, "explode")).status_code == 404


def test_an_older_run_cannot_be_curated(client, scenario, organizer):
    make_run(scenario.campaign)  # a newer finished run: curation applies to it
    client.force_login(organizer)
    page = client.get(f"/en/themes/manage/runs/{scenario.run.pk}/curate/").content.decode()
    assert "This is not the latest analysis." in page
    assert client.post(curate_path(scenario, "hide")).status_code == 302
    assert not Curation.objects.filter(key=scenario.theme_b.key).exists()


def test_publishing(client, organizer, db):
    scenario = build_scenario(published=False)
    client.force_login(organizer)
    response = client.post(f"/en/themes/manage/runs/{scenario.run.pk}/publish/")
    assert response.status_code == 302
    scenario.run.refresh_from_db()
    assert scenario.run.published_at is not None
    client.logout()
    assert NAME_A_EN in client.get(REPORT).content.decode()


def test_publishing_an_unfinished_run_is_refused(client, organizer, db):
    seed()
    from belonging.core.models import Campaign

    run = make_run(Campaign.objects.get(slug=SLUG), status=SynthesisRun.Status.RUNNING, finished_at=None, progress=0.5)
    client.force_login(organizer)
    response = client.post(f"/en/themes/manage/runs/{run.pk}/publish/", follow=True)
    assert "Only a finished synthesis can be published." in response.content.decode()
    run.refresh_from_db()
    assert run.published_at is None


def test_the_run_page_of_an_unfinished_run_goes_to_progress_not_curation(client, organizer, db):
    seed()
    from belonging.core.models import Campaign

    run = make_run(
        Campaign.objects.get(slug=SLUG),
        status=SynthesisRun.Status.RUNNING,
        finished_at=None,
        progress=0.3,
        stage="cluster",
    )
    client.force_login(organizer)
    assert client.get(f"/en/themes/manage/runs/{run.pk}/curate/")["Location"] == f"/en/themes/manage/runs/{run.pk}/"
    page = client.get(f"/en/themes/manage/runs/{run.pk}/").content.decode()
    assert 'value="30"' in page and "30% done" in page
