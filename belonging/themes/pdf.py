"""The "What we heard" PDF: the same report drawn from a print template by WeasyPrint.

Fonts come from the system through fontconfig (DejaVu Sans on Debian, which has every French accent),
and WeasyPrint embeds the glyphs it uses. Nothing is fetched: the template has no external resource,
and the URL fetcher refuses every URL but inline ``data:`` ones, so a crafted link cannot make the
server request anything.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.text import slugify

from belonging.core.models import Campaign
from belonging.themes.selectors import Report


def _url_fetcher() -> Any:
    """A WeasyPrint URL fetcher that allows only ``data:`` URLs."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint 66 and later
    except ImportError:  # pragma: no cover - older WeasyPrint: a plain function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if not url.startswith("data:"):
                raise ValueError(f"Refused to fetch {url!r}: the report uses no external resource.")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

    class DataOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"Refused to fetch {url!r}: the report uses no external resource.")
            return super().fetch(url, headers)

    return DataOnly(allowed_protocols={"data"}, timeout=1)


def render_report(report: Report) -> bytes:
    """The report as PDF bytes, in the report's language."""
    from weasyprint import HTML  # imported here: WeasyPrint loads Pango and fonts, which takes a while

    with translation.override(report.language):
        html = render_to_string(
            "themes/report_pdf.html",
            {"report": report, "site_url": settings.SITE_URL, "LANGUAGE_CODE": report.language},
        )
        return HTML(string=html, url_fetcher=_url_fetcher(), base_url=None).write_pdf()


def filename(campaign: Campaign, language: str) -> str:
    label = "what-we-heard" if language == "en" else "ce-que-nous-avons-entendu"
    return f"{slugify(campaign.slug)}-{label}-{language}.pdf"
