from django.urls import URLPattern

app_name = "workforce"

urlpatterns: list[URLPattern] = []
