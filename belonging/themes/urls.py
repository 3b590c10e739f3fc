from django.urls import path

from belonging.themes import views

app_name = "themes"
urlpatterns = [
    path("", views.index, name="index"),
    # Organizers' pages come first: "manage" is never read as a campaign slug.
    path("manage/", views.manage, name="manage"),
    path("manage/runs/<int:run_id>/", views.run, name="run"),
    path("manage/runs/<int:run_id>/status.json", views.run_status, name="run_status"),
    path("manage/runs/<int:run_id>/curate/", views.curate, name="curate"),
    path("manage/runs/<int:run_id>/publish/", views.publish, name="publish"),
    path("manage/runs/<int:run_id>/themes/<str:key>/<slug:action>/", views.curate_action, name="curate_action"),
    path("manage/<slug:slug>/", views.runs, name="runs"),
    path("<slug:slug>/", views.report, name="report"),
    path("<slug:slug>/report.pdf", views.report_pdf, name="report_pdf"),
]
