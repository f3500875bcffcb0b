"""Counting, saving and re-running cohorts for people: differential privacy outside an approved
project, versions, audit, consent exclusion, the builder page and the API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from smartcare.audit.models import AuditEvent
from smartcare.core import clock
from smartcare.core.errors import PermissionDenied
from smartcare.emr.icd10 import ensure_icd10
from smartcare.emr.models import Diagnosis, Encounter
from smartcare.patients.models import Consent
from smartcare.research import cohort_services as services
from smartcare.research import cohorts, lake
from smartcare.research.errors import CohortNotFound, CriteriaInvalid, PrivacyBudgetExhausted
from smartcare.research.models import CohortRun, CohortVersion, PrivacyBudget, ResearchProject
from tests.factories import PatientFactory
from tests.research.lake_world import INDEX, build_fixture_lake

pytestmark = pytest.mark.django_db

E11 = {"index_date": INDEX.isoformat(), "criteria": {"type": "diagnosis", "codes": ["E11"]}}  # a, b, e


@pytest.fixture()
def fixture_lake(tmp_path: Path, monkeypatch: Any) -> Path:
    root = build_fixture_lake(tmp_path / "lake")
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(root))
    return root


@pytest.fixture()
def researcher(hospital: Any) -> Any:
    return hospital.user("researcher")


def _project(pi: Any, *, status: str = "approved", until: dt.date | None = None) -> ResearchProject:
    today = clock.today()
    return ResearchProject.objects.create(
        title="2型糖尿病胰岛素治疗结局",
        aims="比较胰岛素治疗的长期结局",
        ethics_number="IRB-2025-001",
        ethics_valid_from=today - dt.timedelta(days=30),
        ethics_valid_until=until or today + dt.timedelta(days=300),
        principal_investigator=pi,
        status=status,
    )


def test_counts_outside_a_project_are_noisy_charged_and_audited(fixture_lake: Path, researcher: Any) -> None:
    shown = services.count_cohort(researcher, E11)
    assert shown.noisy
    assert shown.epsilon_spent > 0
    run = CohortRun.objects.get()
    assert (run.true_count, run.shown_count, run.noisy) == (3, shown.value, True)
    assert run.index_date == INDEX
    budget = PrivacyBudget.objects.get(user=researcher, project=None)
    assert budget.epsilon_spent == pytest.approx(shown.epsilon_spent)
    event = AuditEvent.objects.filter(object_type="research.CohortRun", object_id=str(run.pk)).get()
    assert event.action == "search"
    assert event.detail["criteria"] == "diagnosis E11"


def test_counts_within_an_approved_project_are_exact(fixture_lake: Path, researcher: Any) -> None:
    project = _project(researcher)
    shown = services.count_cohort(researcher, E11, project=project)
    assert (shown.value, shown.noisy) == (3, False)
    # not yet approved: noisy again
    pending = _project(researcher, status="submitted")
    assert services.count_cohort(researcher, E11, project=pending).noisy


def test_a_spent_budget_refuses_the_count_and_records_nothing(fixture_lake: Path, researcher: Any) -> None:
    PrivacyBudget.objects.create(user=researcher, project=None, epsilon_total=1.0, epsilon_spent=1.0)
    with pytest.raises(PrivacyBudgetExhausted) as caught:
        services.count_cohort(researcher, E11)
    assert caught.value.code == "RES-046"
    assert not CohortRun.objects.exists()


def test_only_researchers_and_stewards_count(fixture_lake: Path, hospital: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.count_cohort(hospital.user("doctor"), E11)
    assert services.count_cohort(hospital.user("steward"), E11).noisy


def test_cohorts_are_saved_as_versions_and_rerun(fixture_lake: Path, researcher: Any, hospital: Any) -> None:
    v1 = services.save_cohort(researcher, definition=E11, name="2型糖尿病")
    assert (v1.number, v1.cohort.name) == (1, "2型糖尿病")
    assert "icd10_category = 'E11'" in v1.sql
    assert services.save_cohort(researcher, definition=E11, cohort=v1.cohort) == v1  # unchanged: same version
    older = {**E11, "criteria": {"and": [E11["criteria"], {"type": "age", "min": 60}]}}
    v2 = services.save_cohort(researcher, definition=older, cohort=v1.cohort, comment="60 岁以上")
    assert v2.number == 2
    project = _project(researcher)
    assert services.count_cohort(researcher, version=v1, project=project).value == 3
    assert services.count_cohort(researcher, version=v2, project=project).value == 2  # a (65) and e (84)
    assert CohortRun.objects.filter(version=v2).count() == 1
    # another researcher's cohort is invisible; bad criteria write nothing
    other = hospital.user("doctor")
    other.role = "researcher"
    other.save()
    with pytest.raises(CohortNotFound):
        services.get_cohort(other, v1.cohort_id)
    with pytest.raises(CriteriaInvalid):
        services.save_cohort(
            researcher, definition={"criteria": {"type": "diagnosis", "codes": ["E1"]}}, name="x"
        )
    assert CohortVersion.objects.count() == 2


def test_withdrawn_consent_is_excluded_from_counts(hospital: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """End to end: the lake built from the record, one of two diabetics withdraws research consent."""
    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(tmp_path))
    ensure_icd10()
    doctor = hospital.user("doctor")
    diabetics = [PatientFactory(), PatientFactory()]
    for patient in diabetics:
        visit = Encounter.objects.create(
            patient=patient,
            kind="outpatient",
            department=hospital.cardiology,
            status="finished",
            started_at=clock.now(),
        )
        Diagnosis.objects.create(encounter=visit, icd10_id="E11.9", recorded_by=doctor)
    lake.build()
    definition = {"criteria": {"type": "diagnosis", "codes": ["E11"]}}
    assert cohorts.run(definition).count == 2
    Consent.objects.create(patient=diabetics[0], kind="research", granted=False, recorded_by=doctor)
    result = cohorts.run(definition)
    assert (result.count, result.excluded_withdrawn) == (1, 1)
    assert result.person_keys == [lake.person_key(diabetics[1].pk)]
    # granting again brings the patient back (the latest decision counts)
    Consent.objects.create(patient=diabetics[0], kind="research", granted=True, recorded_by=doctor)
    assert cohorts.run(definition).count == 2
    project = _project(hospital.user("researcher"))
    assert services.count_cohort(hospital.user("researcher"), definition, project=project).value == 2


# --- the builder page ---------------------------------------------------------------------------


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_builder_counts_live_with_noise_and_shows_the_sql(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    page = client.get("/research/cohorts/new/")
    assert page.status_code == 200
    assert b'data-testid="cohort-row-0"' in page.content
    form = {
        "index_date": INDEX.isoformat(),
        "combine": "and",
        "c0-type": "diagnosis",
        "c0-codes": "E11",
        "c1-type": "age",
        "c1-min": "60",
    }
    response = client.post("/research/cohorts/count/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'data-noisy="1"' in response.content
    assert b'data-testid="cohort-noisy-badge"' in response.content
    assert "≈".encode() in response.content
    assert b"icd10_category = &#x27;E11&#x27;" in response.content
    run = CohortRun.objects.get()
    assert run.true_count == 2  # a and e
    assert run.definition["criteria"] == {
        "and": [{"type": "diagnosis", "codes": ["E11"]}, {"type": "age", "min": 60}]
    }


def test_builder_rows_with_not_windows_and_json(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    project = _project(researcher)
    form = {
        "index_date": INDEX.isoformat(),
        "project": str(project.pk),
        "combine": "and",
        "c0-type": "diagnosis",
        "c0-codes": "E10-E14",
        "c3-type": "medication",
        "c3-codes": "A10A",
        "c3-negate": "1",
    }
    response = client.post("/research/cohorts/count/", form)
    assert b'data-testid="cohort-exact-badge"' in response.content
    assert CohortRun.objects.get().shown_count == 2  # b and c: diabetic, never on insulin
    nested = {"or": [{"type": "diagnosis", "codes": ["I10"]}, {"type": "sex", "values": ["male"]}]}
    response = client.post(
        "/research/cohorts/count/",
        {"criteria_json": json.dumps(nested), "index_date": INDEX.isoformat(), "project": str(project.pk)},
    )
    assert CohortRun.objects.latest("pk").shown_count == 4  # b, d, e, f
    window = {
        "index_date": INDEX.isoformat(),
        "project": str(project.pk),
        "c0-type": "lab",
        "c0-code": "4548-4",
        "c0-op": ">=",
        "c0-value": "7",
        "c0-from": "2023-01-01",
    }
    client.post("/research/cohorts/count/", window)
    assert CohortRun.objects.latest("pk").shown_count == 2  # a and b


def test_builder_shows_coded_errors_in_place(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    response = client.post("/research/cohorts/count/", {"c0-type": "diagnosis", "c0-codes": "diabetes"})
    assert response.status_code == 200
    assert b'data-code="RES-001"' in response.content
    response = client.post("/research/cohorts/count/", {"criteria_json": "{not json"})
    assert b'data-code="RES-001"' in response.content
    assert not CohortRun.objects.exists()


def test_unbuilt_lake_is_reported_in_place(researcher: Any) -> None:
    response = _client(researcher).post("/research/cohorts/count/", {"c0-type": "age", "c0-min": "60"})
    assert b'data-code="RES-002"' in response.content


def test_saving_from_the_page_and_opening_the_version(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    form = {
        "name": "老年糖尿病",
        "combine": "and",
        "c0-type": "diagnosis",
        "c0-codes": "E11",
        "c1-type": "age",
        "c1-min": "60",
    }
    response = client.post("/research/cohorts/save/", form)
    assert response.status_code == 302
    version = CohortVersion.objects.get()
    assert response["Location"] == f"/research/cohorts/{version.cohort_id}/?version=1"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'data-testid="cohort-version-sql"' in page.content
    assert b'value="E11"' in page.content  # the rows are filled from the saved criteria
    listing = client.get("/research/cohorts/")
    assert "老年糖尿病".encode() in listing.content
    # re-run the saved version
    client.post("/research/cohorts/count/", {"cohort": version.cohort_id, "version": "1", "rerun": "1"})
    assert CohortRun.objects.get().version == version
    # a bad save writes nothing and says why
    bad = client.post(
        "/research/cohorts/save/", {"name": "", "c0-type": "age", "c0-min": "60"}, HTTP_HX_REQUEST="true"
    )
    assert b'data-code="RES-005"' in bad.content
    assert CohortVersion.objects.count() == 1


def test_row_partial_redraws_for_the_chosen_type(researcher: Any) -> None:
    response = _client(researcher).get("/research/cohorts/row/", {"i": "3", "c3-type": "lab"})
    assert b'name="c3-code"' in response.content
    assert b'name="c3-from"' in response.content


# --- the API ------------------------------------------------------------------------------------


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_api_counts_saves_and_runs(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    counted = _post(client, "/api/research/cohorts/count", {"definition": E11})
    assert counted.status_code == 200
    assert counted.json()["noisy"] is True
    project = _project(researcher)
    exact = _post(client, "/api/research/cohorts/count", {"definition": E11, "project_id": project.pk})
    assert (exact.json()["count"], exact.json()["noisy"]) == (3, False)
    sql = _post(client, "/api/research/cohorts/sql", {"definition": E11})
    assert "icd10_category = 'E11'" in sql.json()["sql"]
    created = _post(client, "/api/research/cohorts", {"name": "E11", "definition": E11})
    assert created.status_code == 201
    cohort_id = created.json()["id"]
    added = _post(
        client,
        f"/api/research/cohorts/{cohort_id}/versions",
        {"definition": {**E11, "criteria": {"type": "sex", "values": ["female"]}}},
    )
    assert added.json()["number"] == 2
    rerun = _post(client, f"/api/research/cohorts/{cohort_id}/run", {"version": 1, "project_id": project.pk})
    assert rerun.json()["count"] == 3
    detail = client.get(f"/api/research/cohorts/{cohort_id}").json()
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    assert client.get("/api/research/lake").json()["built"] is True


def test_api_bad_input_is_problem_json(fixture_lake: Path, researcher: Any) -> None:
    client = _client(researcher)
    bad = _post(
        client,
        "/api/research/cohorts/count",
        {"definition": {"criteria": {"type": "age", "min": 90, "max": 60}}},
    )
    assert bad.status_code == 400
    assert bad["Content-Type"].startswith("application/problem+json")
    assert (bad.json()["code"], bad.json()["field"]) == ("RES-001", "criteria.max")
    missing = _post(client, "/api/research/cohorts/999999/run", {})
    assert missing.json()["code"] == "RES-004"
    other_project = _post(client, "/api/research/cohorts/count", {"definition": E11, "project_id": 999999})
    assert other_project.json()["code"] == "RES-041"
    assert not CohortRun.objects.exists()


def test_a_data_steward_queues_a_lake_build(
    hospital: Any, tmp_path: Path, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Tests run tasks inline, so the queued build has run when the request returns."""
    from smartcare.research.models import LakeRun

    monkeypatch.setenv("SMARTCARE_LAKE_DIR", str(tmp_path))
    steward = hospital.user("steward")
    client = _client(steward)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, "/api/research/lake/build", {"full": True})
    assert response.status_code == 202
    run = LakeRun.objects.get()
    assert (run.status, run.full, run.started_by) == ("done", True, steward)
    assert lake.is_built()
    assert _post(_client(hospital.user("researcher")), "/api/research/lake/build", {}).status_code == 403
