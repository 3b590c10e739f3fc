from django.urls import path

from belonging.voices import moderation_views as views

app_name = "moderation"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("log/", views.log, name="log"),
    path("log.csv", views.log_csv, name="log_csv"),
    path("<uuid:public_id>/", views.review, name="review"),
    path("<uuid:public_id>/claim/", views.claim, name="claim"),
    path("<uuid:public_id>/release/", views.release, name="release"),
    path("<uuid:public_id>/take-down/", views.take_down, name="take_down"),
]
