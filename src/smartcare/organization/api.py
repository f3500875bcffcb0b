from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from smartcare.organization.models import Department, NationalDepartmentCode, Practitioner

router = Router(tags=["organization"])


class DepartmentOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    parent_code: str | None
    location: str


@router.get(
    "/departments", response=list[DepartmentOut], auth=None, summary="Departments of the hospital (public)"
)
def departments(request: HttpRequest) -> list[dict[str, Any]]:
    rows = Department.objects.filter(is_active=True).select_related("national_code", "parent")
    return [
        {
            "id": d.pk,
            "code": d.code,
            "name_zh": d.name_zh,
            "name_en": d.name_en,
            "parent_code": d.parent.code if d.parent else None,
            "location": d.location,
        }
        for d in rows
    ]


class CatalogOut(Schema):
    code: str
    parent: str | None
    name_zh: str
    name_en: str


@router.get(
    "/catalog/departments",
    response=list[CatalogOut],
    auth=None,
    summary="National department catalog (public)",
)
def catalog(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {"code": c.code, "parent": c.parent_id, "name_zh": c.name_zh, "name_en": c.name_en}
        for c in NationalDepartmentCode.objects.all()
    ]


class PractitionerOut(Schema):
    id: int
    name: str
    title: str
    department_code: str
    is_expert: bool
    skills: list[str]


@router.get(
    "/practitioners",
    response=list[PractitionerOut],
    auth=None,
    summary="Practitioners, for booking (public directory)",
)
def practitioners(request: HttpRequest, department: str = "") -> list[dict[str, Any]]:
    rows = Practitioner.objects.select_related("user", "department").prefetch_related("skills")
    if department:
        rows = rows.filter(department__national_code_id=department)
    return [
        {
            "id": p.pk,
            "name": str(p.user),
            "title": p.get_title_display(),
            "department_code": p.department.code,
            "is_expert": p.is_expert,
            "skills": [s.code for s in p.skills.all()],
        }
        for p in rows[:1000]
    ]
