from django.urls import path

from smartcare.patients import views

app_name = "patients"

urlpatterns = [
    path("me/", views.me, name="me"),
    path("", views.search, name="search"),
    path("register/", views.register, name="register"),
    path("scan/", views.scan, name="scan"),
    path("break-glass/", views.break_glass, name="break_glass"),
    path("<int:patient_id>/", views.detail, name="detail"),
    path("<int:patient_id>/card/", views.card, name="card"),
    path("<int:patient_id>/portal-account/", views.portal_account, name="portal_account"),
]
