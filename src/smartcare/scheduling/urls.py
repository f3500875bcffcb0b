from django.urls import path

from smartcare.scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.departments, name="departments"),
    path("department/<str:code>/", views.department, name="department"),
    path("session/<int:session_id>/", views.session, name="session"),
    path("session/<int:session_id>/waitlist/", views.join_waitlist, name="join_waitlist"),
    path("appointment/<int:appointment_id>/", views.confirmation, name="confirmation"),
    path("appointment/<int:appointment_id>/cancel/", views.cancel, name="cancel"),
    path("mine/", views.mine, name="mine"),
    path("waitlist/<int:entry_id>/accept/", views.accept_offer, name="accept_offer"),
    path("manage/", views.manage, name="manage"),
    path("manage/<int:session_id>/stop/", views.stop, name="stop"),
    path("manage/<int:session_id>/replace/", views.replace, name="replace"),
]
