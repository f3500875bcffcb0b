from django.urls import path

from smartcare.kpi import quality_views, views

app_name = "kpi"

urlpatterns: list = [
    # --- cockpit ---
    path("", views.cockpit, name="cockpit"),
    path("indicators/<slug:code>/", views.indicator, name="indicator"),
    path("targets/", views.targets, name="targets"),
    path("actions/", views.actions, name="actions"),
    path("actions/<int:action_id>/close/", views.close_action, name="close_action"),
    path("reports/", views.reports, name="reports"),
    path("reports/<int:report_id>/", views.report, name="report"),
    path("reports/<int:report_id>/pdf/", views.report_pdf, name="report_pdf"),
    # --- end cockpit ---
    # --- quality ---
    path("quality/", quality_views.overview, name="quality"),
    path("quality/reviews/", quality_views.reviews, name="quality_reviews"),
    path("quality/reviews/<int:review_id>/", quality_views.update_review, name="quality_review"),
    path("quality/<slug:code>/", quality_views.cases, name="quality_cases"),
    path("quality/<slug:code>/cases/<slug:key>/", quality_views.case, name="quality_case"),
    path("quality/<slug:code>/cases/<slug:key>/assign/", quality_views.assign, name="quality_assign"),
    # --- end quality ---
]
