from django.urls import path

from smartcare.workforce import views

app_name = "workforce"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("rosters/", views.rosters, name="rosters"),
    path("rosters/<int:roster_id>/", views.roster, name="roster"),
    path("rosters/<int:roster_id>/assign/", views.assign, name="assign"),
    path("rosters/<int:roster_id>/publish/", views.publish, name="publish"),
    path("rosters/<int:roster_id>/solve/", views.solve, name="solve"),
    path("forecast/", views.forecast, name="forecast"),
    path("load/", views.load, name="load"),
    path("workload/import/", views.import_workload, name="import"),
    path("feedback/", views.feedback, name="feedback"),
    path("suggestions/<int:suggestion_id>/decide/", views.decide_suggestion, name="decide_suggestion"),
    path("leave/<int:leave_id>/decide/", views.decide_leave, name="decide_leave"),
    path("my-shifts/", views.my_shifts, name="my_shifts"),
    path("my-shifts/<int:assignment_id>/rate/", views.rate, name="rate"),
    path("my-shifts/request/", views.my_request, name="my_request"),
]
