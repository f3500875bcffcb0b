from django.urls import path

from smartcare.triage import views

app_name = "triage"

urlpatterns = [
    path("", views.start, name="start"),
    path("kiosk/", views.kiosk, name="kiosk"),
    path("<int:record_id>/book/<str:code>/", views.book, name="book"),
]
