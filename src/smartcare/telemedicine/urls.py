from django.urls import path

from smartcare.telemedicine import views

app_name = "telemedicine"

urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("patients/<int:patient_id>/new/", views.new_request, name="new"),
    path("consultations/<int:consultation_id>/", views.consultation, name="consultation"),
    path("consultations/<int:consultation_id>/room/", views.room, name="room"),
    path("quality/", views.quality, name="quality"),
    path("indicators/", views.indicators, name="indicators"),
]
