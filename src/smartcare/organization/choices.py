from django.db import models
from django.utils.translation import gettext_lazy as _


class RoomKind(models.TextChoices):
    CONSULTATION = "consultation", _("Consultation room")
    EXAM = "exam", _("Examination room")
    WARD = "ward", _("Ward room")
    OPERATING = "operating", _("Operating theatre")
    IMAGING = "imaging", _("Imaging room")
    LAB = "lab", _("Laboratory")
    PHARMACY = "pharmacy", _("Pharmacy")
    OTHER = "other", _("Other")


class BedStatus(models.TextChoices):
    FREE = "free", _("Free")
    OCCUPIED = "occupied", _("Occupied")
    CLEANING = "cleaning", _("Being cleaned")
    BLOCKED = "blocked", _("Out of service")


class Title(models.TextChoices):
    CHIEF_PHYSICIAN = "chief_physician", _("Chief physician")
    ASSOCIATE_CHIEF_PHYSICIAN = "associate_chief_physician", _("Associate chief physician")
    ATTENDING_PHYSICIAN = "attending_physician", _("Attending physician")
    RESIDENT = "resident", _("Resident physician")
    CHIEF_NURSE = "chief_nurse", _("Chief nurse")
    SUPERVISOR_NURSE = "supervisor_nurse", _("Supervisor nurse")
    NURSE_PRACTITIONER = "nurse_practitioner", _("Senior nurse")
    NURSE = "nurse", _("Nurse")
    TECHNICIAN = "technician", _("Technician")
    PHARMACIST = "pharmacist", _("Pharmacist")


class Sex(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")
