from django.urls import path

from smartcare.telemedicine.consumers import RoomConsumer

urlpatterns = [
    path("ws/telemedicine/rooms/<int:consultation_id>/", RoomConsumer.as_asgi()),
]
