"""Campaign home page, privacy notice and the development-only outbox."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from belonging.core import selectors
from belonging.core.mail import outbox_message, outbox_messages
from belonging.pledges.selectors import numbers_for_pledge, pledge_main_for_campaign


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    campaign = selectors.campaign_featured()
    main_pledge = pledge_main_for_campaign(campaign) if campaign else None
    numbers = numbers_for_pledge(main_pledge) if main_pledge else None
    return render(
        request,
        "core/home.html",
        {"campaign": campaign, "pledge": main_pledge, "numbers": numbers},
    )


@require_safe
def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "core/privacy.html", {"confirm_days": settings.PLEDGE_CONFIRM_DAYS})


def _require_dev_outbox() -> None:
    if not settings.DEV_OUTBOX:
        raise Http404("The outbox is only available in development.")


def _read_message(path: Path) -> dict[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = message.get_body(preferencelist=("plain",))
    return {
        "id": path.stem,
        "subject": message["subject"],
        "to": message["to"],
        "date": message["date"],
        "body": body.get_content() if body else "",
    }


@require_safe
def dev_outbox(request: HttpRequest) -> HttpResponse:
    _require_dev_outbox()
    emails = [_read_message(p) for p in outbox_messages()]
    return render(request, "core/dev_outbox.html", {"emails": emails})


@require_safe
def dev_outbox_message(request: HttpRequest, message_id: str) -> HttpResponse:
    _require_dev_outbox()
    path = outbox_message(message_id)
    if path is None:
        raise Http404("No such message.")
    return render(request, "core/dev_outbox_message.html", {"message": _read_message(path)})
