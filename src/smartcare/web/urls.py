from django.urls import path

from smartcare.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("departments/", views.departments, name="departments"),
    path("elderly-mode/", views.toggle_elderly_mode, name="elderly_mode"),
]
