"""The organizers' wave pages: permissions, creating and editing waves with their rules (one baseline
per campaign, place and sample type; version and sample fixed once there are responses), invitation
codes (only for invited waves, downloaded once as CSV, only hashes stored), counts, and the admin."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from belonging.core.models import Place
from belonging.measure import services
from belonging.measure.models import ImportBatch, Invitation, Response, Wave
from tests.measure.conftest import SLUG, add_response

pytestmark = pytest.mark.django_db

WAVES = "/en/survey/manage/"
CREATE = "/en/survey/manage/new/"


def wave_path(wave: Wave, suffix: str = "", lang: str = "en") -> str:
    return f"/{lang}/survey/manage/waves/{wave.pk}/{suffix}"


def form_data(campaign, **overrides) -> dict[str, str]:
    values = {
        "campaign": str(campaign.pk),
        "place": "",
        "slug": "spring-2026",
        "title_en": "Spring 2026",
        "title_fr": "Printemps 2026",
        "kind": "baseline",
        "sample": "open",
        "questionnaire": "2026.1",
        "opens_on": "2026-04-01",
        "closes_on": "2026-04-30",
        "replicate_centre": "replicate_mean",
    }
    values.update(overrides)
    return values


def data_of(wave: Wave, **overrides) -> services.WaveData:
    values = {
        "slug": wave.slug,
        "title_en": wave.title_en,
        "title_fr": wave.title_fr,
        "opens_at": wave.opens_at,
        "closes_at": wave.closes_at,
        "place": wave.place,
        "kind": wave.kind,
        "sample": wave.sample,
        "questionnaire": wave.questionnaire,
        "replicate_centre": wave.replicate_centre,
    }
    values.update(overrides)
    return services.WaveData(**values)


@pytest.fixture
def place(campaign) -> Place:
    return Place.objects.create(
        campaign=campaign, slug="halifax", kind="municipality", name_en="Halifax", name_fr="Halifax", province="NS"
    )


# --- permissions ------------------------------------------------------------------------------------


def _pages(wave: Wave) -> list[str]:
    return [WAVES, CREATE, wave_path(wave), wave_path(wave, "invitations/")]


def test_anonymous_visitors_are_sent_to_sign_in(client, wave):
    for path in _pages(wave):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    assert client.post(wave_path(wave, "invitations/"), {"count": "5"}).status_code == 302
    assert not Invitation.objects.exists()


def test_people_without_the_role_are_refused(outsider_client, invited_wave):
    for path in _pages(invited_wave):
        assert outsider_client.get(path).status_code == 403, path
    assert outsider_client.post(wave_path(invited_wave, "invitations/"), {"count": "5"}).status_code == 403
    assert outsider_client.post(CREATE, form_data(invited_wave.campaign)).status_code == 403
    assert not Invitation.objects.exists() and Wave.objects.count() == 1


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_organizers_see_every_page_in_both_languages(organizer_client, invited_wave, lang):
    for path in _pages(invited_wave):
        path = path.replace("/en/", f"/{lang}/", 1)
        response = organizer_client.get(path)
        assert response.status_code == 200, path
        assert f'<html lang="{lang}">' in response.content.decode()


# --- the list and the wave page ---------------------------------------------------------------------


def test_the_list_counts_responses_and_invitations_per_wave(organizer_client, invited_wave, make_wave, organizer):
    open_wave = make_wave(slug="open-follow-up", kind=Wave.Kind.FOLLOW_UP)
    codes = services.generate_invitations(invited_wave, 4)
    services.start_response(invited_wave, invitation_code=codes[0], language="en")
    add_response(invited_wave, {"css_belonging": "very_strong"})
    add_response(open_wave, submitted=False)
    add_response(open_wave)
    add_response(open_wave)
    batch = ImportBatch.objects.create(wave=open_wave, filename="css.csv", rows=3, imported_by=organizer)
    for _ in range(3):
        Response.objects.create(
            wave=open_wave,
            source=Response.Source.IMPORTED,
            batch=batch,
            status=Response.Status.SUBMITTED,
            started_on=date(2025, 1, 1),
            submitted_on=date(2025, 1, 1),
        )
    page = organizer_client.get(WAVES)
    assert page.status_code == 200
    [group] = [g for g in page.context["campaigns"] if g["campaign"].slug == SLUG]
    counts = {
        w.slug: (w.in_progress, w.submitted, w.imported, w.invitations_used, w.invitations_unused) for w in group["waves"]
    }
    assert counts == {"invited": (1, 1, 0, 1, 3), "open-follow-up": (1, 2, 3, 0, 0)}
    html = page.content.decode()
    assert wave_path(invited_wave) in html and "1 / 4" in html


def test_the_wave_page_links_to_the_survey_and_the_data_pages(organizer_client, invited_wave):
    html = organizer_client.get(wave_path(invited_wave)).content.decode()
    for suffix in ("invitations/", "import/", "margins/", "compute/", "publish/"):
        assert f'href="{wave_path(invited_wave, suffix)}"' in html, suffix
    assert f"http://testserver/en/survey/{SLUG}/invited/" in html
    assert f"/en/survey/{SLUG}/results/" not in html  # nothing published yet
    Wave.objects.filter(pk=invited_wave.pk).update(is_published=True)
    assert f"/en/survey/{SLUG}/results/" in organizer_client.get(wave_path(invited_wave)).content.decode()


# --- creating and editing ---------------------------------------------------------------------------


def test_creating_a_wave(organizer_client, campaign):
    page = organizer_client.get(f"{CREATE}?campaign={SLUG}")
    assert page.status_code == 200 and page.context["form"].initial["campaign"] == campaign
    response = organizer_client.post(CREATE, form_data(campaign))
    wave = Wave.objects.get(slug="spring-2026")
    assert response.status_code == 302 and response["Location"] == wave_path(wave)
    assert (wave.campaign, wave.title_fr, wave.kind, wave.sample) == (campaign, "Printemps 2026", "baseline", "open")
    # Whole days: from the start of the first day to the end of the last, local time.
    assert timezone.localtime(wave.opens_at).replace(tzinfo=None).isoformat() == "2026-04-01T00:00:00"
    assert timezone.localtime(wave.closes_at).replace(tzinfo=None).isoformat() == "2026-05-01T00:00:00"
    assert services.first_day(wave) == date(2026, 4, 1) and services.last_day(wave) == date(2026, 4, 30)
    assert organizer_client.get(wave_path(wave)).context["form"].initial["closes_on"] == date(2026, 4, 30)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_bad_input_is_refused_in_the_visitors_language_and_kept(organizer_client, campaign, lang):
    data = form_data(campaign, slug="results", title_fr="", opens_on="2026-04-30", closes_on="2026-04-01")
    response = organizer_client.post(CREATE.replace("/en/", f"/{lang}/"), data)
    assert response.status_code == 400
    html = response.content.decode()
    with translation.override(lang):
        assert escape(gettext("Enter the title in French.")) in html
        assert escape(gettext("The last day must be on or after the first day.")) in html
    assert 'value="Spring 2026"' in html and 'value="2026-04-30"' in html  # what was typed is kept
    assert not Wave.objects.exists()
    reserved = organizer_client.post(CREATE, form_data(campaign, slug="results"))
    assert reserved.status_code == 400 and "is used by another page" in reserved.content.decode()


def test_one_baseline_per_campaign_place_and_sample(organizer_client, campaign, place, wave):
    """``wave`` is the campaign's open baseline (no place)."""
    refused = organizer_client.post(CREATE, form_data(campaign))
    assert refused.status_code == 400
    assert "is already the baseline of this campaign for this place and sample type" in refused.content.decode()
    assert Wave.objects.count() == 1
    assert organizer_client.post(CREATE, form_data(campaign, kind="follow_up")).status_code == 302
    assert organizer_client.post(CREATE, form_data(campaign, slug="invited", sample="invited")).status_code == 302
    assert organizer_client.post(CREATE, form_data(campaign, slug="halifax", place=str(place.pk))).status_code == 302
    assert (
        organizer_client.post(CREATE, form_data(campaign, slug="halifax-2", place=str(place.pk))).status_code == 400
    )
    # Turning a follow-up into a second baseline is refused too.
    follow_up = Wave.objects.get(slug="spring-2026")
    with pytest.raises(ValidationError) as refused_update:
        services.update_wave(follow_up, data_of(follow_up, kind=Wave.Kind.BASELINE))
    assert "kind" in refused_update.value.message_dict
    # The baseline itself can be edited (it is not its own rival).
    services.update_wave(wave, data_of(wave, title_en="Baseline, renamed"))
    assert Wave.objects.get(pk=wave.pk).title_en == "Baseline, renamed"


