from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    DOCTOR = "doctor", _("Doctor")
    NURSE = "nurse", _("Nurse")
    FRONT_DESK = "front_desk", _("Front desk")
    DEPARTMENT_HEAD = "department_head", _("Department head")
    OPERATIONS_MANAGER = "operations_manager", _("Operations manager")
    RESEARCHER = "researcher", _("Researcher")
    DATA_STEWARD = "data_steward", _("Data steward")
    IT_ADMIN = "it_admin", _("IT administrator")
    AUDITOR = "auditor", _("Auditor")
    DEVICE = "device", _("Device (machine identity)")
    CHANNEL = "channel", _("External channel (machine identity)")


CLINICAL_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.DEPARTMENT_HEAD})
STAFF_ROLES = frozenset(set(Role) - {Role.PATIENT, Role.DEVICE, Role.CHANNEL})
MACHINE_ROLES = frozenset({Role.DEVICE, Role.CHANNEL})


class CareRelationshipKind(models.TextChoices):
    APPOINTMENT = "appointment", _("Appointment")
    ENCOUNTER = "encounter", _("Encounter")
    CONSULTATION = "consultation", _("Consultation")
    FOLLOW_UP = "follow_up", _("Follow-up assignment")
    ADMISSION = "admission", _("Admission")
    REFERRAL = "referral", _("Referral")
    REGISTRATION = "registration", _("Registration by the care team")


class BreakGlassStatus(models.TextChoices):
    PENDING_REVIEW = "pending", _("Pending review")
    JUSTIFIED = "justified", _("Justified")
    UNJUSTIFIED = "unjustified", _("Not justified")
