"""Department note templates shipped with smartcare become the department's own, editable row."""

from __future__ import annotations

import pytest

from smartcare.emr.choices import NoteKind
from smartcare.emr.models import NoteTemplate
from smartcare.emr.services import template_for
from tests.factories import TestHospital, department

pytestmark = pytest.mark.django_db


def test_a_department_gets_the_template_shipped_for_its_code(hospital: TestHospital) -> None:
    template = template_for(hospital.cardiology, NoteKind.PROGRESS)
    assert template is not None and template.department == hospital.cardiology
    prompts = {s["key"]: s for s in template.sections}
    assert set(prompts) == {"chief_complaint", "history", "examination", "assessment", "plan"}
    assert "心电图" in prompts["examination"]["prompt_zh"] and "ECG" in prompts["examination"]["prompt_en"]
    # Edited by a curator, the row stays the department's and is not overwritten.
    template.sections[0]["prompt_zh"] = "本院心内科主诉格式"
    template.save()
    assert (
        template_for(hospital.cardiology, NoteKind.PROGRESS).sections[0]["prompt_zh"] == "本院心内科主诉格式"
    )
    assert NoteTemplate.objects.filter(department=hospital.cardiology).count() == 1


def test_a_subspecialty_uses_its_parents_template_or_the_hospital_default(hospital: TestHospital) -> None:
    pediatric_respiratory = department(hospital.hospital, "07.01")  # neonatology: falls back to 07
    assert template_for(pediatric_respiratory, NoteKind.PROGRESS).name_en == "Paediatric outpatient note"
    rehab = department(hospital.hospital, "21")  # nothing shipped: the hospital-wide default
    default = template_for(rehab, NoteKind.PROGRESS)
    assert default is not None and default.department is None
    # A department whose template a curator switched off gets the default.
    own = template_for(hospital.cardiology, NoteKind.PROGRESS)
    own.is_active = False
    own.save()
    assert template_for(hospital.cardiology, NoteKind.PROGRESS).department is None


def test_signed_note_versions_are_encrypted_at_rest_and_survive_key_rotation(hospital: TestHospital) -> None:
    """Review finding: versions were plain JSON while the note itself was encrypted."""
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    from smartcare.emr import services
    from smartcare.emr.models import NoteVersion

    doctor = hospital.user("doctor")
    encounter = services.open_encounter(doctor, patient_id=hospital.patient_in_care.pk)
    note = services.draft_note(doctor, encounter.pk)
    services.save_draft(doctor, note.pk, {"assessment": "SECRET-ASSESSMENT-7"})
    services.sign_note(doctor, note.pk)
    version = NoteVersion.objects.get(note=note)
    assert version.content["assessment"] == "SECRET-ASSESSMENT-7"
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM emr_noteversion WHERE id = %s", [version.pk])
        raw = cursor.fetchone()[0]
    assert "SECRET-ASSESSMENT-7" not in str(raw) and str(raw).startswith("v1$")
    call_command("rotate_field_key", stdout=StringIO())
    assert NoteVersion.objects.get(pk=version.pk).content["assessment"] == "SECRET-ASSESSMENT-7"
