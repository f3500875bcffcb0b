from django.urls import path

from smartcare.simulation import views

app_name = "simulation"

urlpatterns: list = [
    path("whatif/", views.whatif, name="whatif"),
    path("whatif/runs/<int:run_id>/", views.run_page, name="run"),
    path("whatif/validation/", views.validation, name="validation"),
    path("whatif/scenarios/<int:scenario_id>/delete/", views.delete_scenario, name="delete_scenario"),
]
