"""Pages under /interop/: the HL7 message log, imaging (search, upload, viewer) and reports. The
FHIR API is mounted separately under /fhir/R4/."""

from django.urls import path

from smartcare.interop.dicom import views as imaging
from smartcare.interop.hl7 import views as hl7
from smartcare.interop.reports import views as reports

app_name = "interop"

urlpatterns = [
    path("hl7/", hl7.message_log, name="hl7_log"),
    path("imaging/", imaging.search, name="imaging"),
    path("imaging/upload/", imaging.upload, name="imaging_upload"),
    path("imaging/studies/<int:study_id>/", imaging.study, name="study"),
    path("imaging/instances/<int:instance_id>/frames/<int:frame>.png", imaging.frame, name="frame"),
    path("imaging/patients/<int:patient_id>/", imaging.patient_imaging, name="patient_imaging"),
    path("imaging/patients/<int:patient_id>/sync/", imaging.sync, name="imaging_sync"),
    path("reports/", reports.reports, name="reports"),
    path("reports/<int:report_id>/", reports.report, name="report"),
    path("reports/patients/<int:patient_id>/new/", reports.new_report, name="new_report"),
]
