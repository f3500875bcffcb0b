"""Plain-language explanations of common tests, for patients reading their own results.

Each entry says what the test measures and what a high or a low value often means, in words a
patient understands, without a diagnosis: the doctor interprets the result for this patient.
Keyed by LOINC code; tests without an entry get a general explanation built from the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from smartcare.emr.choices import ObservationFlag


@dataclass(frozen=True)
class Explanation:
    about: Promise
    high: Promise
    low: Promise


_GLUCOSE = Explanation(
    _("Blood sugar (glucose) is the main fuel of the body."),
    _(
        "A high blood sugar can be a sign of diabetes or of poorly controlled diabetes; it also rises after a meal or under stress."
    ),
    _(
        "A low blood sugar can cause shakiness, sweating and confusion; it can follow fasting or too much diabetes medicine."
    ),
)

EXPLANATIONS: dict[str, Explanation] = {
    "2345-7": _GLUCOSE,
    "1558-6": _GLUCOSE,
    "1554-5": _GLUCOSE,
    "1553-5": _GLUCOSE,
    "4548-4": Explanation(
        _("HbA1c shows your average blood sugar over the last two to three months."),
        _(
            "A high HbA1c means blood sugar has been high for weeks; it is used to diagnose and follow diabetes."
        ),
        _("A low HbA1c is uncommon; it can come with anaemia, blood loss or frequent low blood sugar."),
    ),
    "2160-0": Explanation(
        _("Creatinine is a waste product that the kidneys remove from the blood."),
        _(
            "A high creatinine can mean the kidneys are not filtering as well as they should; dehydration and some medicines also raise it."
        ),
        _("A low creatinine is usually harmless; it is seen with low muscle mass."),
    ),
    "3094-0": Explanation(
        _("Urea nitrogen is a waste product removed by the kidneys."),
        _("A high value can mean dehydration, a high-protein diet or reduced kidney function."),
        _("A low value is usually harmless; it can come with a low-protein diet or liver problems."),
    ),
    "2823-3": Explanation(
        _("Potassium is a salt that keeps the heart and muscles working normally."),
        _("A high potassium can disturb the heart rhythm; kidney problems and some medicines can cause it."),
        _(
            "A low potassium can cause weakness, cramps and an irregular heartbeat; vomiting, diarrhoea and water pills can cause it."
        ),
    ),
    "2951-2": Explanation(
        _("Sodium is a salt that keeps the body's water in balance."),
        _("A high sodium usually means the body is short of water."),
        _(
            "A low sodium can cause tiredness, headache and confusion; some medicines and drinking a lot of water can cause it."
        ),
    ),
    "718-7": Explanation(
        _("Haemoglobin carries oxygen in the red blood cells."),
        _(
            "A high haemoglobin can come with dehydration, smoking, living at altitude or some blood conditions."
        ),
        _(
            "A low haemoglobin (anaemia) can make you tired and short of breath; iron deficiency and blood loss are common causes."
        ),
    ),
    "6690-2": Explanation(
        _("White blood cells fight infection."),
        _(
            "A high count often comes with an infection or inflammation; stress and some medicines also raise it."
        ),
        _("A low count can make infections more likely; some viral infections and medicines lower it."),
    ),
    "777-3": Explanation(
        _("Platelets help the blood to clot."),
        _("A high count can follow an infection, inflammation or iron deficiency."),
        _("A low count can make bruising and bleeding easier."),
    ),
    "1742-6": Explanation(
        _("ALT is an enzyme found mainly in the liver."),
        _(
            "A high ALT can mean the liver is irritated or inflamed, for example by fat, alcohol, a virus or a medicine."
        ),
        _("A low ALT is not a concern."),
    ),
    "1920-8": Explanation(
        _("AST is an enzyme found in the liver, heart and muscles."),
        _("A high AST can come from the liver or from muscles, for example after heavy exercise."),
        _("A low AST is not a concern."),
    ),
    "2093-3": Explanation(
        _("Total cholesterol is a fat carried in the blood."),
        _(
            "A high cholesterol raises the long-term risk of heart disease and stroke; diet, exercise and medicines can lower it."
        ),
        _("A low cholesterol is rarely a problem."),
    ),
    "13457-7": Explanation(
        _("LDL cholesterol is the 'bad' cholesterol that can build up in the arteries."),
        _(
            "A high LDL raises the risk of heart attack and stroke; it is one of the main targets of treatment."
        ),
        _("A low LDL is generally good for the heart."),
    ),
    "2085-9": Explanation(
        _("HDL cholesterol is the 'good' cholesterol that helps clear fat from the arteries."),
        _("A high HDL is generally good for the heart."),
        _("A low HDL raises the risk of heart disease; exercise and not smoking help raise it."),
    ),
    "2571-8": Explanation(
        _("Triglycerides are fats in the blood that come from food."),
        _(
            "High triglycerides are linked to heart disease and diabetes; a meal before the test can also raise them."
        ),
        _("Low triglycerides are not a concern."),
    ),
    "3016-3": Explanation(
        _("TSH is the signal from the brain that tells the thyroid gland how hard to work."),
        _("A high TSH often means the thyroid is underactive."),
        _("A low TSH often means the thyroid is overactive."),
    ),
    "1988-5": Explanation(
        _("C-reactive protein (CRP) rises when there is inflammation in the body."),
        _("A high CRP suggests an infection or inflammation somewhere in the body."),
        _("A low CRP is normal."),
    ),
    "6598-7": Explanation(
        _("Troponin is released when the heart muscle is damaged."),
        _(
            "A high troponin can mean strain or damage to the heart muscle and needs prompt medical attention."
        ),
        _("A low troponin is normal."),
    ),
    "3084-1": Explanation(
        _("Uric acid is a waste product of the body's breakdown of purines."),
        _("A high uric acid can cause gout and kidney stones."),
        _("A low uric acid is usually not a concern."),
    ),
    "33762-6": Explanation(
        _("NT-proBNP is released by the heart when it is under strain."),
        _("A high value can be a sign of heart failure and should be discussed with your doctor."),
        _("A low value is normal."),
    ),
    "5902-2": Explanation(
        _("Prothrombin time measures how long blood takes to clot."),
        _("A long clotting time can come with blood thinners or liver problems; bleeding may be easier."),
        _("A short clotting time is rarely a problem."),
    ),
    "9318-7": Explanation(
        _("The urine albumin-to-creatinine ratio looks for protein leaking into the urine."),
        _(
            "A high value can be an early sign of kidney damage, for example from diabetes or high blood pressure."
        ),
        _("A low value is normal."),
    ),
}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def explain(observation: Any) -> str:
    """One or two sentences for a flagged result (empty for a normal one)."""
    flag = observation.flag or ""
    if not flag:
        return ""
    entry = EXPLANATIONS.get(observation.code)
    high = flag in (ObservationFlag.HIGH, ObservationFlag.CRITICAL_HIGH)
    low = flag in (ObservationFlag.LOW, ObservationFlag.CRITICAL_LOW)
    parts: list[str] = []
    if entry is not None:
        parts.append(str(entry.about))
        if high:
            parts.append(str(entry.high))
        elif low:
            parts.append(str(entry.low))
    if entry is None or not (high or low):
        low_text, high_text = _number(observation.reference_low), _number(observation.reference_high)
        usual = f"{low_text}–{high_text}" if low_text and high_text else (low_text or high_text)
        if high and usual:
            parts.append(
                gettext("Your %(name)s is above the usual range (%(range)s %(unit)s).")
                % {"name": observation.name, "range": usual, "unit": observation.unit}
            )
        elif low and usual:
            parts.append(
                gettext("Your %(name)s is below the usual range (%(range)s %(unit)s).")
                % {"name": observation.name, "range": usual, "unit": observation.unit}
            )
        else:
            parts.append(
                gettext("The laboratory marked your %(name)s as outside the usual range.")
                % {"name": observation.name}
            )
    if flag in (ObservationFlag.CRITICAL_HIGH, ObservationFlag.CRITICAL_LOW):
        parts.append(gettext("This value is far outside the usual range; your doctor has been told."))
    else:
        parts.append(
            gettext(
                "One result alone rarely tells the whole story: your doctor will explain what it means for you."
            )
        )
    return " ".join(parts)
