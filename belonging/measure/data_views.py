"""Imports, margins, computing and publishing estimates."""
from django.http import HttpResponse


def _todo(request, *args, **kwargs):  # placeholder until the views are written
    return HttpResponse(status=501)


import_responses = margins = compute = publish = _todo
