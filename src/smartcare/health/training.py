"""Hospital-trained risk models (scikit-learn), evaluated before anyone may use them.

A dataset is a list of ``Example`` rows: the patient's features at an index date, whether the
outcome (e.g. a new type 2 diabetes diagnosis) followed within the horizon, and the validated
equation's risk for the same person when it could be computed. Training:

* time-based split: the earliest ``1 - TEST_SHARE`` of index dates train, the latest test, so the
  evaluation mimics using the model on patients who come after it was built;
* discrimination: ROC AUC on the test set;
* calibration: a 10-bin calibration curve (``sklearn.calibration.calibration_curve``, quantile
  bins) and the Brier score;
* comparison: AUC and Brier of the validated equation on the same test patients;
* a model card (intended use, data, split, metrics, limits) stored with the version.

A new version is a candidate: ``services.promote_model`` makes it the one used for patients.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from sklearn.calibration import calibration_curve
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core import clock
from smartcare.core.permissions import require_capability
from smartcare.health.choices import Algorithm, ModelStatus, Outcome
from smartcare.health.errors import ModelNotPromoted, TrainingRefused
from smartcare.health.models import TrainedModel

FEATURES = ("age", "male", "bmi", "systolic_bp", "total_cholesterol", "hdl", "hba1c", "smoker", "bp_treated")
TEST_SHARE = 0.3
MIN_EXAMPLES = 40
MIN_EVENTS = 5  # in each of the train and test sets
REFERENCE = {Outcome.NEW_DIABETES: "findrisc", Outcome.NEW_CVD: "pce"}
HORIZON_YEARS = {Outcome.NEW_DIABETES: 5, Outcome.NEW_CVD: 10}


@dataclass(frozen=True)
class Example:
    index_date: dt.date
    features: dict[str, float]
    outcome: bool
    reference_risk: float | None = None


def _matrix(rows: Sequence[Example], features: Sequence[str]) -> np.ndarray:
    return np.array([[float(r.features.get(f, math.nan)) for f in features] for r in rows], dtype=float)


def _estimator(algorithm: str, seed: int) -> Any:
    if algorithm == Algorithm.LOGISTIC_REGRESSION:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    if algorithm == Algorithm.GRADIENT_BOOSTING:
        return GradientBoostingClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, random_state=seed)
    raise TrainingRefused(reason=_("unknown algorithm %(name)s") % {"name": algorithm})


def _calibration(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return [
        {"predicted": round(float(a), 4), "observed": round(float(b), 4)}
        for a, b in zip(predicted, observed, strict=True)
    ]


def evaluate_split(
    rows: Sequence[Example], features: Sequence[str], algorithm: str, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Fit on the earliest rows, evaluate on the latest; returns the estimator and the metrics."""
    rows = sorted(rows, key=lambda r: r.index_date)
    complete = [r for r in rows if all(isinstance(r.features.get(f), int | float) for f in features)]
    if len(complete) < MIN_EXAMPLES:
        raise TrainingRefused(
            reason=_("%(count)s complete examples, at least %(needed)s needed")
            % {"count": len(complete), "needed": MIN_EXAMPLES}
        )
    cut = int(len(complete) * (1 - TEST_SHARE))
    train, test = complete[:cut], complete[cut:]
    y_train = np.array([r.outcome for r in train], dtype=int)
    y_test = np.array([r.outcome for r in test], dtype=int)
    for name, y in (("training", y_train), ("test", y_test)):
        events = int(y.sum())
        if events < MIN_EVENTS or len(y) - events < MIN_EVENTS:
            raise TrainingRefused(
                reason=(
                    _(
                        "the training set has %(events)s outcomes among %(count)s; at least %(needed)s of each class needed"
                    )
                    if name == "training"
                    else _(
                        "the test set has %(events)s outcomes among %(count)s; at least %(needed)s of each class needed"
                    )
                )
                % {"events": events, "count": len(y), "needed": MIN_EVENTS}
            )
    estimator = _estimator(algorithm, seed)
    estimator.fit(_matrix(train, features), y_train)
    p = estimator.predict_proba(_matrix(test, features))[:, 1]
    metrics: dict[str, Any] = {
        "n_train": len(train),
        "n_test": len(test),
        "events_train": int(y_train.sum()),
        "events_test": int(y_test.sum()),
        "train_period": [train[0].index_date.isoformat(), train[-1].index_date.isoformat()],
        "test_period": [test[0].index_date.isoformat(), test[-1].index_date.isoformat()],
        "auc": round(float(roc_auc_score(y_test, p)), 4),
        "brier": round(float(brier_score_loss(y_test, p)), 4),
        "calibration": _calibration(y_test, p),
        "mean_predicted": round(float(p.mean()), 4),
        "observed_rate": round(float(y_test.mean()), 4),
    }
    with_reference = [(r.reference_risk, r.outcome) for r in test if r.reference_risk is not None]
    if with_reference and len({o for _r, o in with_reference}) == 2:
        ref_p = np.array([r for r, _o in with_reference], dtype=float)
        ref_y = np.array([o for _r, o in with_reference], dtype=int)
        metrics["reference"] = {
            "n": len(with_reference),
            "auc": round(float(roc_auc_score(ref_y, ref_p)), 4),
            "brier": round(float(brier_score_loss(ref_y, ref_p)), 4),
        }
    return estimator, metrics


