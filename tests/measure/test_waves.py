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


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_wave_page_says_a_wave_with_imported_replicate_weights_is_import_only(organizer_client, wave, lang):
    notice = 'id="wave-import-only"'
    assert notice not in organizer_client.get(wave_path(wave, lang=lang)).content.decode()
    batch = ImportBatch.objects.create(wave=wave, filename="css.csv", rows=1, replicates=2)
    Response.objects.create(
        wave=wave, source=Response.Source.IMPORTED, batch=batch, status=Response.Status.SUBMITTED,
        replicate_weights=bytes(16), started_on=date(2025, 1, 1), submitted_on=date(2025, 1, 1),
    )  # fmt: skip
    html = organizer_client.get(wave_path(wave, lang=lang)).content.decode()
    assert notice in html
    with translation.override(lang):
        assert escape(gettext("This wave is import-only.")) in html


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


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize(
    ("field", "typed"), [("closes_on", "9999-12-31"), ("opens_on", "1999-12-31"), ("closes_on", "2101-01-01")]
)
def test_dates_outside_2000_to_2100_are_refused_with_a_clear_message(organizer_client, campaign, lang, field, typed):
    """A far-future last day made the form compute a day that does not exist (a 500): dates must be
    in the years 2000 to 2100, said in the visitor's language, with what was typed kept."""
    response = organizer_client.post(CREATE.replace("/en/", f"/{lang}/"), form_data(campaign, **{field: typed}))
    assert response.status_code == 400
    html = response.content.decode()
    with translation.override(lang):
        message = gettext("Enter a date between the years %(first)s and %(last)s.") % {"first": 2000, "last": 2100}
    assert escape(message) in html and f'value="{typed}"' in html
    assert response.context["form"].has_error(field, "out_of_range")
    assert not Wave.objects.exists()


