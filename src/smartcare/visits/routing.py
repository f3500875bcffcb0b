from django.urls import path

from smartcare.visits.consumers import DisplayConsumer, PatientQueueConsumer

urlpatterns = [
    path("ws/display/<str:token>/", DisplayConsumer.as_asgi()),
    path("ws/queue/<int:appointment_id>/", PatientQueueConsumer.as_asgi()),
]
