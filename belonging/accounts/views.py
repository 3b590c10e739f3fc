"""Staff sign-in (organizers and moderators) with a per-IP limit on attempts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if is_ratelimited(request, group="staff-login", key="ip", rate=settings.LOGIN_RATE_PER_IP, increment=True):
            form = self.get_form()
            form.is_bound = False  # show the form again, without checking the password
            context = self.get_context_data(
                form=form, refusal=_("Too many sign-in attempts from your connection. Please wait a few minutes.")
            )
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)
