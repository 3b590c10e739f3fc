"""A strict Content-Security-Policy: every asset is ours, nothing comes from a third-party origin."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Views that may be embedded elsewhere (the widget) mark themselves embeddable.
        ancestors = "*" if getattr(response, "embeddable", False) else "'self'"
        response.headers.setdefault("Content-Security-Policy", POLICY.format(ancestors=ancestors))
        return response
