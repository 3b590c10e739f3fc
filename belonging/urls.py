from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.generic.base import RedirectView

from belonging.accounts.views import LoginView
from belonging.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
]
urlpatterns += i18n_patterns(
    path("", include("belonging.core.urls")),
    path("pledges/", include("belonging.pledges.urls")),
    path("voices/", include("belonging.voices.urls")),
    path("moderation/", include("belonging.voices.moderation_urls")),
    path("themes/", include("belonging.themes.urls")),
    path("survey/", include("belonging.measure.urls")),
    path("accounts/", include("belonging.accounts.urls")),
    # The admin signs in through the staff sign-in page (rate-limited) rather than its own form.
    path("admin/login/", LoginView.as_view()),
    path("admin/", admin.site.urls),
    prefix_default_language=True,
)
