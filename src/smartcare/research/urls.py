from django.urls import path

from smartcare.research import cohort_views

app_name = "research"

# --- lake: cohorts ---
urlpatterns: list = [
    path("cohorts/", cohort_views.cohort_list, name="cohort_list"),
    path("cohorts/new/", cohort_views.cohort_new, name="cohort_new"),
    path("cohorts/row/", cohort_views.cohort_row, name="cohort_row"),
    path("cohorts/count/", cohort_views.cohort_count, name="cohort_count"),
    path("cohorts/save/", cohort_views.cohort_save, name="cohort_save"),
    path("cohorts/<int:cohort_id>/", cohort_views.cohort_detail, name="cohort_detail"),
]

# --- steward: projects, consent, exports, privacy ---
from smartcare.research import project_views  # noqa: E402

urlpatterns += [
    path("projects/", project_views.project_list, name="project_list"),
    path("projects/new/", project_views.project_new, name="project_new"),
    path("projects/<int:project_id>/", project_views.project_detail, name="project_detail"),
    path("exports/<int:export_id>/download/", project_views.export_download, name="export_download"),
    path("review/", project_views.review, name="review"),
    path("explore/", project_views.explore_page, name="explore"),
    path("consent/", project_views.my_consent, name="my_consent"),
    path("consent/patients/<int:patient_id>/", project_views.patient_consent, name="patient_consent"),
]
