from django.urls import path

from belonging.pledges import views

app_name = "pledges"
urlpatterns = [
    path("", views.pledge_list, name="list"),
    path("confirm/<uuid:public_id>/<str:token>/", views.confirm_link, name="confirm_link"),
    path("withdraw/<uuid:public_id>/<str:token>/", views.withdraw, name="withdraw"),
    path("<slug:slug>/", views.pledge_detail, name="detail"),
    path("<slug:slug>/confirm/", views.confirm_code, name="confirm_code"),
    path("<slug:slug>/thanks/", views.thanks, name="thanks"),
    path("<slug:slug>/numbers/", views.numbers, name="numbers"),
    path("<slug:slug>/widget/", views.widget, name="widget"),
]