def test_the_first_and_last_days_of_the_allowed_years_are_accepted(organizer_client, campaign, wave):
    response = organizer_client.post(
        CREATE, form_data(campaign, kind="follow_up", opens_on="2000-01-01", closes_on="2100-12-31")
    )
    assert response.status_code == 302
    created = Wave.objects.get(slug="spring-2026")
    assert services.first_day(created) == date(2000, 1, 1) and services.last_day(created) == date(2100, 12, 31)
    # Editing an existing wave is bounded the same way.
    edited = organizer_client.post(wave_path(wave), form_data(campaign, slug=wave.slug, closes_on="9999-12-31"))
    assert edited.status_code == 400 and "Enter a date between the years 2000 and 2100." in edited.content.decode()


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
    assert stored == {services.invitation_hash(c) for c in codes}
    # Keyed with the site's secret: the plain SHA-256 of a code is not what is stored.
    assert not stored & {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    assert Invitation.objects.filter(used=False).count() == 250
    page = organizer_client.get(wave_path(invited_wave, "invitations/")).content.decode()
    assert "Not used yet: 250." in page
    assert not any(code in page for code in codes[:20])  # never shown again


def test_making_codes_hashes_each_code_once(invited_wave, monkeypatch):
    """Making codes is linear: each new code is hashed once (in each form a lookup would try), never the
    earlier codes again (that took 38 s for 100,000 codes)."""
    calls = []
    real = services.invitation_hashes
    monkeypatch.setattr(services, "invitation_hashes", lambda code: calls.append(code) or real(code))
    codes = services.generate_invitations(invited_wave, 2500)
    assert len(calls) == 2500 and sorted(calls) == sorted(c.replace("-", "") for c in codes)
    assert Invitation.objects.filter(wave=invited_wave).count() == 2500 == len(set(codes))


def test_a_code_that_clashes_is_drawn_again_alone(invited_wave, make_wave, monkeypatch):
    """A drawn code whose hash is already stored (an earlier code, here of another wave) or drawn twice
    in one batch is left out, and only it is drawn again."""
    other = make_wave(slug="other", sample=Wave.Sample.INVITED, kind=Wave.Kind.FOLLOW_UP)
    [earlier] = services.generate_invitations(other, 1)
    earlier = earlier.replace("-", "")
    draws = iter([earlier, "AAAAAAAAAA", "AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"])
    monkeypatch.setattr(services, "_random_code", lambda length: next(draws))
    codes = services.generate_invitations(invited_wave, 3)
    assert sorted(codes) == ["AAAA-AAAA-AA", "BBBB-BBBB-BB", "CCCC-CCCC-CC"]
    assert next(draws, None) is None  # five draws: three kept, one taken, one twice
    assert Invitation.objects.filter(wave=invited_wave).count() == 3
    assert Invitation.objects.filter(wave=other).count() == 1


def test_a_code_made_at_the_same_moment_elsewhere_does_not_fail_the_request(invited_wave, monkeypatch):
    """The INSERT of a batch fails if another request stored one of its hashes in the meantime: that
    batch is drawn again, and the request still returns every code it was asked for."""
    from django.db import IntegrityError

    real = Invitation.objects.bulk_create
    failures = iter([True])

    def bulk_create(*args, **kwargs):
        if next(failures, False):
            raise IntegrityError("UNIQUE constraint failed: measure_invitation.code_hash")
        return real(*args, **kwargs)

    monkeypatch.setattr(Invitation.objects, "bulk_create", bulk_create)
    codes = services.generate_invitations(invited_wave, 1500)
    assert len(codes) == 1500 == len(set(codes)) == Invitation.objects.count()
    assert set(Invitation.objects.values_list("code_hash", flat=True)) == {services.invitation_hash(c) for c in codes}


def test_the_largest_number_of_codes_is_made_in_one_request(organizer_client, invited_wave):
    response = organizer_client.post(wave_path(invited_wave, "invitations/"), {"count": "100000"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    codes = [row[0] for row in rows[1:]]
    assert len(codes) == 100_000 == len(set(codes))
    assert Invitation.objects.filter(wave=invited_wave, used=False).count() == 100_000
    assert Invitation.objects.filter(wave=invited_wave).values("created_at").distinct().count() == 1
    sample = codes[::997]
    assert Invitation.objects.filter(code_hash__in=[services.invitation_hash(c) for c in sample]).count() == len(sample)


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


def test_the_admin_shows_waves_with_counts_but_never_responses_nor_single_invitations(
    client, django_user_model, invited_wave
):
    """Invitations appear only as counts on the wave list: no row per code (whether it was used, in the
    order the codes were made), and so no date or filter by date either."""
    from django.contrib import admin

    assert Wave in admin.site._registry
    assert Response not in admin.site._registry and Invitation not in admin.site._registry
    boss = django_user_model.objects.create_superuser("root", "root@example.org", "x")
    client.force_login(boss)
    [used, *_rest] = services.generate_invitations(invited_wave, 3)
    services.start_response(invited_wave, invitation_code=used, language="en")
    listing = client.get("/en/admin/measure/wave/")
    assert listing.status_code == 200
    [row] = listing.context["cl"].result_list
    assert (row.invitations_used, row.invitations_unused) == (1, 2)
    assert client.get("/en/admin/measure/invitation/").status_code == 404
    assert client.get("/en/admin/measure/response/").status_code == 404
    assert client.get(f"/en/admin/measure/wave/{invited_wave.pk}/change/").status_code == 200


# --- migration 0002: a used invitation keeps no date ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_the_date_of_use_into_a_flag():
    """Invitations used on some day become ``used``; the date column is dropped. Going back gives the
    used ones the day their batch was made, never a day of use."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("measure", "0001_initial")], [("measure", "0002_invitation_used")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        campaign = old.get_model("core", "Campaign").objects.create(slug="c", title_en="C", title_fr="C")
        wave = old.get_model("measure", "Wave").objects.create(
            campaign=campaign, slug="w", title_en="W", title_fr="W",
            opens_at=timezone.now() - timedelta(days=1), closes_at=timezone.now() + timedelta(days=1),
        )  # fmt: skip
        OldInvitation = old.get_model("measure", "Invitation")
        OldInvitation.objects.create(wave=wave, code_hash="a" * 64, used_on=date(2026, 5, 3))
        OldInvitation.objects.create(wave=wave, code_hash="b" * 64, used_on=date(2026, 5, 9))
        OldInvitation.objects.create(wave=wave, code_hash="c" * 64, used_on=None)

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps.get_model("measure", "Invitation")
        assert dict(new.objects.values_list("code_hash", "used")) == {"a" * 64: True, "b" * 64: True, "c" * 64: False}
        assert "used_on" not in {f.name for f in new._meta.get_fields()}
        with connection.cursor() as cursor:
            columns = {c.name for c in connection.introspection.get_table_description(cursor, "measure_invitation")}
        assert "used_on" not in columns and "used" in columns

        executor = MigrationExecutor(connection)
        executor.migrate(before)
        back = executor.loader.project_state(before).apps.get_model("measure", "Invitation")
        made = {day for i in back.objects.all() for day in (timezone.localdate(i.created_at), i.created_at.date())}
        rows = dict(back.objects.values_list("code_hash", "used_on"))
        assert rows["c" * 64] is None and {rows["a" * 64], rows["b" * 64]} <= made
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
