from django.urls import path

from smartcare.visits import views

app_name = "visits"

urlpatterns = [
    path("check-in/<int:appointment_id>/", views.phone_check_in, name="phone_check_in"),
    path("queue/<int:appointment_id>/", views.my_queue, name="my_queue"),
    path("kiosk/", views.kiosk, name="kiosk"),
    path("kiosk/check-in/", views.kiosk_check_in, name="kiosk_check_in"),
    path("desk/", views.desk_check_in, name="desk_check_in"),
    path("doctor/", views.doctor_queue, name="doctor_queue"),
    path("displays/", views.displays, name="displays"),
    path("display/<str:token>/", views.display, name="display"),
]
