"""The whole life of a signature over HTTP: sign → email → confirm → count → withdraw."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from belonging.pledges.models import Signature

pytestmark = pytest.mark.django_db


def sign(client, pledge, **overrides):
    form = client.get(reverse("pledges:detail", args=[pledge.slug]))
    started = re.search(r'name="started" value="([^"]+)"', form.content.decode()).group(1)
    data = {
        "name": "Aiyana Whitehorse",
        "email": "Aiyana.W+pledge@Example.org",
        "province": "SK",
        "postal_code": "s4p 3y2",
        "signer_type": "individual",
        "show_name": "on",
        "started": started,
        **overrides,
    }
    return client.post(reverse("pledges:detail", args=[pledge.slug]), data)


def test_it_signs_confirms_counts_and_withdraws(client, pledge, run_tasks):
    response = sign(client, pledge)
    assert response.status_code == 302
    assert response["Location"] == reverse("pledges:confirm_code", args=[pledge.slug])
    signature = Signature.objects.get()
    assert signature.status == Signature.Status.PENDING
    assert signature.email_normalized == "aiyana.w@example.org"
    assert signature.postal_code == "S4P 3Y2"

    # The email goes out through the task queue.
    assert mail.outbox == []
    run_tasks()
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    code = re.search(r"^\s+(\d{6})\s*$", body, re.M).group(1)
    confirm_url = re.search(r"http://testserver(/en/pledges/confirm/\S+)", body).group(1)
    withdraw_url = re.search(r"http://testserver(/en/pledges/withdraw/\S+)", body).group(1)

    # Pending signatures never count; a GET on the link never confirms.
    numbers = client.get("/api/v1/pledges/strategy-for-belonging/numbers").json()
    assert numbers["signatories"] == 0
    assert client.get(confirm_url).status_code == 200
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING

    response = client.post(
        reverse("pledges:confirm_code", args=[pledge.slug]), {"email": "aiyana.w@example.org", "code": code}
    )
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.status == Signature.Status.CONFIRMED

    from django.core.cache import cache

    cache.clear()
    numbers = client.get("/api/v1/pledges/strategy-for-belonging/numbers").json()
    assert numbers["signatories"] == 1
    assert numbers["by_province"]["SK"] == 1
    assert numbers["provinces_territories"] == 1
    page = client.get(reverse("pledges:numbers", args=[pledge.slug])).content.decode()
    assert "Aiyana Whitehorse" in page

    response = client.post(withdraw_url)
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.status == Signature.Status.WITHDRAWN
    assert (signature.name, signature.email, signature.email_normalized, signature.postal_code) == ("", "", None, "")
    cache.clear()
    assert client.get("/api/v1/pledges/strategy-for-belonging/numbers").json()["signatories"] == 0
    assert "Aiyana" not in client.get(reverse("pledges:numbers", args=[pledge.slug])).content.decode()
    # The confirm link of a withdrawn signature cannot bring it back.
    client.post(confirm_url)
    signature.refresh_from_db()
    assert signature.status == Signature.Status.WITHDRAWN
