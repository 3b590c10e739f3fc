from django.urls import path

from belonging.voices import views

app_name = "voices"
urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("share/", views.share, name="share"),
    path("confirm/", views.confirm_code, name="confirm_code"),
    path("confirm/<uuid:public_id>/<str:token>/", views.confirm_link, name="confirm_link"),
    path("thanks/", views.thanks, name="thanks"),
    path("mine/<uuid:public_id>/<str:token>/", views.manage, name="manage"),
    path("mine/<uuid:public_id>/<str:token>/edit/", views.edit, name="edit"),
    path("mine/<uuid:public_id>/<str:token>/withdraw/", views.withdraw, name="withdraw"),
    path("numbers/", views.numbers, name="numbers"),
    path("policy/", views.policy, name="policy"),
    path("voices.csv", views.export_csv, name="export_csv"),
    path("<uuid:public_id>/", views.detail, name="detail"),
]
