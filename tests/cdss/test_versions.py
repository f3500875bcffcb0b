"""Rules are versioned; conditions are CEL and validated; the review pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from smartcare.cdss.errors import InvalidExpression, InvalidRule
from smartcare.cdss.expressions import validate_expression
from smartcare.cdss.models import Rule
from smartcare.cdss.services import new_rule_version
from smartcare.core.errors import PermissionDenied
from tests.cdss.helpers import facts, keys, med
from tests.factories import TestHospital, build_hospital

pytestmark = pytest.mark.django_db


@pytest.fixture()
def hospital(settings: Any) -> TestHospital:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_hospital()


@pytest.mark.parametrize(
    "expression",
    [
        "patient.age_years >= 65 && egfr < 45.0",
        'conditions.exists(c, c.startsWith("E11"))',
        '"4548-4" in labs && labs["4548-4"] > 7.0',
        'labs["2160-0"] > 100.0',
        "",
    ],
)
def test_valid_expressions(expression: str) -> None:
    validate_expression(expression)


@pytest.mark.parametrize(
    "expression",
    [
        '__import__("os").system("id")',  # not Python: an unknown name, refused
        "open('/etc/passwd')",
        "patient.age_years >",  # does not parse
        "unknown_variable > 3",
        "patient.age_years + 1",  # not true/false
        '1 + "a" == 2',
    ],
)
def test_unsafe_or_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidExpression) as caught:
        validate_expression(expression)
    assert caught.value.code == "CDSS-002"


def test_new_version_keeps_the_old_one_and_takes_effect(hospital: TestHospital) -> None:
    head = hospital.user("head")
    f = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:diclofenac")])
    assert "duplicate.nsaids" in keys(f)
    rule = new_rule_version(
        head, "duplicate.nsaids", {"condition": "patient.age_years >= 65"}, note="too noisy in the young"
    )
    assert rule.version == 2 and rule.is_active
    versions = Rule.objects.filter(key="duplicate.nsaids").order_by("version")
    assert [(v.version, v.is_active) for v in versions] == [(1, False), (2, True)]
    assert versions[0].condition == ""
    assert "duplicate.nsaids" not in keys(f)  # 45 years old
    assert "duplicate.nsaids" in keys(
        facts(drafts=[med("drug:ibuprofen")], active=[med("drug:diclofenac")], age=70)
    )


def test_new_version_refuses_bad_input_and_other_roles(hospital: TestHospital) -> None:
    with pytest.raises(InvalidExpression):
        new_rule_version(hospital.user("head"), "duplicate.nsaids", {"condition": "exec('x')"})
    with pytest.raises(InvalidRule):
        new_rule_version(hospital.user("head"), "duplicate.nsaids", {"kind": "custom"})
    with pytest.raises(PermissionDenied):
        new_rule_version(hospital.user("doctor"), "duplicate.nsaids", {"enabled": False})
    assert Rule.objects.filter(key="duplicate.nsaids").count() == 1


def test_review_pages(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("head"))
    listing = client.get("/cdss/rules/?kind=duplicate_therapy")
    assert listing.status_code == 200
    assert b"duplicate.nsaids" in listing.content
    page = client.get("/cdss/rules/duplicate.nsaids/")
    assert page.status_code == 200
    bad = client.post(
        "/cdss/rules/duplicate.nsaids/",
        {
            "indicator": "warning",
            "enabled": "on",
            "parameters": '{"classes": ["drug_class:nsaids"]}',
            "condition": "oops(",
            "note": "x",
        },
    )
    assert bad.status_code == 400
    assert b'data-error-code="CDSS-002"' in bad.content
    good = client.post(
        "/cdss/rules/duplicate.nsaids/",
        {
            "indicator": "info",
            "enabled": "on",
            "parameters": '{"classes": ["drug_class:nsaids"]}',
            "condition": "",
            "departments": "03, 07",
            "note": "lower",
        },
    )
    assert good.status_code == 302
    active = Rule.objects.get(key="duplicate.nsaids", is_active=True)
    assert (active.version, active.indicator, active.departments) == (2, "info", ["03", "07"])


def test_admin_edit_creates_a_version(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("itadmin"))
    rule = Rule.objects.get(key="duplicate.ppis", is_active=True)
    page = client.get(f"/admin/cdss/rule/{rule.pk}/change/")
    assert page.status_code == 200
    refused = client.post(
        f"/admin/cdss/rule/{rule.pk}/change/",
        {
            "enabled": "on",
            "title_zh": rule.title_zh,
            "title_en": rule.title_en,
            "detail_zh": rule.detail_zh,
            "detail_en": rule.detail_en,
            "indicator": "warning",
            "source_label": rule.source_label,
            "departments": "[]",
            "hooks": "[]",
            "parameters": '{"classes": ["drug_class:ppis"]}',
            "condition": "drop table",
            "change_note": "",
        },
    )
    assert refused.status_code == 200 and b"CDSS-002" in refused.content
    assert Rule.objects.filter(key="duplicate.ppis").count() == 1


def test_admin_adds_a_custom_rule(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("itadmin"))
    form = {
        "key": "custom.test_elderly_nsaid",
        "kind": "custom",
        "enabled": "on",
        "title_zh": "老年人使用NSAIDs",
        "title_en": "NSAID in an older adult",
        "detail_zh": "注意消化道出血。",
        "detail_en": "Watch for GI bleeding.",
        "indicator": "warning",
        "source_label": "AGS Beers Criteria 2023",
        "departments": "[]",
        "hooks": "[]",
        "parameters": "{}",
        "condition": 'patient.age_years >= 75 && "drug_class:nsaids" in drug_classes',
        "change_note": "",
    }
    assert client.post("/admin/cdss/rule/add/", form).status_code == 302
    rule = Rule.objects.get(key="custom.test_elderly_nsaid")
    assert (rule.version, rule.is_active, rule.created_by) == (1, True, hospital.user("itadmin"))
    assert "custom.test_elderly_nsaid" in keys(facts(drafts=[med("drug:ibuprofen", 200, per_day=1)], age=80))
    again = client.post("/admin/cdss/rule/add/", form)
    assert again.status_code == 200 and b"CDSS-006" in again.content


# --- Review findings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected", "internal"),
    [
        ("patient.age_years >", "line 1, column", "^"),
        ("unknown_variable > 3", "unknown_variable", "Activation"),
        ("patient.nothing > 1", "nothing", "mapping"),
        ('1 + "a" == 2', "different types", "overload"),
        ("patient.age_years + 1", "true or false", "IntType"),
    ],
)
def test_invalid_expression_messages_are_clear_and_translated(
    expression: str, expected: str, internal: str
) -> None:
    """Review finding: CDSS-002 showed cel-python internals (Activation, overload tokens)."""
    from django.utils import translation

    with translation.override("en"):
        with pytest.raises(InvalidExpression) as caught:
            validate_expression(expression)
        detail = caught.value.detail
    assert expected in detail
    assert internal not in detail and "celpy" not in detail and "Token(" not in detail
    with translation.override("zh-hans"), pytest.raises(InvalidExpression) as caught:
        validate_expression(expression)
    assert caught.value.code == "CDSS-002"


def test_condition_errors_at_run_time_are_counted_logged_and_shown(
    hospital: TestHospital, caplog: pytest.LogCaptureFixture
) -> None:
    """Review finding: a condition failing at run time counted as false, silently."""
    head = hospital.user("head")
    # Valid on the sample patient (who has this lab), failing for patients without it.
    rule = new_rule_version(head, "duplicate.nsaids", {"condition": 'labs["2160-0"] > 100.0'}, note="test")
    f = facts(drafts=[med("drug:ibuprofen")], active=[med("drug:diclofenac")])
    with caplog.at_level("WARNING", logger="smartcare.cdss.engine"):
        assert "duplicate.nsaids" not in keys(f)
        assert "duplicate.nsaids" not in keys(f)
    rule.refresh_from_db()
    assert rule.condition_errors == 2 and rule.last_condition_error_at is not None
    assert "no such key" in rule.last_condition_error
    assert any("duplicate.nsaids" in r.getMessage() and "v2" in r.getMessage() for r in caplog.records)
    assert Rule.objects.get(key="duplicate.nsaids", version=1).condition_errors == 0  # per version
    client = Client()
    client.force_login(head)
    listing = client.get("/cdss/rules/?q=duplicate.nsaids")
    assert b'data-testid="condition-errors">2<' in listing.content
    page = client.get("/cdss/rules/duplicate.nsaids/")
    assert b'data-testid="condition-errors"' in page.content and b"no such key" not in page.content


def test_department_heads_review_the_rules_of_their_department(hospital: TestHospital) -> None:
    """Review finding: department heads saw (and could edit) every department's rules."""
    from smartcare.cdss.models import Consultation, RuleFiring

    neurology_only = new_rule_version(
        hospital.user("itadmin"), "duplicate.ppis", {"departments": ["03.03"]}, note="neurology"
    )
    cardiology_too = new_rule_version(
        hospital.user("itadmin"), "duplicate.statins", {"departments": ["03"]}, note="internal medicine"
    )
    for department in ("03.04", "03.04", "03.03"):
        consultation = Consultation.objects.create(
            hook="order-sign", hook_instance="x", patient_ref="p", department_code=department
        )
        RuleFiring.objects.create(
            card_uuid=__import__("uuid").uuid4(),
            consultation=consultation,
            rule=cardiology_too,
            hook="order-sign",
            indicator="warning",
            summary="s",
            patient_ref="p",
            department_code=department,
        )
    head = Client()
    head.force_login(hospital.user("head"))  # cardiology, 03.04
    listing = head.get("/cdss/rules/?kind=duplicate_therapy")
    assert b'data-testid="review-scope"' in listing.content
    assert b"duplicate.nsaids" in listing.content  # hospital-wide
    assert b"duplicate.statins" in listing.content  # enabled in 03 (internal medicine), of which 03.04
    assert b"duplicate.ppis" not in listing.content
    row = listing.content.split(b'data-rule="duplicate.statins"')[1].split(b"</tr>")[0]
    assert b'<td class="text-end">2</td>' in row  # the two firings in cardiology, not neurology's
    assert head.get("/cdss/rules/duplicate.ppis/").status_code == 404
    assert head.post("/cdss/rules/duplicate.ppis/", {"indicator": "info", "note": "x"}).status_code == 404
    assert Rule.objects.get(key="duplicate.ppis", is_active=True).pk == neurology_only.pk
    admin = Client()
    admin.force_login(hospital.user("itadmin"))
    everything = admin.get("/cdss/rules/?kind=duplicate_therapy")
    assert b"duplicate.ppis" in everything.content and b'data-testid="review-scope"' not in everything.content
    row = everything.content.split(b'data-rule="duplicate.statins"')[1].split(b"</tr>")[0]
    assert b'<td class="text-end">3</td>' in row
    assert admin.get("/cdss/rules/duplicate.ppis/").status_code == 200
