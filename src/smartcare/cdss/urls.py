from django.urls import path

from smartcare.cdss import views

app_name = "cdss"

urlpatterns = [
    path("rules/", views.rule_list, name="rules"),
    path("rules/<str:key>/", views.rule_detail, name="rule"),
]
