from django.urls import URLPattern

app_name = "telemedicine"

urlpatterns: list[URLPattern] = []
