"""Trained models on a generated dataset with a known signal: time-based split, discrimination,
calibration, comparison with the equation, model card, promotion and safe loading."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from smartcare.core.errors import PermissionDenied
from smartcare.health import services, training
from smartcare.health.errors import ModelNotPromoted, ModelTransitionRefused, TrainingRefused
from smartcare.health.models import TrainedModel
from tests.factories import TestHospital


def dataset(n: int = 400, seed: int = 7) -> list[training.Example]:
    """Outcome from a logistic model of age, smoking and HbA1c (the known signal); the reference
    risk sees only age, so a model that learns the signal must discriminate better."""
    rng = random.Random(seed)
    rows = []
    start = dt.date(2020, 1, 1)
    for i in range(n):
        age = rng.uniform(35, 75)
        smoker = 1.0 if rng.random() < 0.3 else 0.0
        hba1c = rng.uniform(4.8, 6.4)
        logit = -4.0 + 0.05 * (age - 55) + 1.2 * smoker + 2.0 * (hba1c - 5.6)
        p = 1 / (1 + math.exp(-logit))
        features = {
            "age": age,
            "male": float(rng.random() < 0.5),
            "bmi": rng.uniform(19, 32),
            "systolic_bp": rng.uniform(105, 170),
            "total_cholesterol": rng.uniform(150, 260),
            "hdl": rng.uniform(35, 70),
            "hba1c": hba1c,
            "smoker": smoker,
            "bp_treated": float(rng.random() < 0.3),
        }
        rows.append(
            training.Example(
                index_date=start + dt.timedelta(days=i * 3),
                features=features,
                outcome=rng.random() < p * 3,  # more events, same ranking
                reference_risk=min(1.0, (age - 30) / 100),
            )
        )
    return rows


@pytest.mark.parametrize("algorithm", ["logistic_regression", "gradient_boosting"])
def test_training_finds_the_signal_and_reports_calibration(h: TestHospital, algorithm: str) -> None:
    model = training.train_model(h.user("head"), "new_diabetes", algorithm, dataset())
    m = model.metrics
    assert model.status == "candidate" and model.version == 1
    assert m["n_train"] == 280 and m["n_test"] == 120
    assert m["train_period"][1] < m["test_period"][0]  # time-based split
    assert m["auc"] > 0.7
    assert m["auc"] > m["reference"]["auc"]
    assert 0 < m["brier"] < 0.25
    assert m["calibration"] and all(0 <= b["observed"] <= 1 for b in m["calibration"])
    assert "intended_use" in model.model_card and model.model_card["metrics"]["auc"] == m["auc"]
    assert 0 <= training.predict(model, dataset(1)[0].features, for_patient=False) <= 1
    with pytest.raises(ModelNotPromoted):
        training.predict(model, dataset(1)[0].features)


def test_training_refuses_too_little_data(h: TestHospital) -> None:
    with pytest.raises(TrainingRefused):
        training.train_model(h.user("head"), "new_diabetes", "logistic_regression", dataset(20))
    no_events = [training.Example(r.index_date, r.features, False) for r in dataset(100)]
    with pytest.raises(TrainingRefused):
        training.train_model(h.user("head"), "new_diabetes", "logistic_regression", no_events)
    with pytest.raises(PermissionDenied):
        training.train_model(h.user("doctor"), "new_diabetes", "logistic_regression", dataset())
    assert not TrainedModel.objects.exists()


def test_promotion_is_explicit_and_one_version_at_a_time(h: TestHospital) -> None:
    first = training.train_model(h.user("head"), "new_diabetes", "logistic_regression", dataset())
    second = training.train_model(h.user("head"), "new_diabetes", "gradient_boosting", dataset())
    assert second.version == 2
    services.promote_model(h.user("head"), first.pk)
    services.promote_model(h.user("head"), second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("retired", "promoted")
    assert second.promoted_by == h.user("head")
    with pytest.raises(ModelTransitionRefused):
        services.promote_model(h.user("head"), first.pk)
    with pytest.raises(PermissionDenied):
        services.promote_model(h.user("doctor"), second.pk)


def test_a_tampered_artifact_is_not_loaded(h: TestHospital) -> None:
    model = training.train_model(h.user("head"), "new_diabetes", "logistic_regression", dataset())
    TrainedModel.objects.filter(pk=model.pk).update(artifact=bytes(model.artifact) + b"x")
    model.refresh_from_db()
    with pytest.raises(TrainingRefused):
        training.load(model)


def test_only_a_promoted_model_is_used_for_patients(h: TestHospital) -> None:
    from smartcare.emr import services as emr
    from smartcare.health.models import RiskAssessment
    from tests.health.helpers import fill_record

    model = training.train_model(h.user("head"), "new_diabetes", "logistic_regression", dataset())
    patient = fill_record(h)
    emr.record_result(h.user("doctor"), patient.pk, code="4548-4", name="HbA1c", value=5.9, unit="%")
    assert not RiskAssessment.objects.filter(patient=patient, model="trained").exists()  # candidate only
    services.promote_model(h.user("head"), model.pk)
    services.refresh_from_record(patient)
    trained = RiskAssessment.objects.get(patient=patient, model="trained")
    assert trained.trained_model == model and trained.model_version == "new_diabetes-v1"
    assert 0 < trained.risk < 1 and trained.inputs["hba1c"] == 5.9


def _first_assessment(patient: object, when: dt.datetime) -> None:
    from smartcare.health.models import RiskAssessment

    RiskAssessment.objects.create(
        patient=patient,
        model="pce",
        model_version="goff-2013",
        risk=0.1,
        inputs={"age": 55, "sex": "male", "systolic_bp": 140, "smoker": True},
        drivers=[],
        measures={"hba1c": 6.1},
        fingerprint=f"{patient}-{when}",
        source="demo",
        computed_at=when,
    )


def test_examples_from_records_use_the_onset_and_leave_out_short_follow_up(h: TestHospital) -> None:
    from smartcare.core import clock
    from smartcare.emr.models import Problem
    from tests.factories import PatientFactory

    today = clock.now()
    index = today - dt.timedelta(days=400)
    diagnosed_by_onset, diagnosed_late, never, recent = (PatientFactory() for _ in range(4))
    for patient in (diagnosed_by_onset, diagnosed_late, never):
        _first_assessment(patient, index)
    _first_assessment(recent, today - dt.timedelta(days=100))  # horizon of 365 days not over
    recorder = h.user("doctor")
    # Entered today from an import, but the onset says 200 days after the index: a positive.
    Problem.objects.create(
        patient=diagnosed_by_onset,
        icd10_id="E11.9",
        onset=(index + dt.timedelta(days=200)).date(),
        recorded_by=recorder,
    )
    # Diagnosed after the horizon: a negative.
    late = Problem.objects.create(patient=diagnosed_late, icd10_id="E11.9", recorded_by=recorder)
    Problem.objects.filter(pk=late.pk).update(created_at=index + dt.timedelta(days=380))
    rows = training.examples_from_records("new_diabetes", horizon_days=365)
    assert sorted(r.outcome for r in rows) == [False, False, True]
    # With follow-up measured at an earlier day, nobody has a full year yet.
    assert (
        training.examples_from_records("new_diabetes", horizon_days=365, as_of=index + dt.timedelta(days=300))
        == []
    )
