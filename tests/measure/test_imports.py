"""Importing responses from CSV: a Statistics Canada-like microdata file (numeric codes, GEO_PRV, WTS_M,
BSW1…BSW20) imports with the values it holds; bad rows are all reported with their line numbers and
reasons (in French too) and nothing is imported; byte-order marks and semicolons; replicate counts
and mixed designs refused; margins uploads; the pages and who may use them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from belonging.core import identity
from belonging.measure import data_forms, imports, instrument
from belonging.measure.models import ImportBatch, Margin, Response
from tests.measure.conftest import add_response

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
CCHS = DATA / "cchs_like.csv"

MAPPING = {
    "css_belonging": {
        "column": "PSC_Q1",
        "values": {
            "1": "very_strong",
            "2": "somewhat_strong",
            "3": "somewhat_weak",
            "4": "very_weak",
            "7": "prefer_not",
            "8": "",
            "9": "",
        },
    },
    "province": {"column": "GEO_PRV", "values": imports.STATCAN_PROVINCES},
    "age_band": {
        "column": "AGE_BAND",
        "values": {
            "1": "15_17",
            "2": "18_24",
            "3": "25_29",
            "4": "30_34",
            "5": "35_44",
            "6": "45_54",
            "7": "55_64",
            "8": "65_74",
            "9": "75_plus",
        },
    },
    "gender": {"column": "GENDER", "values": {"1": "man", "2": "woman"}},
    "indigenous": {
        "column": "INDIG",
        "values": {"1": "first_nations", "2": "metis", "3": "inuk", "4": "not_indigenous", "9": "prefer_not"},
    },
    # "contribution" is not mapped: the file's column of that name holds codes and is taken as it is.
}
BELONGING = MAPPING["css_belonging"]["values"]
AGES = MAPPING["age_band"]["values"]
INDIGENOUS = MAPPING["indigenous"]["values"]


def in_french(message: str) -> str:
    with translation.override("fr"):
        return gettext(message)


def read_rows(path: Path = CCHS) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def to_csv(header: list[str], rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(content: bytes, name: str = "file.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def expected_answers(header: list[str], row: list[str]) -> dict:
    cell = dict(zip(header, row, strict=True))
    answers = {}
    if BELONGING[cell["PSC_Q1"]]:
        answers["css_belonging"] = BELONGING[cell["PSC_Q1"]]
    answers["province"] = imports.STATCAN_PROVINCES[cell["GEO_PRV"]]
    answers["age_band"] = AGES[cell["AGE_BAND"]]
    answers["gender"] = {"1": "man", "2": "woman"}[cell["GENDER"]]
    if cell["contribution"]:
        answers["contribution"] = cell["contribution"]
    if cell["INDIG"]:
        answers["indigenous"] = [INDIGENOUS[p] for p in cell["INDIG"].split(";")]
    return answers


# --- a realistic file -------------------------------------------------------------------------------


def test_a_microdata_file_imports_with_the_values_it_holds(wave, organizer):
    header, rows = read_rows()
    batch = imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW", organizer, filename="cchs_like.csv")

    assert batch.rows == len(rows) == 40
    assert batch.replicates == 20
    assert batch.imported_by == organizer
    assert batch.mapping["weight"] == "WTS_M"
    assert batch.mapping["replicates"] == [f"BSW{i}" for i in range(1, 21)]
    assert batch.mapping["items"]["contribution"] == {"column": "contribution", "values": {}}  # matched by name
    stored = list(Response.objects.filter(wave=wave).order_by("pk"))
    assert len(stored) == 40
    for response, row in zip(stored, rows, strict=True):
        cell = dict(zip(header, row, strict=True))
        answers = expected_answers(header, row)
        assert response.answers == answers
        assert response.source == Response.Source.IMPORTED and response.batch == batch
        assert response.status == Response.Status.SUBMITTED and response.submitted_on is not None
        assert response.token_hash is None
        assert response.weight == float(cell["WTS_M"])
        replicates = np.frombuffer(response.replicate_weights, dtype="<f8")
        assert replicates.tolist() == [float(cell[f"BSW{i}"]) for i in range(1, 21)]
        assert response.province == answers["province"]
        assert response.communities == identity.encode_communities(instrument.communities_of(answers))
    # Row 4 (line 5) is a Métis and First Nations woman or man in New Brunswick: both communities derived.
    fourth = stored[3]
    assert fourth.province == "NB"
    assert {"indigenous", "first_nations", "metis"} <= identity.decode_communities(fourth.communities)


def test_statcan_province_codes_cover_every_province_and_territory(wave):
    header = ["GEO_PRV", "contribution"]
    rows = [[code, "neither"] for code in imports.STATCAN_PROVINCES]
    imports.import_csv(
        wave, to_csv(header, rows), {"province": {"column": "GEO_PRV", "values": imports.STATCAN_PROVINCES}}
    )
    provinces = list(Response.objects.filter(wave=wave).order_by("pk").values_list("province", flat=True))
    assert provinces == ["NL", "PE", "NS", "NB", "QC", "ON", "MB", "SK", "AB", "BC", "YT", "NT", "NU"]
    assert set(Response.objects.values_list("weight", flat=True)) == {1.0}  # no weight column: 1 each


def test_columns_named_like_items_are_read_as_they_are(wave):
    content = b"css_belonging,Gender,population_groups\nvery_strong,woman,black;south_asian\nno_opinion,,\n"
    batch = imports.import_csv(wave, content)
    assert batch.rows == 2
    first, second = Response.objects.filter(wave=wave).order_by("pk")
    assert first.answers == {
        "css_belonging": "very_strong",
        "gender": "woman",
        "population_groups": ["black", "south_asian"],
    }
    assert {"women", "racialized", "black"} <= identity.decode_communities(first.communities)
    assert second.answers == {"css_belonging": "no_opinion"}
    assert second.replicate_weights is None


# --- bad rows ---------------------------------------------------------------------------------------


def _three_bad_rows() -> bytes:
    header, rows = read_rows()
    rows = [list(r) for r in rows]
    weight = header.index("WTS_M")
    rows[4][weight] = "abc"  # line 6: not a number
    rows[10][header.index("BSW7")] = ""  # line 12: a replicate weight missing
    rows[19][header.index("PSC_Q1")] = "5"  # line 21: not a code of the question
    rows[30] = rows[30][:-1]  # line 32: a value short
    return to_csv(header, rows)


EXPECTED_REASONS = [
    (6, "the weight (%(column)s) “%(value)s” is not a number", {"column": "WTS_M", "value": "abc"}),
    (12, "replicate weights missing: %(columns)s", {"columns": "BSW7"}),
    (
        21,
        "%(column)s: “%(value)s” is not an answer to question %(item)s",
        {"column": "PSC_Q1", "value": "5", "item": "css_belonging"},
    ),
]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(wave, language):
    with translation.override(language), pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, _three_bad_rows(), MAPPING, "WTS_M", "BSW")
    error = refused.value
    assert error.bad_rows == 4 and error.rows == 40
    assert [p.line for p in error.problems] == [6, 12, 21, 32]
    with translation.override(language):
        for problem, (line, message, params) in zip(error.problems, EXPECTED_REASONS, strict=False):
            assert problem.line == line
            assert problem.reasons == (gettext(message) % params,)
        short = error.problems[3].reasons[0]
        assert short == translation.ngettext(
            "it has %(found)s value but the header has %(expected)s columns",
            "it has %(found)s values but the header has %(expected)s columns",
            27,
        ) % {"found": 27, "expected": 28}
        assert error.problems[0].text == gettext("Line %(line)s: %(reasons)s") % {
            "line": 6,
            "reasons": error.problems[0].reasons[0],
        }
    assert Response.objects.count() == 0
    assert ImportBatch.objects.count() == 0


def test_only_the_first_fifty_bad_rows_are_listed_but_all_are_counted(wave):
    rows = [[f"{i}", "very_strong"] for i in range(120)]
    content = to_csv(["id", "css_belonging"], [[r[0], "strong"] for r in rows])
    with pytest.raises(imports.ImportRefused) as refused:
        imports.check_csv(wave, content)
    assert refused.value.bad_rows == 120
    assert len(refused.value.problems) == imports.MAX_SHOWN
    assert refused.value.problems[-1].line == imports.MAX_SHOWN + 1
    assert "120" in refused.value.messages[0]


def test_several_reasons_on_one_row_are_all_given(wave):
    content = b"css_belonging,indigenous,w,r1,r2\nvery_strong,metis;prefer_not,-3,1,-1\n"
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content, None, "w", "r")
    (problem,) = refused.value.problems
    assert problem.line == 2
    assert len(problem.reasons) == 3
    assert "Prefer not to answer" in problem.reasons[0]
    assert "-3" in problem.reasons[1]
    assert "r2" in problem.reasons[2]


def test_line_numbers_count_quoted_line_breaks_and_blank_lines(wave):
    content = b'note,css_belonging\n"two\nlines",very_strong\n\n"x",nope\n'
    with pytest.raises(imports.ImportRefused) as refused:
        imports.check_csv(wave, content)
    assert [p.line for p in refused.value.problems] == [5]


# --- file formats -----------------------------------------------------------------------------------


def test_a_byte_order_mark_and_semicolons_with_decimal_commas(wave):
    header, rows = read_rows()
    french = [
        [cell.replace(".", ",") if i >= header.index("WTS_M") else cell for i, cell in enumerate(row)] for row in rows
    ]
    content = b"\xef\xbb\xbf" + to_csv(header, french, delimiter=";")
    batch = imports.import_csv(wave, upload(content), MAPPING, "WTS_M", "BSW")
    assert batch.rows == 40
    first = Response.objects.filter(wave=wave).order_by("pk").first()
    assert first.weight == float(rows[0][header.index("WTS_M")])
    assert first.answers == expected_answers(header, rows[0])  # the first column was found despite the BOM
    assert np.frombuffer(first.replicate_weights, "<f8")[1] == float(rows[0][header.index("BSW2")])


def test_a_file_that_is_not_utf8_is_refused_with_its_line(wave):
    content = "css_belonging,note\nvery_strong,ok\nvery_weak,Montréal\n".encode("latin-1")
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content)
    assert "UTF-8" in refused.value.messages[0] and "3" in refused.value.messages[0]
    assert Response.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"css_belonging\n", "no rows"),
        (b"a,a\n1,2\n", "same name"),
        (b"a,b\n1,2\n", "No column of the file is matched"),
    ],
)
def test_files_refused_as_a_whole(wave, content, fragment):
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content)
    assert fragment in " ".join(refused.value.messages)


def test_named_columns_that_are_not_in_the_file_are_all_reported(wave):
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, b"css_belonging\nvery_strong\n", {"power": {"column": "PWR"}}, "WTS", "BSW")
    text = " ".join(refused.value.messages)
    assert "PWR" in text and "WTS" in text and "BSW" in text


def test_replicate_columns_by_prefix_are_in_numeric_order_and_without_gaps(wave):
    header = ["css_belonging", "w", "B10", "B2", "B1", "B3", "B4", "B5", "B6", "B7", "B8", "B9"]
    assert imports.replicate_columns(header, "B") == [f"B{i}" for i in range(1, 11)]
    assert imports.replicate_columns(header, "B2, B1") == ["B2", "B1"]
    with pytest.raises(imports.ImportRefused) as refused:
        imports.replicate_columns([h for h in header if h != "B7"], "B")
    assert "B7" in refused.value.messages[0]


# --- designs that do not mix ------------------------------------------------------------------------


def test_a_wave_with_replicate_weights_takes_the_same_number_again(wave):
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    header, rows = read_rows()
    fewer = header[: header.index("BSW10")]
    content = to_csv(fewer, [row[: len(fewer)] for row in rows[:3]])
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content, MAPPING, "WTS_M", "BSW")
    assert "20" in refused.value.messages[0] and "9" in refused.value.messages[0]
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content, MAPPING, "WTS_M", "")
    assert "none" in refused.value.messages[0]
    assert Response.objects.count() == 40
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")  # the same design: fine
    assert Response.objects.count() == 80


def test_replicate_weights_never_join_responses_answered_here(wave):
    add_response(wave, {"css_belonging": "very_strong"})
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    assert "wave of its own" in refused.value.messages[0]
    batch = imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M")  # weights alone mix fine
    assert batch.replicates == 0


# --- preview ----------------------------------------------------------------------------------------


def test_the_preview_shows_the_head_and_guesses_weights(wave):
    found = imports.preview(CCHS.read_bytes(), wave.questions)
    assert found.header[:3] == ["PUMFID", "GEO_PRV", "AGE_BAND"]
    assert len(found.rows) == imports.PREVIEW_ROWS
    # Names are compared without case: AGE_BAND and GENDER are proposed for age_band and gender.
    assert found.suggested_columns == {"contribution": "contribution", "age_band": "AGE_BAND", "gender": "GENDER"}
    assert found.weight_column == "WTS_M"
    assert (found.replicate_prefix, found.replicate_count) == ("BSW", 20)
    assert set(found.values["PSC_Q1"]) <= {"1", "2", "3", "4", "7", "8", "9"}
    assert found.scanned_rows == 40


# --- margins ----------------------------------------------------------------------------------------


def test_margins_replace_the_waves_margins(wave):
    Margin.objects.create(wave=wave, variable="gender", category="man", population=5)
    imports.replace_margins(wave, b"variable,category,population\nprovince,ON,15996989\nprovince,QC,8874683.5\n")
    assert sorted(Margin.objects.filter(wave=wave).values_list("variable", "category", "population")) == [
        ("province", "ON", 15996989.0),
        ("province", "QC", 8874683.5),
    ]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_bad_margins_are_reported_by_line_and_change_nothing(wave, language):
    Margin.objects.create(wave=wave, variable="gender", category="man", population=5)
    content = (
        b"variable,category,population\nprovince,ON,100\nincome,high,3\nprovince,XX,4\nprovince,ON,5\n"
        b"gender,prefer_not,1\nage_band,18_24,0\n"
    )
    with translation.override(language):
        with pytest.raises(imports.ImportRefused) as refused:
            imports.replace_margins(wave, content)
        problems = refused.value.problems
        assert [p.line for p in problems] == [3, 4, 5, 6, 7]
        assert problems[2].reasons == (
            gettext("%(variable)s %(category)s is already given on line %(line)s")
            % {"variable": "province", "category": "ON", "line": 2},
        )
        assert problems[4].reasons == (
            gettext("the population must be greater than 0, not %(value)s") % {"value": "0"},
        )
    assert list(Margin.objects.filter(wave=wave).values_list("category", flat=True)) == ["man"]


# --- forms ------------------------------------------------------------------------------------------


def test_the_value_map_is_written_as_pairs_and_checked(wave):
    data = {
        "column_css_belonging": "PSC_Q1",
        "values_css_belonging": "1=very_strong; 2 = somewhat_strong;8=",
        "weight_column": " WTS_M ",
    }
    form = data_forms.ImportForm(data, {"file": upload(b"x\n1\n")}, questionnaire=wave.questions)
    assert form.is_valid(), form.errors
    assert form.mapping() == {
        "css_belonging": {"column": "PSC_Q1", "values": {"1": "very_strong", "2": "somewhat_strong", "8": ""}}
    }
    assert form.cleaned_data["weight_column"] == "WTS_M"
    bad = data_forms.ImportForm(
        {"values_css_belonging": "1=strong", "values_power": "1"},
        {"file": upload(b"x\n1\n")},
        questionnaire=wave.questions,
    )
    assert not bad.is_valid()
    assert "strong" in bad.errors["values_css_belonging"][0]
    assert "=" in bad.errors["values_power"][0]


def test_the_form_starts_from_the_last_imports_mapping(wave, organizer_client):
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    page = organizer_client.get(f"/en/survey/manage/waves/{wave.pk}/import/")
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["weight_column"] == "WTS_M"
    assert form.initial["replicate_columns"] == "BSW"
    assert form.initial["column_css_belonging"] == "PSC_Q1"
    assert form.initial["values_css_belonging"].startswith("1=very_strong; 2=somewhat_strong")


# --- pages and permissions --------------------------------------------------------------------------


def _paths(wave) -> list[str]:
    base = f"/en/survey/manage/waves/{wave.pk}"
    return [f"{base}/import/", f"{base}/margins/", f"{base}/compute/", f"{base}/publish/"]


def test_anonymous_visitors_are_sent_to_sign_in(client, wave):
    for path in _paths(wave):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302 and response["Location"].startswith("/en/accounts/login/?next="), path


def test_people_without_the_role_are_refused(outsider_client, wave):
    for path in _paths(wave):
        assert outsider_client.get(path).status_code == 403, path
        assert outsider_client.post(path).status_code == 403, path
    response = outsider_client.post(
        _paths(wave)[0], {"file": upload(CCHS.read_bytes()), "action": "import", "weight_column": "WTS_M"}
    )
    assert response.status_code == 403
    assert Response.objects.count() == 0


def test_importing_through_the_page(wave, organizer_client, organizer):
    path = _paths(wave)[0]
    response = organizer_client.post(
        path, {**_form_data(action="import"), "file": upload(CCHS.read_bytes(), "cchs.csv")}, follow=True
    )
    assert response.status_code == 200
    assert "40 responses were imported from cchs.csv." in response.content.decode()
    assert ImportBatch.objects.get().imported_by == organizer
    assert Response.objects.filter(wave=wave).count() == 40


def _form_data(**extra) -> dict:
    data = {"weight_column": "WTS_M", "replicate_columns": "BSW", **extra}
    for item_id, chosen in MAPPING.items():
        data[f"column_{item_id}"] = chosen["column"]
        data[f"values_{item_id}"] = data_forms.format_values(chosen["values"])
    return data


def test_checking_through_the_page_imports_nothing_and_shows_the_file(wave, organizer_client):
    path = _paths(wave)[0]
    # Without value maps, AGE_BAND and GENDER are matched by name, but their numeric codes are not answers:
    # the check says so, and the preview lists the values that need an entry.
    response = organizer_client.post(
        path, {"file": upload(CCHS.read_bytes()), "action": "check", "weight_column": "WTS_M"}
    )
    assert response.status_code == 400
    matches = {m["item"].id: m for m in response.context["preview"]["matches"]}
    assert matches["age_band"]["column"] == "AGE_BAND" and matches["age_band"]["automatic"]
    assert set(matches["gender"]["unmapped"]) == {"1", "2"}
    assert matches["contribution"]["unmapped"] == []
    response = organizer_client.post(path, {**_form_data(action="check"), "file": upload(CCHS.read_bytes())})
    assert response.status_code == 200
    page = response.content.decode()
    assert "The file is ready: all 40 rows can be imported." in page
    assert "GEO_PRV" in page and "looks like a final weight" in page
    assert response.context["check"].replicates == 20
    assert Response.objects.count() == 0


def test_a_refused_file_is_listed_on_the_page_in_french_and_keeps_the_fields(wave, organizer_client):
    path = f"/fr/survey/manage/waves/{wave.pk}/import/"
    response = organizer_client.post(path, {**_form_data(action="import"), "file": upload(_three_bad_rows())})
    assert response.status_code == 400
    page = response.content.decode()
    with translation.override("fr"):
        reason = gettext(EXPECTED_REASONS[0][1]) % EXPECTED_REASONS[0][2]
        line = gettext("Line %(line)s: %(reasons)s") % {"line": 6, "reasons": reason}
    assert escape(line) in page
    assert 'value="WTS_M"' in page
    assert Response.objects.count() == 0


def test_margins_through_the_page(wave, organizer_client):
    path = _paths(wave)[1]
    response = organizer_client.post(
        path, {"file": upload(b"variable,category,population\ngender,woman,10\ngender,man,9\n")}, follow=True
    )
    assert response.status_code == 200
    assert Margin.objects.filter(wave=wave).count() == 2
    bad = organizer_client.post(path, {"file": upload(b"variable,category,population\ngender,woman,-1\n")})
    assert bad.status_code == 400
    assert Margin.objects.filter(wave=wave).count() == 2
    organizer_client.post(path, {"action": "clear"})
    assert Margin.objects.filter(wave=wave).count() == 0


# --- the command ------------------------------------------------------------------------------------


def test_the_command_imports_a_file_with_a_mapping_from_options(wave, tmp_path):
    out = io.StringIO()
    call_command(
        "import_survey",
        wave.campaign.slug,
        wave.slug,
        str(CCHS),
        "--weight=WTS_M",
        "--replicates=BSW",
        "--map=css_belonging=PSC_Q1",
        "--values=css_belonging=1=very_strong;2=somewhat_strong;3=somewhat_weak;4=very_weak;7=prefer_not;8=;9=",
        "--map=province=GEO_PRV",
        "--statcan-provinces",
        "--values=age_band=" + data_forms.format_values(AGES),
        "--values=gender=1=man;2=woman",
        "--map=indigenous=INDIG",
        "--values=indigenous=" + data_forms.format_values(INDIGENOUS),
        "--map=age_band=AGE_BAND",
        "--map=gender=GENDER",
        stdout=out,
    )
    assert "Imported 40 responses (20 replicate weights)" in out.getvalue()
    header, rows = read_rows()
    assert [r.answers for r in Response.objects.order_by("pk")] == [expected_answers(header, row) for row in rows]
    # The stored mapping runs the next import as it is.
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(ImportBatch.objects.get().mapping))
    call_command(
        "import_survey", wave.campaign.slug, wave.slug, str(CCHS), f"--mapping={mapping}", "--check", stdout=out
    )
    assert "All 40 rows can be imported (20 replicate weights)." in out.getvalue()


def test_the_command_lists_bad_rows_and_imports_nothing(wave, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_three_bad_rows())
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"items": MAPPING, "weight": "WTS_M", "replicates": "BSW"}))
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_survey", wave.campaign.slug, wave.slug, str(bad), f"--mapping={mapping}", stderr=err)
    lines = [line.strip() for line in err.getvalue().splitlines() if line.strip().startswith("Line ")]
    assert [line.split(":")[0] for line in lines] == ["Line 6", "Line 12", "Line 21", "Line 32"]
    assert Response.objects.count() == 0


# --- replicate columns: at least two, numbered 1…n ---------------------------------------------------


@pytest.mark.parametrize("spec", ["BSW1", "BSW", ["BSW1"]])
def test_a_single_replicate_weight_column_is_refused(wave, spec):
    """A bootstrap variance needs at least 2 replicates: the import says so, instead of every later
    computation failing."""
    content = b"css_belonging,w,BSW1\nvery_strong,1,1\nvery_weak,2,2\n"
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_csv(wave, content, None, "w", spec)
    assert "at least 2 columns; only BSW1 was found" in refused.value.messages[0]
    with translation.override("fr"):
        with pytest.raises(imports.ImportRefused):
            imports.check_csv(wave, content, None, "w", spec)
    assert Response.objects.count() == 0 and ImportBatch.objects.count() == 0


@pytest.mark.parametrize("last", ["BSW10000000", "BSW20240101", "BSW" + "9" * 5000])
def test_a_huge_replicate_number_is_a_gap_not_a_range_to_build(wave, last):
    """The review's probe: BSW1 and BSW10000000 took seconds and memory growing with the number (a
    date-like suffix about 1 GB); a 5,000-digit suffix cannot even be read as an int. Now it is a
    gap, found by walking the columns found."""
    header = ["css_belonging", "BSW1", "BSW2", last]
    with pytest.raises(imports.ImportRefused) as refused:
        imports.replicate_columns(header, "BSW")
    message = refused.value.messages[0]
    assert "BSW3" in message and len(message) < 600
    found = imports.preview(",".join(header).encode() + b"\nvery_strong,1,1,1\n")
    assert (found.replicate_prefix, found.replicate_count) == ("BSW", 2)


def test_repeated_and_missing_replicate_numbers_are_named(wave):
    with pytest.raises(imports.ImportRefused) as refused:
        imports.replicate_columns(["BSW1", "BSW01", "BSW2", "BSW4"], "BSW")
    assert "check BSW01, BSW3." in refused.value.messages[0]
    with pytest.raises(imports.ImportRefused) as refused:
        imports.replicate_columns(["BSW2", "BSW3"], "BSW")
    assert "check BSW1." in refused.value.messages[0]
    assert imports.replicate_columns(["BSW2", "BSW1", "x"], "bsw") == ["BSW1", "BSW2"]


# --- margins: exactly the header's cells ------------------------------------------------------------


def test_a_margins_line_with_more_cells_than_the_header_is_refused_by_line(wave):
    """The review's probe: ``province,ON,15,996,989`` was saved as Ontario = 15."""
    Margin.objects.create(wave=wave, variable="gender", category="man", population=5)
    content = b"variable,category,population\nprovince,QC,8874683\nprovince,ON,15,996,989\nprovince,BC,5000879,\n"
    with pytest.raises(imports.ImportRefused) as refused:
        imports.replace_margins(wave, content)
    [problem] = refused.value.problems
    assert problem.line == 3
    assert problem.reasons[0] == "it has 5 values but the header has 3 columns"
    assert "thousands separators" in problem.reasons[1]
    assert list(Margin.objects.filter(wave=wave).values_list("category", flat=True)) == ["man"]
    # A trailing delimiter (empty cells) is fine, as for responses.
    imports.replace_margins(wave, b"variable,category,population\nprovince,ON,15996989,\nprovince,QC,8874683,,\n")
    assert dict(Margin.objects.filter(wave=wave).values_list("category", "population")) == {
        "ON": 15996989.0,
        "QC": 8874683.0,
    }


