"""What the patient is told when an alert is raised: short, actionable, in plain words.

Texts follow common home-monitoring advice (re-measure after rest, fast sugar for hypoglycaemia,
call 120 for red-flag symptoms). The care team may give more specific advice in the follow-up.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from smartcare.monitoring.choices import AlertDirection, AlertRule, AlertSeverity, MeasurementKind

K = MeasurementKind
C, W = AlertSeverity.CRITICAL, AlertSeverity.WARNING
HIGH, LOW = AlertDirection.HIGH, AlertDirection.LOW

_THRESHOLD_ADVICE: dict[tuple[str, str, str], Any] = {
    (K.BLOOD_PRESSURE, C, HIGH): _(
        "Your blood pressure is very high. Sit down, rest for 5 minutes and measure again. If it "
        "stays at or above 180/110, or you have chest pain, a severe headache, shortness of breath, "
        "weakness or trouble speaking, call 120 now. Your doctor has been told."
    ),
    (K.BLOOD_PRESSURE, W, HIGH): _(
        "Your blood pressure is above your target. Rest, take your medicines as prescribed and "
        "measure again later today. Your doctor has been told."
    ),
    (K.BLOOD_PRESSURE, W, LOW): _(
        "Your blood pressure is low. Sit or lie down, drink some water and stand up slowly. If you "
        "feel faint, call your doctor."
    ),
    (K.GLUCOSE, C, LOW): _(
        "Your blood sugar is dangerously low. Take 15 g of fast sugar now (half a glass of juice, 3 "
        "sugar cubes or glucose tablets) and measure again in 15 minutes. If you feel confused or "
        "cannot swallow, someone must call 120."
    ),
    (K.GLUCOSE, W, LOW): _(
        "Your blood sugar is low. Take 15 g of fast sugar and measure again in 15 minutes; eat a "
        "snack once it is above 3.9 mmol/L."
    ),
    (K.GLUCOSE, C, HIGH): _(
        "Your blood sugar is very high. Drink water and measure again. If you are very thirsty, "
        "vomiting or drowsy, go to the emergency department now. Your doctor has been told."
    ),
    (K.GLUCOSE, W, HIGH): _(
        "Your blood sugar is high. Keep to your diet and medicines and measure again before your next meal."
    ),
    (K.SPO2, C, LOW): _(
        "Your oxygen level is low. Sit upright, rest and measure again with warm hands. If it stays "
        "below 90%, or if you are short of breath, call 120 now."
    ),
    (K.SPO2, W, LOW): _(
        "Your oxygen level is lower than normal. Rest and measure again; tell your doctor if you "
        "feel short of breath."
    ),
    (K.HEART_RATE, C, HIGH): _(
        "Your heart rate is very fast. Sit down and rest. If you feel chest pain, dizziness or "
        "shortness of breath, call 120 now."
    ),
    (K.HEART_RATE, W, HIGH): _("Your heart rate is fast. Rest for 10 minutes and measure again."),
    (K.HEART_RATE, C, LOW): _(
        "Your heart rate is very slow. If you feel faint, dizzy or short of breath, call 120 now."
    ),
    (K.HEART_RATE, W, LOW): _(
        "Your heart rate is slow. If you feel dizzy or tired, tell your doctor; bring your list of medicines."
    ),
}
_TREND_ADVICE: dict[str, Any] = {
    K.BLOOD_PRESSURE: _(
        "Your blood pressure has gone up three days in a row. Keep measuring morning and evening "
        "and take your medicines; your doctor will review it."
    ),
    K.GLUCOSE: _(
        "Your blood sugar has gone up three days in a row. Check your diet and medicines; your "
        "doctor will review it."
    ),
    K.WEIGHT: _(
        "Your weight has gone up quickly over three days. This can be fluid: limit salt and "
        "drinks as advised, and tell your doctor about swollen ankles or breathlessness."
    ),
    K.SPO2: _(
        "Your oxygen level has gone down three days in a row. Rest, and tell your doctor if you "
        "are more short of breath."
    ),
}
_GENERIC = _("A reading needs attention. Your doctor has been told and will contact you if needed.")


def patient_advice(kind: str, rule: str, severity: str, direction: str) -> Any:
    if rule == AlertRule.TREND:
        return _TREND_ADVICE.get(kind, _GENERIC)
    return _THRESHOLD_ADVICE.get((kind, severity, direction), _GENERIC)
