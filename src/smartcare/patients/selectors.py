"""Reading patients, always restricted to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.permissions import require_capability
from smartcare.patients.models import Patient
from smartcare.patients.resident_id import PROVINCES


def search_patients(user: Any, query: str, *, limit: int = 50) -> QuerySet[Patient]:
    """Search visible patients by name, medical record number, resident ID or phone.

    The search itself is audited (who looked for what), the matches are only listed.
    """
    require_capability(user, "patients.search")
    query = (query or "").strip()
    patients = Patient.objects.visible_to(user)
    if not query:
        record(user, AuditAction.SEARCH, obj=("patients.Patient", "list"), detail={"query_length": 0})
        return patients.order_by("-updated_at")[:limit]
    condition = Q(name__icontains=query) | Q(medical_record_number__iexact=query)
    compact = query.replace(" ", "").upper()
    if len(compact) == 18 and compact[:2] in PROVINCES:
        condition |= Q(pk__in=Patient.objects.by_national_id(compact).values("pk"))
    if compact.isdigit() and len(compact) == 11:
        condition |= Q(pk__in=Patient.objects.by_phone(compact).values("pk"))
    results = patients.filter(condition).order_by("name")[:limit]
    record(user, AuditAction.SEARCH, obj=("patients.Patient", "search"), detail={"query_length": len(query)})
    return results


def patient_for_user(user: Any) -> Patient | None:
    """The patient record of a signed-in patient (no audit: it is their own identity)."""
    return Patient.objects.filter(user=user).first() if getattr(user, "is_authenticated", False) else None