def model_card(
    outcome: str, algorithm: str, features: Sequence[str], metrics: dict[str, Any], source: str
) -> dict[str, Any]:
    reference = REFERENCE.get(Outcome(outcome), "")
    return {
        "intended_use": f"Estimate the risk of {Outcome(outcome).label} within {HORIZON_YEARS[Outcome(outcome)]} years "
        "for adult patients of this hospital, to support (not replace) the doctor's assessment.",
        "not_for": "Children, pregnancy, patients who already have the outcome; other hospitals without re-validation.",
        "algorithm": str(Algorithm(algorithm).label),
        "features": list(features),
        "data": source,
        "split": f"time-based: earliest {int((1 - TEST_SHARE) * 100)}% of index dates train, latest {int(TEST_SHARE * 100)}% test",
        "metrics": {
            k: metrics[k] for k in ("auc", "brier", "n_train", "n_test", "events_test") if k in metrics
        },
        "comparison": f"validated equation {reference}: {metrics.get('reference', 'not computable on the test set')}",
        "limits": "Trained on this hospital's records; missing values exclude a patient; re-check calibration yearly.",
    }


@transaction.atomic
def train_model(
    actor: Any,
    outcome: str,
    algorithm: str,
    rows: Sequence[Example],
    *,
    source: str = "records",
    seed: int = 0,
) -> TrainedModel:
    """Train, evaluate and store a candidate version (never used for patients until promoted)."""
    require_capability(actor, "health.models")
    if outcome not in Outcome.values:
        raise TrainingRefused(reason=_("unknown outcome %(name)s") % {"name": outcome})
    if algorithm not in Algorithm.values:
        raise TrainingRefused(reason=_("unknown algorithm %(name)s") % {"name": algorithm})
    estimator, metrics = evaluate_split(rows, FEATURES, algorithm, seed)
    buffer = io.BytesIO()
    pickle.dump(estimator, buffer)
    artifact = buffer.getvalue()
    last = TrainedModel.objects.select_for_update().filter(outcome=outcome).order_by("-version").first()
    model = TrainedModel.objects.create(
        outcome=outcome,
        algorithm=algorithm,
        version=(last.version + 1) if last else 1,
        horizon_years=HORIZON_YEARS[Outcome(outcome)],
        features=list(FEATURES),
        metrics=metrics,
        model_card=model_card(outcome, algorithm, FEATURES, metrics, source),
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        trained_by=actor,
    )
    record(actor, AuditAction.CREATE, obj=model, detail={"event": "model_trained", "auc": metrics["auc"]})
    return model


def load(model: TrainedModel) -> Any:
    data = bytes(model.artifact)
    if hashlib.sha256(data).hexdigest() != model.artifact_sha256:
        raise TrainingRefused(reason=_("the stored model does not match its checksum"))
    return pickle.loads(data)  # noqa: S301 - our own artifact, checksum verified


