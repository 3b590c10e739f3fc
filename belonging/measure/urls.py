from django.urls import path

from belonging.measure import dashboard_views, data_views, views

app_name = "measure"
urlpatterns = [
    path("", dashboard_views.index, name="index"),
    # Organizers' pages come first: "manage" is never read as a campaign slug.
    path("manage/", views.waves, name="waves"),
    path("manage/new/", views.wave_create, name="wave_create"),
    path("manage/waves/<int:wave_id>/", views.wave, name="wave"),
    path("manage/waves/<int:wave_id>/invitations/", views.invitations, name="invitations"),
    path("manage/waves/<int:wave_id>/import/", data_views.import_responses, name="import"),
    path("manage/waves/<int:wave_id>/margins/", data_views.margins, name="margins"),
    path("manage/waves/<int:wave_id>/compute/", data_views.compute, name="compute"),
    path("manage/waves/<int:wave_id>/publish/", data_views.publish, name="publish"),
    # Public results.
    path("<slug:slug>/results/", dashboard_views.dashboard, name="dashboard"),
    path("<slug:slug>/results.csv", dashboard_views.estimates_csv, name="estimates_csv"),
    # Taking the survey (no account).
    path("<slug:slug>/<slug:wave>/", views.start, name="start"),
    path("<slug:slug>/<slug:wave>/resume/", views.resume, name="resume"),
    path("<slug:slug>/<slug:wave>/page/<int:number>/", views.page, name="page"),
    path("<slug:slug>/<slug:wave>/thanks/", views.thanks, name="thanks"),
]
