from django.urls import path

from smartcare.knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("", views.search, name="search"),
    path("node/<str:key>/", views.node, name="node"),
    path("path/", views.path_finder, name="path"),
    path("releases/", views.releases, name="releases"),
    path("releases/<int:release_id>/", views.release, name="release"),
]
