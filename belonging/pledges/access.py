"""The one place that fetches pledges and signatures for a request, or refuses."""

from __future__ import annotations

import uuid

from django.http import Http404
from django.shortcuts import get_object_or_404

from belonging.pledges.models import Pledge, Signature
from belonging.core.tokens import link_token_valid


def pledge_public(slug: str) -> Pledge:
    return get_object_or_404(Pledge.objects.select_related("campaign"), slug=slug)


def signature_from_link(public_id: uuid.UUID, token: str) -> Signature:
    """The signature an emailed link points to; 404 for a wrong or forged token."""
    if not link_token_valid(public_id, token):
        raise Http404("This link is not valid.")
    return get_object_or_404(Signature.objects.select_related("pledge"), public_id=public_id)
