"""Health management in the demo year: risk inputs in the record (blood pressure, weight and
height, cholesterol in mmol/L, LDL, HbA1c, lifestyle answers) for adults of 40-79, their validated
risks (PCE, Framingham, FINDRISC) with drivers and advice, enrolment of raised-risk patients in the
two programmes, weekly adherence reports that differ from patient to patient, and a follow-up
measurement some months later: enrolled patients improve in proportion to how well they follow the
advice, the others drift, so the effect page compares real groups. A candidate diabetes model is
trained on the records when they hold enough outcomes. The demo patient takes part in the
cardiovascular programme and has not reported today.

Written in bulk, like the other demo generators (no signals): the risks are computed by the same
``equations`` and the advice by the same rules as live ones.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from smartcare.accounts.choices import Role
from smartcare.accounts.models import User
from smartcare.core import clock
from smartcare.emr.models import Observation, Problem, VitalSign
from smartcare.health import equations
from smartcare.health.advice import advise
from smartcare.health.choices import Adherence, AssessmentSource, EnrolmentStatus
from smartcare.health.errors import TrainingRefused
from smartcare.health.models import (
    AdherenceReport,
    Advice,
    Enrolment,
    LifestyleAnswers,
    Programme,
    RiskAssessment,
)
from smartcare.health.record import fingerprint
from smartcare.health.seed import ensure_programmes
from smartcare.organization.models import Department
from smartcare.patients.models import Patient
from smartcare.simulation.registry import DemoContext, register_generator

MAX_PATIENTS = 700
ENROL_SHARE = 0.55  # of eligible (raised-risk) patients
FOLLOW_UP_SHARE = 0.7  # of patients not enrolled who were measured again
MMOL = equations.CHOLESTEROL_MG_DL_PER_MMOL_L


class _Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng: random.Random = ctx.rng
        self.today = clock.today()
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.programmes = {p.key: p for p in Programme.objects.all()}
        self.cardiology = Department.objects.filter(national_code_id="03.04").first()
        self.endocrinology = Department.objects.filter(national_code_id="03.06").first() or self.cardiology
        self.doctors: dict[int, list[User]] = defaultdict(list)
        for user in User.objects.filter(role=Role.DOCTOR, is_active=True).select_related("practitioner"):
            practitioner = getattr(user, "practitioner", None)
            if practitioner is not None:
                self.doctors[practitioner.department_id].append(user)
        self.recorder = User.objects.filter(username="doctor").first() or next(
            (u for us in self.doctors.values() for u in us), None
        )
        self.vitals: list[VitalSign] = []
        self.results: list[Observation] = []
        self.answers: list[LifestyleAnswers] = []
        self.counts: dict[str, int] = defaultdict(int)

    def at(self, day: dt.date, hour: int = 9) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, self.rng.randrange(60)), tzinfo=self.tz)

    # --- people ----------------------------------------------------------------------------------

    def choose(self) -> list[Patient]:
        oldest = self.today.replace(year=self.today.year - 79)
        youngest = self.today.replace(year=self.today.year - 40)
        pool = list(Patient.objects.filter(birth_date__gt=oldest, birth_date__lte=youngest).order_by("pk"))
        chosen = self.rng.sample(pool, k=min(MAX_PATIENTS, len(pool)))
        demo = self.ctx.state.get("demo_patient")
        if demo is not None and all(p.pk != demo.pk for p in chosen):
            chosen.append(demo)
        return chosen

    def profile(self, patient: Patient, diabetic: bool, demo: bool) -> dict[str, Any]:
        rng = self.rng
        male = patient.sex == "male"
        age = patient.age
        sbp = max(95.0, min(195.0, rng.gauss(128 + (age - 50) * 0.5, 16)))
        height = rng.gauss(170 if male else 158, 6)
        bmi = max(17.0, min(38.0, rng.gauss(24.5, 3.4)))
        smoker = rng.random() < (0.45 if male else 0.04)
        if demo:
            sbp, bmi, smoker = 152.0, 26.8, True
        return {
            "sbp": round(sbp),
            "treated": sbp > 145 and rng.random() < 0.5,
            "tc": round(max(3.5, min(8.0, rng.gauss(5.2, 0.9))), 2),
            "hdl": round(max(0.7, min(2.4, rng.gauss(1.25 if male else 1.45, 0.28))), 2),
            "ldl": round(max(1.5, min(6.0, rng.gauss(3.1, 0.8))), 2),
            "hba1c": round(max(4.6, min(9.0, rng.gauss(5.7, 0.45) + (1.2 if diabetic else 0))), 1),
            "height": round(height, 1),
            "weight": round(bmi * (height / 100) ** 2, 1),
            "smoker": smoker,
            "active": rng.random() < 0.45,
            "vegetables": rng.random() < 0.6,
            "glucose_history": rng.random() < 0.12,
            "family": rng.choices(["none", "second_degree", "first_degree"], weights=[6, 2, 2])[0],
            "waist": round(bmi * (3.6 if male else 3.4) + rng.gauss(0, 4), 1),
            "diabetes": diabetic,
        }

    def record(self, patient: Patient, values: dict[str, Any], when: dt.datetime) -> None:
        by = self.recorder
        self.vitals += [
            VitalSign(
                patient=patient,
                kind="bp",
                value=values["sbp"],
                value2=round(values["sbp"] * 0.62),
                unit="mmHg",
                measured_at=when,
                recorded_by=by,
            ),
            VitalSign(
                patient=patient,
                kind="weight",
                value=values["weight"],
                unit="kg",
                measured_at=when,
                recorded_by=by,
            ),
            VitalSign(
                patient=patient,
                kind="height",
                value=values["height"],
                unit="cm",
                measured_at=when,
                recorded_by=by,
            ),
        ]
        later = when + dt.timedelta(hours=1)
        for code, name, value, unit in (
            ("2093-3", "总胆固醇", values["tc"], "mmol/L"),
            ("2085-9", "高密度脂蛋白胆固醇", values["hdl"], "mmol/L"),
            ("13457-7", "低密度脂蛋白胆固醇", values["ldl"], "mmol/L"),
            ("4548-4", "糖化血红蛋白", values["hba1c"], "%"),
        ):
            self.results.append(
                Observation(
                    patient=patient,
                    code=code,
                    name=name,
                    value=value,
                    unit=unit,
                    observed_at=later,
                    recorded_by=by,
                )
            )
        self.answers.append(
            LifestyleAnswers(
                patient=patient,
                smoker=values["smoker"],
                physically_active=values["active"],
                daily_vegetables=values["vegetables"],
                high_glucose_history=values["glucose_history"] or values["hba1c"] >= 5.7,
                family_history=values["family"],
                waist_cm=values["waist"],
                answered_at=when,
                answered_by=patient.user if patient.user_id else None,
            )
        )

    def assess(self, patient: Patient, values: dict[str, Any], when: dt.datetime) -> list[RiskAssessment]:
        age = patient.age - max(0, (self.today - when.date()).days // 365)
        bmi = round(values["weight"] / (values["height"] / 100) ** 2, 1)
        cv = {
            "age": age,
            "sex": patient.sex,
            "race": "other",
            "total_cholesterol": round(values["tc"] * MMOL, 2),
            "total_cholesterol_unit": "mg/dL",
            "hdl": round(values["hdl"] * MMOL, 2),
            "hdl_unit": "mg/dL",
            "systolic_bp": float(values["sbp"]),
            "bp_treated": values["treated"],
            "smoker": values["smoker"],
            "diabetes": values["diabetes"] or values["hba1c"] >= 6.5,
        }
        measures = {
            "systolic_bp": float(values["sbp"]),
            "systolic_source": "office",
            "ldl": round(values["ldl"] * MMOL, 1),
            "hba1c": values["hba1c"],
            "weight": values["weight"],
            "bmi": bmi,
            "total_cholesterol": cv["total_cholesterol"],
            "physically_active": values["active"],
        }
        raws: list[tuple[str, dict[str, Any]]] = [("pce", cv), ("framingham", cv)]
        if not cv["diabetes"]:
            raws.append(
                (
                    "findrisc",
                    {
                        "age": age,
                        "sex": patient.sex,
                        "bmi": bmi,
                        "waist_cm": values["waist"],
                        "physically_active": values["active"],
                        "daily_vegetables": values["vegetables"],
                        "bp_medication": values["treated"],
                        "high_glucose_history": values["glucose_history"] or values["hba1c"] >= 5.7,
                        "family_history": values["family"],
                    },
                )
            )
        rows = []
        for model, raw in raws:
            try:
                result = equations.compute(model, raw)
            except (equations.RiskInputInvalid, equations.OutsideValidatedRange):
                continue  # refused as the live record would be (e.g. cholesterol below 130 mg/dL)
            rows.append(
                RiskAssessment(
                    patient=patient,
                    model=result.model,
                    model_version=result.version,
                    risk=result.risk,
                    score=result.score,
                    band=result.band,
                    optimal_risk=result.optimal_risk,
                    inputs=result.inputs,
                    drivers=result.as_dict()["drivers"],
                    measures=measures,
                    fingerprint=fingerprint(result.model, result.version, result.inputs),
                    source=AssessmentSource.DEMO,
                    computed_at=when + dt.timedelta(hours=2),
                )
            )
        return rows

    @staticmethod
    def advice_profile(rows: list[RiskAssessment]) -> dict[str, Any]:
        by_model = {r.model: r for r in rows}
        profile: dict[str, Any] = {}
        cv = by_model.get("pce") or by_model.get("framingham")
        if cv is not None:
            profile.update(cv.inputs)
            profile["cv_risk"] = cv.risk
        if "findrisc" in by_model:
            profile["findrisc_score"] = by_model["findrisc"].score
        for row in rows:
            for key, value in row.measures.items():
                if value is not None and key != "systolic_bp":
                    profile.setdefault(key, value)
        return profile

    @staticmethod
    def improve(values: dict[str, Any], adherence: float, rng: random.Random) -> dict[str, Any]:
        after = dict(values)
        after["sbp"] = round(max(95, values["sbp"] - adherence * rng.uniform(6, 20) + rng.gauss(0, 4)))
        after["tc"] = round(
            max(3.2, values["tc"] - adherence * rng.uniform(0.3, 1.1) + rng.gauss(0, 0.15)), 2
        )
        after["ldl"] = round(
            max(1.4, values["ldl"] - adherence * rng.uniform(0.3, 0.9) + rng.gauss(0, 0.15)), 2
        )
        after["hdl"] = round(min(2.4, values["hdl"] + adherence * 0.06), 2)
        after["hba1c"] = round(max(4.6, values["hba1c"] - adherence * rng.uniform(0, 0.4)), 1)
        after["weight"] = round(values["weight"] - adherence * rng.uniform(1, 5), 1)
        after["smoker"] = values["smoker"] and rng.random() > 0.6 * adherence
        after["active"] = values["active"] or rng.random() < adherence
        return after

    @staticmethod
    def drift(values: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        after = dict(values)
        after["sbp"] = round(max(95, min(199, values["sbp"] + rng.gauss(0, 7))))
        after["tc"] = round(max(3.2, values["tc"] + rng.gauss(0.05, 0.25)), 2)
        after["ldl"] = round(max(1.4, values["ldl"] + rng.gauss(0.03, 0.2)), 2)
        after["weight"] = round(values["weight"] + rng.gauss(0.3, 1.2), 1)
        after["smoker"] = values["smoker"] and rng.random() > 0.05
        return after

    # --- the year ----------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        if self.recorder is None or not self.programmes:
            self.ctx.log("health: no doctor or programme, skipped")
            return
        demo = self.ctx.state.get("demo_patient")
        patients = self.choose()
        onsets: dict[int, dt.datetime] = {}
        for patient_id, created in Problem.objects.filter(
            patient__in=patients, icd10__code__startswith="E1"
        ).values_list("patient_id", "created_at"):
            onsets[patient_id] = min(created, onsets.get(patient_id, created))
        assessments: list[RiskAssessment] = []
        plans: list[dict[str, Any]] = []
        for patient in patients:
            is_demo = demo is not None and patient.pk == demo.pk
            baseline_day = self.today - dt.timedelta(days=self.rng.randint(200, 330) if not is_demo else 120)
            when = self.at(baseline_day)
            onset = onsets.get(patient.pk)
            values = self.profile(patient, onset is not None and onset <= when, is_demo)
            self.record(patient, values, when)
            rows = self.assess(patient, values, when)
            assessments += rows
            by_model = {r.model: r for r in rows}
            cv = by_model.get("pce")
            findrisc = by_model.get("findrisc")
            programme = None
            if cv is not None and cv.risk >= 0.075:
                programme = self.programmes.get("cardiovascular-risk")
            elif findrisc is not None and (findrisc.score or 0) >= 12:
                programme = self.programmes.get("diabetes-prevention")
            enrol = programme is not None and (is_demo or self.rng.random() < ENROL_SHARE)
            if is_demo:
                programme, enrol = self.programmes.get("cardiovascular-risk"), True
            adherence = 0.8 if is_demo else self.rng.betavariate(2.2, 1.6)
            plan: dict[str, Any] = {
                "patient": patient,
                "values": values,
                "baseline": rows,
                "when": when,
                "programme": programme if enrol else None,
                "adherence": adherence,
                "demo": is_demo,
            }
            if (enrol and not is_demo) or (not enrol and self.rng.random() < FOLLOW_UP_SHARE):
                follow_day = min(
                    self.today - dt.timedelta(days=3),
                    baseline_day + dt.timedelta(days=self.rng.randint(110, 190)),
                )
                after = self.improve(values, adherence, self.rng) if enrol else self.drift(values, self.rng)
                follow_when = self.at(follow_day, 10)
                self.record(patient, after, follow_when)
                plan["follow_up"] = self.assess(patient, after, follow_when)
                assessments += plan["follow_up"]
            plans.append(plan)
        VitalSign.objects.bulk_create(self.vitals, batch_size=1000)
        Observation.objects.bulk_create(self.results, batch_size=1000)
        LifestyleAnswers.objects.bulk_create(self.answers, batch_size=1000)
        RiskAssessment.objects.bulk_create(assessments, batch_size=500)
        self.enrol_and_advise(plans)
        self.new_diabetes(plans, onsets)
        model = self.train()
        self.ctx.log(
            f"health: {len(patients)} patients with risk inputs, {len(assessments)} risk assessments, "
            f"{self.counts['enrolled']} enrolled, {self.counts['advice']} advice, {self.counts['reports']} adherence "
            f"reports, {self.counts['new_diabetes']} new diabetes diagnoses, trained model: {model} "
            f"({time.monotonic() - started:.1f}s)"
        )

    def enrol_and_advise(self, plans: list[dict[str, Any]]) -> None:
        enrolments: list[Enrolment] = []
        for plan in plans:
            programme = plan["programme"]
            if programme is None:
                continue
            baseline = next((r for r in plan["baseline"] if r.model == programme.risk_model), None)
            if baseline is None:
                plan["programme"] = None
                continue
            department = self.cardiology if programme.key == "cardiovascular-risk" else self.endocrinology
            pool: list[User] = self.doctors.get(department.pk if department else -1) or []
            doctor = self.rng.choice(pool) if pool and not plan["demo"] else self.recorder
            enrolment = Enrolment(
                programme=programme,
                patient=plan["patient"],
                department=department,
                enrolled_on=plan["when"].date(),
                enrolled_by=doctor,
                baseline=baseline,
                status=EnrolmentStatus.ACTIVE,
            )
            plan["enrolment"] = enrolment
            enrolments.append(enrolment)
        Enrolment.objects.bulk_create(enrolments, batch_size=500)
        self.counts["enrolled"] = len(enrolments)
        advice_rows: list[Advice] = []
        for plan in plans:
            baseline_rules = advise(self.advice_profile(plan["baseline"]))
            latest_rows = plan.get("follow_up") or plan["baseline"]
            current_keys = {r.key for r in advise(self.advice_profile(latest_rows))}
            source = plan["baseline"][0] if plan["baseline"] else None
            if source is None:
                continue
            for rule in baseline_rules:
                advice_rows.append(
                    Advice(
                        patient=plan["patient"],
                        assessment=source,
                        enrolment=plan.get("enrolment"),
                        rule=rule.key,
                        category=rule.category,
                        for_doctor=rule.for_doctor,
                        education_key=rule.education_key,
                        is_current=rule.key in current_keys,
                        created_at=source.computed_at,
                    )
                )
            plan["advice"] = list(advice_rows[-len(baseline_rules) :]) if baseline_rules else []
        Advice.objects.bulk_create(advice_rows, batch_size=1000)
        self.counts["advice"] = len(advice_rows)
        reports: list[AdherenceReport] = []
        for plan in plans:
            if plan.get("enrolment") is None:
                continue
            for advice in plan.get("advice", []):
                if advice.for_doctor:
                    continue
                day = plan["when"].date() + dt.timedelta(days=7)
                last = self.today - dt.timedelta(days=1)
                while day <= last:
                    if self.rng.random() < 0.85:
                        draw = self.rng.random()
                        a = plan["adherence"]
                        level = (
                            Adherence.FOLLOWED
                            if draw < a
                            else Adherence.PARTLY
                            if draw < a + 0.2
                            else Adherence.NOT_FOLLOWED
                        )
                        reports.append(
                            AdherenceReport(
                                advice=advice,
                                patient=plan["patient"],
                                reported_on=day,
                                level=level,
                                reported_by=plan["patient"].user if plan["patient"].user_id else None,
                                created_at=self.at(day, 20),
                            )
                        )
                    day += dt.timedelta(days=7)
        AdherenceReport.objects.bulk_create(reports, batch_size=2000)
        self.counts["reports"] = len(reports)

    def new_diabetes(self, plans: list[dict[str, Any]], onsets: dict[int, dt.datetime]) -> None:
        """Type 2 diabetes diagnosed during the year, more often the higher the baseline FINDRISC
        score (about 1, 4, 17, 33 and 50% in its five bands over ten years, compressed into the
        months of the demo year), so the hospital's own model has outcomes to learn from."""
        band_risk = [(7, 0.01), (12, 0.04), (15, 0.17), (21, 0.33), (99, 0.5)]
        problems: list[Problem] = []
        for plan in plans:
            patient, when = plan["patient"], plan["when"]
            if plan["demo"] or plan["values"].get("diabetes") or patient.pk in onsets:
                continue
            findrisc = next((r for r in plan["baseline"] if r.model == "findrisc"), None)
            if findrisc is None:
                continue
            score = findrisc.score or 0
            risk = next(r for limit, r in band_risk if score < limit)
            # A demo year stands for the years of follow-up: the ten-year risk, scaled up.
            if self.rng.random() >= min(0.9, risk * 2.5):
                continue
            latest = self.today - dt.timedelta(days=1)
            onset_day = min(latest, when.date() + dt.timedelta(days=self.rng.randint(30, 300)))
            problems.append(
                Problem(
                    patient=patient,
                    icd10_id="E11.9",
                    onset=onset_day,
                    comment="demo",
                    recorded_by=self.recorder,
                    created_at=self.at(onset_day, 11),
                )
            )
        Problem.objects.bulk_create(problems, batch_size=500)
        self.counts["new_diabetes"] = len(problems)

    def train(self) -> str:
        from smartcare.health import training

        head = User.objects.filter(role=Role.DEPARTMENT_HEAD, is_active=True).first()
        if head is None:
            return "no department head"
        try:
            rows = training.examples_from_records("new_diabetes", horizon_days=180)
            model = training.train_model(
                head, "new_diabetes", "logistic_regression", rows, source="demo year records"
            )
        except TrainingRefused as exc:
            return f"not trained ({exc.detail})"
        return f"v{model.version} AUC {model.metrics['auc']}"


def build_health(ctx: DemoContext) -> None:
    ensure_programmes()
    _Builder(ctx).run()


register_generator("health", build_health, order=70)
