"""The public dashboard and open data."""
from django.http import HttpResponse


def _todo(request, *args, **kwargs):  # placeholder until the views are written
    return HttpResponse(status=501)


dashboard = estimates_csv = _todo