def predict(model: TrainedModel, features: dict[str, float], *, for_patient: bool = True) -> float:
    """The model's risk for ``features``. For a patient only a promoted version may be used
    (``HL-006``); evaluation passes ``for_patient=False``."""
    if for_patient and model.status != ModelStatus.PROMOTED:
        raise ModelNotPromoted()
    estimator = load(model)
    row = np.array([[float(features[f]) for f in model.features]], dtype=float)
    return float(estimator.predict_proba(row)[0, 1])


def examples_from_records(
    outcome: str, *, horizon_days: int | None = None, as_of: dt.datetime | None = None
) -> list[Example]:
    """One example per patient: the features of their first cardiovascular assessment (PCE or
    Framingham, with the measures stored with it) and whether the outcome was diagnosed (an active
    problem E11 for diabetes, I20-I25 / I63-I64 for cardiovascular disease) within the horizon.
    Patients who had the outcome at the index date are left out, and so are patients whose
    follow-up is shorter than the horizon (index date + horizon after ``as_of``): without it a
    patient not yet diagnosed would count as a negative. The date of a diagnosis is the problem's
    recorded onset, or the day it was entered when no onset was recorded. The reference risk is
    the validated equation computed on the same day when there is one."""
    from smartcare.emr.models import Problem
    from smartcare.health.models import RiskAssessment

    horizon = dt.timedelta(days=horizon_days or HORIZON_YEARS[Outcome(outcome)] * 365)
    prefixes = (
        ("E11",)
        if outcome == Outcome.NEW_DIABETES
        else ("I20", "I21", "I22", "I23", "I24", "I25", "I63", "I64")
    )
    first: dict[int, Any] = {}
    reference: dict[int, float] = {}
    reference_model = REFERENCE[Outcome(outcome)]
    for row in RiskAssessment.objects.filter(model__in=("pce", "framingham", reference_model)).order_by(
        "computed_at", "pk"
    ):
        if row.model in ("pce", "framingham"):
            first.setdefault(row.patient_id, row)
        if row.model == reference_model:
            reference.setdefault(row.patient_id, row.risk)
    onsets: dict[int, dt.datetime] = {}
    for patient_id, code, onset_day, created in Problem.objects.filter(
        patient_id__in=list(first)
    ).values_list("patient_id", "icd10_id", "onset", "created_at"):
        if str(code).upper().startswith(prefixes):
            when = created
            if onset_day is not None:
                when = timezone.make_aware(dt.datetime.combine(onset_day, dt.time(12)))
            onsets[patient_id] = min(when, onsets.get(patient_id, when))
    end_of_follow_up = as_of or clock.now()
    rows: list[Example] = []
    for patient_id, row in first.items():
        onset = onsets.get(patient_id)
        if onset is not None and onset <= row.computed_at:
            continue
        if row.computed_at + horizon > end_of_follow_up:
            continue  # censored: the horizon has not passed yet
        if outcome == Outcome.NEW_DIABETES and row.inputs.get("diabetes"):
            continue
        inputs, measures = row.inputs, row.measures or {}
        features = {
            "age": inputs.get("age"),
            "male": 1.0 if inputs.get("sex") == "male" else 0.0,
            "bmi": measures.get("bmi"),
            "systolic_bp": inputs.get("systolic_bp"),
            "total_cholesterol": inputs.get("total_cholesterol"),
            "hdl": inputs.get("hdl"),
            "hba1c": measures.get("hba1c"),
            "smoker": 1.0 if inputs.get("smoker") else 0.0,
            "bp_treated": 1.0 if inputs.get("bp_treated") else 0.0,
        }
        rows.append(
            Example(
                index_date=row.computed_at.date(),
                features={k: float(v) for k, v in features.items() if isinstance(v, int | float)},
                outcome=onset is not None and onset <= row.computed_at + horizon,
                reference_risk=reference.get(patient_id),
            )
        )
    return rows
