"""Taking the survey, and the organizers' wave pages (owned by the survey-taking work)."""
from django.http import HttpResponse


def _todo(request, *args, **kwargs):  # placeholder until the views are written
    return HttpResponse(status=501)


waves = wave_create = wave = invitations = start = resume = page = thanks = _todo
