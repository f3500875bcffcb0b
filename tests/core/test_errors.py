"""Coded errors: RFC 9457 problem+json for the API, a translated page with the code for people."""

from __future__ import annotations

from typing import Any

import pytest

from smartcare.core.errors import InvalidInput, NotFound
from tests.factories import as_user

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_KEYS
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"].endswith(f"/errors/{code}")
    assert problem["instance"] == response.wsgi_request.path
    assert problem["title"]
    assert problem["detail"]
    return problem


def test_malformed_json_body_is_core_001(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("frontdesk")).post(
        "/api/patients/", data='{"name": "张三", "national_id": ', content_type="application/json"
    )
    problem = assert_problem(response, 400, "CORE-001")
    assert problem["errors"]
    assert {error["field"] for error in problem["errors"]} == {"body"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param({}, {"name", "national_id"}, id="missing-fields"),
        pytest.param({"name": "", "national_id": "x"}, {"name"}, id="empty-name"),
        pytest.param({"name": "张三", "national_id": "1" * 40}, {"national_id"}, id="too-long"),
        pytest.param([1, 2], None, id="not-an-object"),
    ],
)
def test_invalid_body_lists_errors_per_field(
    client: Any, hospital: Any, body: Any, fields: set[str] | None
) -> None:
    response = as_user(client, hospital.user("frontdesk")).post(
        "/api/patients/", data=body, content_type="application/json"
    )
    problem = assert_problem(response, 400, "CORE-001")
    assert isinstance(problem["errors"], list)
    assert all(set(error) == {"field", "message"} and error["message"] for error in problem["errors"])
    if fields is not None:
        assert {error["field"] for error in problem["errors"]} == fields


def test_bad_query_parameter_is_core_001(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("doctor")).get("/api/patients/", {"limit": "many"})
    problem = assert_problem(response, 400, "CORE-001")
    assert [error["field"] for error in problem["errors"]] == ["query.limit"]


def test_anonymous_api_call_is_core_401(client: Any, hospital: Any) -> None:
    assert_problem(client.get("/api/patients/"), 401, "CORE-401")
    assert_problem(client.post("/api/patients/", data={}, content_type="application/json"), 401, "CORE-401")


def test_bad_bearer_token_is_core_401(client: Any, hospital: Any) -> None:
    response = client.get("/api/patients/", HTTP_AUTHORIZATION="Bearer sc_nothing_here")
    assert_problem(response, 401, "CORE-401")


def test_missing_and_forbidden_patient_look_the_same(client: Any, hospital: Any) -> None:
    doctor = as_user(client, hospital.user("doctor"))
    missing = assert_problem(doctor.get("/api/patients/99999999"), 404, "CORE-404")
    elsewhere = hospital.patient_elsewhere
    hidden = assert_problem(doctor.get(f"/api/patients/{elsewhere.pk}"), 404, "CORE-404")
    assert {k: v for k, v in missing.items() if k != "instance"} == {
        k: v for k, v in hidden.items() if k != "instance"
    }


def test_permission_error_is_core_403(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("researcher")).post(
        "/api/patients/", data={"name": "张三", "national_id": "x"}, content_type="application/json"
    )
    assert_problem(response, 403, "CORE-403")


def test_problem_detail_follows_the_language(client: Any, hospital: Any) -> None:
    doctor = as_user(client, hospital.user("doctor"))
    english = doctor.get("/api/patients/99999999", HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = doctor.get("/api/patients/99999999", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english["code"] == chinese["code"] == "CORE-404"
    assert english["detail"] == "The requested record does not exist or you may not see it."
    assert english["detail"] != chinese["detail"]


def test_invalid_input_problem_shape() -> None:
    error = InvalidInput(errors={"phone": ["bad"], "name": ["missing", "too long"]}, field="phone")
    problem = error.as_problem(instance="/x")
    assert problem["code"] == "CORE-001"
    assert problem["status"] == 400
    assert problem["field"] == "phone"
    assert problem["instance"] == "/x"
    assert problem["errors"] == [
        {"field": "phone", "message": "bad"},
        {"field": "name", "message": "missing"},
        {"field": "name", "message": "too long"},
    ]
    assert "errors" not in NotFound().as_problem()


# --- pages ---------------------------------------------------------------------------------------------


def test_page_shows_coded_error_for_missing_patient(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("doctor")).get("/patients/99999999/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b'data-error-code="CORE-404"' in response.content
    assert b"CORE-404" in response.content


def test_page_shows_coded_error_for_missing_capability(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("researcher")).get("/patients/register/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b'data-error-code="CORE-403"' in response.content


def test_page_error_in_english(client: Any, hospital: Any) -> None:
    client.cookies["django_language"] = "en"
    response = as_user(client, hospital.user("doctor")).get("/patients/99999999/", HTTP_ACCEPT_LANGUAGE="en")
    assert b"The requested record does not exist or you may not see it." in response.content


def test_page_answers_problem_json_to_json_clients(client: Any, hospital: Any) -> None:
    response = as_user(client, hospital.user("doctor")).get(
        "/patients/99999999/", HTTP_ACCEPT="application/problem+json"
    )
    assert_problem(response, 404, "CORE-404")
