from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url


def site(request: HttpRequest) -> dict[str, object]:
    """Links to the same page in the other languages, for the language switcher."""
    query = request.META.get("QUERY_STRING", "")
    alternates = []
    for code, _name in settings.LANGUAGES:
        url = translate_url(request.path, code)
        if url == request.path and not request.path.startswith(f"/{code}/"):
            url = f"/{code}/"
        alternates.append({"code": code, "url": f"{url}?{query}" if query else url})
    return {"language_alternates": alternates, "DEV_OUTBOX": settings.DEV_OUTBOX}
