from django.urls import path

from smartcare.emr import views

app_name = "emr"

urlpatterns = [
    path("", views.workstation, name="workstation"),
    path("open/", views.open_visit, name="open"),
    path("encounters/<int:encounter_id>/", views.encounter, name="encounter"),
    path("patients/<int:patient_id>/", views.patient_record, name="patient"),
]
