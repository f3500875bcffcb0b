from django.urls import path

from smartcare.monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.board, name="board"),
    path("me/", views.me, name="me"),
    path("me/readings/", views.record_reading, name="record_reading"),
    path("duty/", views.duty, name="duty"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("patients/<int:patient_id>/enroll/", views.enroll, name="enroll"),
    path("patients/<int:patient_id>/devices/", views.pair_device, name="pair_device"),
    path("patients/<int:patient_id>/thresholds/", views.thresholds, name="thresholds"),
    path("patients/<int:patient_id>/rehab/", views.create_rehab_plan, name="create_rehab_plan"),
    path("devices/<int:device_id>/unpair/", views.unpair_device, name="unpair_device"),
    path("devices/<int:device_id>/credential/", views.rotate_credential, name="rotate_credential"),
    path("alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("rehab/suggestions/<int:suggestion_id>/", views.decide_suggestion, name="decide_suggestion"),
]
