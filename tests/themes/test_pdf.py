"""The "What we heard" PDF: it renders, it is a PDF with a proper name, it holds the theme names (French
accents included), the chart and the tables, and WeasyPrint fetches nothing."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from belonging.themes import pdf, selectors
from tests.themes.fixtures_report import NAME_A_EN, NAME_A_FR, NAME_B_EN, NAME_B_FR, NAME_C_FR, SLUG, build_scenario

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario():
    return build_scenario()


def text_of(document: bytes) -> str:
    reader = PdfReader(io.BytesIO(document))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Text with line breaks and the spacing pypdf sometimes puts before punctuation removed."""
    return " ".join(text.split()).replace(" ’", "’")


def test_the_pdf_in_english(client, scenario):
    response = client.get(f"/en/themes/{SLUG}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{SLUG}-what-we-heard-en.pdf"'
    assert response.content.startswith(b"%PDF")
    text = flat(text_of(response.content))
    assert NAME_A_EN in text
    assert NAME_B_EN in text
    assert NAME_C_FR not in text  # hidden from the public
    assert "Voices in each theme (the figures of the chart)" in text  # the chart's table alternative
    assert "Under-represented" in text


def test_the_pdf_in_french_keeps_the_accents(client, scenario):
    response = client.get(f"/fr/themes/{SLUG}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'inline; filename="{SLUG}-ce-que-nous-avons-entendu-fr.pdf"'
    text = flat(text_of(response.content))
    assert NAME_A_FR in text  # “L’appartenance à la bibliothèque”
    assert NAME_B_FR in text
    assert "Une stratégie pour l’appartenance" in text


def test_the_pdf_embeds_its_fonts(scenario):
    document = pdf.render_report(selectors.report(scenario.run, "fr"))
    reader = PdfReader(io.BytesIO(document))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = (
                font.get_object().get("/FontDescriptor")
                or font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            )
            descriptor = descriptor.get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts.add(str(descriptor["/FontName"]))
    assert fonts


def test_the_pdf_is_cached_until_the_report_changes(client, scenario, django_assert_max_num_queries):
    path = f"/en/themes/{SLUG}/report.pdf"
    first = client.get(path).content
    with django_assert_max_num_queries(2):  # the campaign and its published run; no count, no report
        assert client.get(path).content == first
    from belonging.themes.models import Curation

    curation = Curation.objects.get(key=scenario.theme_a.key)
    curation.name_en = "Libraries make neighbours"
    curation.save()
    assert client.get(path).content == first  # changed behind the services' back: still the cached one
    selectors.bump_report_version(scenario.campaign.pk)  # what every service that changes the report does
    assert "Libraries make neighbours" in flat(text_of(client.get(path).content))


def test_a_withdrawn_quote_leaves_the_cached_pdf_even_when_the_counts_stay_equal(client, scenario):
    """One published voice withdrawn and another added: the counts the old cache key was made of stay
    the same, and the cached PDF kept quoting the withdrawn voice. The version key changes."""
    from belonging.voices.services import voice_withdraw
    from tests.themes.fixtures_report import add_members, make_voice

    path = f"/en/themes/{SLUG}/report.pdf"
    quoted = scenario.a_voices[1]
    words = quoted.text.split(":")[0] + ":"  # "Voice number N:", the quote's own opening
    assert words in flat(text_of(client.get(path).content))
    voice_withdraw(voice=quoted)
    selectors.bump_report_version(scenario.campaign.pk)  # services.remove_voice's job
    add_members(scenario.run, scenario.theme_a, [make_voice(scenario.prompt, status="published")], provisional=True)
    selectors.bump_report_version(scenario.campaign.pk)  # services.assign_new_voice's job
    assert words not in flat(text_of(client.get(path).content))


def test_nothing_published_means_no_pdf(client, db):
    build_scenario(published=False)
    assert client.get(f"/en/themes/{SLUG}/report.pdf").status_code == 404


def test_the_url_fetcher_refuses_remote_and_local_urls():
    fetcher = pdf._url_fetcher()
    for url in ("http://example.org/logo.png", "https://example.org/x.css", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            fetcher(url)


def test_a_remote_image_in_the_html_is_not_fetched(monkeypatch):
    from weasyprint import HTML

    fetched = []
    fetcher = pdf._url_fetcher()
    original = type(fetcher).fetch

    def spy(self, url, headers=None):
        fetched.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(type(fetcher), "fetch", spy)
    document = HTML(string='<p>Bonjour <img src="http://192.0.2.1/x.png" alt=""></p>', url_fetcher=fetcher).write_pdf()
    assert document.startswith(b"%PDF")
    assert fetched == ["http://192.0.2.1/x.png"]  # asked, refused before any connection
