from django.urls import path

from smartcare.health import views

app_name = "health"

urlpatterns = [
    path("", views.followers, name="followers"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("effect/", views.effect, name="effect"),
    path("models/", views.models, name="models"),
    path("me/", views.my_health, name="me"),
    path("me/lifestyle/", views.my_lifestyle, name="my_lifestyle"),
]