def test_a_margins_line_with_fewer_cells_is_refused(wave):
    with pytest.raises(imports.ImportRefused) as refused:
        imports.parse_margins(b"variable,category,population\nprovince,ON\n")
    assert refused.value.problems[0].line == 2
    assert "2 values but the header has 3 columns" in refused.value.problems[0].reasons[0]


# --- large files through the web page ---------------------------------------------------------------


def _rows_file(count: int) -> bytes:
    return b"css_belonging\n" + b"very_strong\n" * count


def test_the_web_page_refuses_files_over_its_row_limit_and_gives_the_command(wave, organizer_client):
    assert imports.WEB_MAX_ROWS == 20_000
    path = _paths(wave)[0]
    for action in ("check", "import"):
        response = organizer_client.post(path, {"file": upload(_rows_file(20_001), "big.csv"), "action": action})
        assert response.status_code == 400
        [message] = response.context["refusal"].messages
        assert "more than 20,000 rows" in message and "nothing was imported" in message
        assert "python manage.py import_survey strategy-for-belonging baseline big.csv --check" in message
    assert Response.objects.count() == 0 and ImportBatch.objects.count() == 0
    # The limit itself is fine.
    response = organizer_client.post(path, {"file": upload(_rows_file(20_000), "ok.csv"), "action": "import"})
    assert response.status_code == 302 and Response.objects.filter(wave=wave).count() == 20_000


