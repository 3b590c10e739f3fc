from django.urls import path

from belonging.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("privacy/", views.privacy, name="privacy"),
    path("dev/outbox/", views.dev_outbox, name="dev_outbox"),
    path("dev/outbox/<str:message_id>/", views.dev_outbox_message, name="dev_outbox_message"),
]
