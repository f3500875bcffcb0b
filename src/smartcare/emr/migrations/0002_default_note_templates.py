"""Hospital-wide note templates (no department): the prompts doctors see in each section."""

from django.db import migrations

SECTIONS = {
    "progress": [
        ("chief_complaint", "主要症状及持续时间", "Main symptom and how long"),
        ("history", "起病情况、演变、诊治经过、既往史、用药史、过敏史", "Onset, course, care so far, past history, medications, allergies"),
        ("examination", "生命体征、阳性体征及重要阴性体征、辅助检查", "Vital signs, positive and key negative findings, tests"),
        ("assessment", "初步诊断及依据", "Working diagnosis and reasoning"),
        ("plan", "检查、治疗、健康教育及复诊安排", "Tests, treatment, education and follow-up"),
    ],
    "admission": [
        ("chief_complaint", "入院主诉", "Reason for admission"),
        ("history", "现病史、既往史、个人史、家族史", "Present illness, past, personal and family history"),
        ("examination", "入院体格检查及辅助检查", "Examination and tests on admission"),
        ("assessment", "入院诊断", "Admission diagnosis"),
        ("plan", "诊疗计划", "Treatment plan"),
    ],
}
NAMES = {"progress": ("门诊病历", "Outpatient note"), "admission": ("入院记录", "Admission note")}


def add_templates(apps, schema_editor):
    NoteTemplate = apps.get_model("emr", "NoteTemplate")
    for kind, rows in SECTIONS.items():
        NoteTemplate.objects.get_or_create(
            department=None,
            kind=kind,
            defaults={
                "name_zh": NAMES[kind][0],
                "name_en": NAMES[kind][1],
                "sections": [{"key": k, "prompt_zh": zh, "prompt_en": en} for k, zh, en in rows],
            },
        )


class Migration(migrations.Migration):
    dependencies = [("emr", "0001_records")]
    operations = [migrations.RunPython(add_templates, migrations.RunPython.noop)]
