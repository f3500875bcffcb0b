from django.urls import path

from smartcare.followup import views

app_name = "followup"

urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("tasks/<int:task_id>/", views.task, name="task"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("templates/", views.templates, name="templates"),
    path("templates/<int:template_id>/", views.template, name="template"),
    path("questionnaires/", views.questionnaires, name="questionnaires"),
    path("questionnaires/<int:questionnaire_id>/", views.questionnaire, name="questionnaire"),
    path("education/", views.library, name="library"),
    path("education/<int:item_id>/", views.education_item, name="education_item"),
    path("satisfaction/", views.satisfaction, name="satisfaction"),
    path("me/", views.my_followup, name="me"),
    path("me/tasks/<int:task_id>/", views.my_task, name="my_task"),
    path("me/surveys/<int:invitation_id>/", views.my_survey, name="my_survey"),
    path("s/<str:token>/", views.survey_link, name="survey_link"),
    path("me/education/", views.my_education, name="my_education"),
    path("me/education/<int:delivery_id>/", views.my_education_item, name="my_education_item"),
]