def test_the_command_the_page_gives_imports_the_same_file(wave, organizer_client, monkeypatch, tmp_path):
    """The command in the refusal carries the organizer's weight, replicate and column choices: run as
    given (with the file's path), it checks, then imports, the file."""
    import shlex

    monkeypatch.setattr(imports, "WEB_MAX_ROWS", 10)
    response = organizer_client.post(
        _paths(wave)[0], {**_form_data(action="import"), "file": upload(CCHS.read_bytes(), "cchs_like.csv")}
    )
    assert response.status_code == 400 and Response.objects.count() == 0
    message = response.context["refusal"].messages[0]
    command = message[message.index("python manage.py import_survey") :]
    words = shlex.split(command)
    assert words[:6] == ["python", "manage.py", "import_survey", wave.campaign.slug, wave.slug, "cchs_like.csv"]
    assert words[-1] == "--check"
    out = io.StringIO()
    call_command(*words[2:5], str(CCHS), *words[6:], stdout=out)
    assert "All 40 rows can be imported (20 replicate weights)." in out.getvalue()
    call_command(*words[2:5], str(CCHS), *words[6:-1], stdout=out)
    header, rows = read_rows()
    assert [r.answers for r in Response.objects.order_by("pk")] == [expected_answers(header, row) for row in rows]


def test_the_import_page_states_the_limit_and_the_command(wave, organizer_client):
    page = organizer_client.get(_paths(wave)[0]).content.decode()
    assert "files of up to 20,000 rows" in page
    assert "python manage.py import_survey strategy-for-belonging baseline FILE.csv" in page