def test_a_place_of_another_campaign_and_a_taken_slug_are_refused(campaign, wave):
    from belonging.core.models import Campaign

    elsewhere = Campaign.objects.create(slug="elsewhere", title_en="Elsewhere", title_fr="Ailleurs")
    foreign = Place.objects.create(
        campaign=elsewhere, slug="x", kind="region", name_en="X", name_fr="X", province="ON"
    )
    now = timezone.now()
    base = services.WaveData(
        slug="baseline", title_en="A", title_fr="B", opens_at=now, closes_at=now + timedelta(days=1),
        kind=Wave.Kind.FOLLOW_UP,
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.create_wave(campaign, base)
    assert set(refused.value.message_dict) == {"slug"}
    with pytest.raises(ValidationError) as refused:
        services.create_wave(campaign, data_of(wave, slug="other", place=foreign, kind=Wave.Kind.FOLLOW_UP))
    assert set(refused.value.message_dict) == {"place"}
    with pytest.raises(ValidationError) as refused:
        services.create_wave(
            campaign, data_of(wave, slug="x2", kind=Wave.Kind.FOLLOW_UP, closes_at=wave.opens_at)
        )
    assert set(refused.value.message_dict) == {"closes_at"}
    # The same short name in another campaign is fine.
    assert services.create_wave(elsewhere, data_of(wave, place=None)).campaign == elsewhere


def test_version_and_sample_are_fixed_once_a_wave_has_responses(organizer_client, wave):
    services.update_wave(wave, data_of(wave, sample=Wave.Sample.INVITED))  # no responses yet: allowed
    wave.refresh_from_db()
    services.update_wave(wave, data_of(wave, sample=Wave.Sample.OPEN))
    wave.refresh_from_db()
    services.start_response(wave, language="en")  # one response, even in progress, fixes them
    with pytest.raises(ValidationError) as refused:
        services.update_wave(wave, data_of(wave, sample=Wave.Sample.INVITED, questionnaire="1999.1"))
    assert set(refused.value.message_dict) == {"sample", "questionnaire"}
    # On the page the two fields are disabled, and a forged value is ignored.
    page = organizer_client.get(wave_path(wave))
    assert page.context["form"].fields["sample"].disabled and page.context["form"].fields["questionnaire"].disabled
    data = form_data(wave.campaign, slug=wave.slug, title_en="Renamed", sample="invited", opens_on="2026-01-01")
    data.pop("campaign")
    saved = organizer_client.post(wave_path(wave), data)
    assert saved.status_code == 302
    wave.refresh_from_db()
    assert wave.title_en == "Renamed" and wave.sample == Wave.Sample.OPEN


def test_editing_a_wave_with_errors_keeps_the_input(organizer_client, wave):
    data = form_data(wave.campaign, slug="bad slug!", title_en="Kept title")
    data.pop("campaign")
    response = organizer_client.post(wave_path(wave), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Kept title"' in html and 'id="error-summary"' in html
    assert Wave.objects.get(pk=wave.pk).title_en == "Baseline survey"


# --- invitations ------------------------------------------------------------------------------------


def test_invitations_download_as_csv_once_and_only_hashes_are_kept(organizer_client, invited_wave):
    page = organizer_client.get(wave_path(invited_wave, "invitations/")).content.decode()
    assert "The codes are shown once." in page
    response = organizer_client.post(wave_path(invited_wave, "invitations/"), {"count": "250"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"] and ".csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["code"]
    codes = [row[0] for row in rows[1:]]
    assert len(codes) == 250 == len(set(codes))
    assert all(re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{2}", c) for c in codes)
    stored = set(Invitation.objects.filter(wave=invited_wave).values_list("code_hash", flat=True))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    assert Invitation.objects.filter(used_on__isnull=True).count() == 250
    page = organizer_client.get(wave_path(invited_wave, "invitations/")).content.decode()
    assert "Not used yet: 250." in page
    assert not any(code in page for code in codes[:20])  # never shown again


def test_invitations_are_only_for_invited_waves(organizer_client, wave):
    page = organizer_client.get(wave_path(wave, "invitations/")).content.decode()
    assert "needs no invitation codes" in page and 'name="count"' not in page
    refused = organizer_client.post(wave_path(wave, "invitations/"), {"count": "5"})
    assert refused.status_code == 400 and not Invitation.objects.exists()
    with pytest.raises(ValidationError):
        services.generate_invitations(wave, 5)


def test_the_number_of_codes_is_bounded(organizer_client, invited_wave):
    for count in ("0", "100001", "many", ""):
        refused = organizer_client.post(wave_path(invited_wave, "invitations/"), {"count": count})
        assert refused.status_code == 400, count
    assert not Invitation.objects.exists()
    with pytest.raises(ValidationError):
        services.generate_invitations(invited_wave, 100_001)
    assert len(services.generate_invitations(invited_wave, 1)) == 1


# --- admin ------------------------------------------------------------------------------------------


def test_the_admin_shows_waves_and_invitations_but_never_responses(client, django_user_model, invited_wave):
    from django.contrib import admin

    assert Wave in admin.site._registry and Invitation in admin.site._registry
    assert Response not in admin.site._registry
    boss = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(boss)
    services.generate_invitations(invited_wave, 3)
    assert client.get("/en/admin/measure/wave/").status_code == 200
    assert client.get("/en/admin/measure/invitation/").status_code == 200
    assert client.get("/en/admin/measure/response/").status_code == 404
    assert client.get(f"/en/admin/measure/wave/{invited_wave.pk}/change/").status_code == 200
