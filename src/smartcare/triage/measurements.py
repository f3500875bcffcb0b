"""Numbers patients type: blood pressure (150/95, 200 over 130, 高压180), blood sugar (血糖2.8,
"sugar 25") and temperature (38.5度, 39°C, "102F"), read into the graph's findings.

Thresholds follow the usual guideline cut-offs: blood pressure 140/90 high and 180/120 very
high (hypertensive crisis), below 90 systolic low; blood glucose below 3.9 mmol/L low, 7.0 and
above high, 16.7 and above very high (mg/dL readings above 40 are converted); body temperature
37.3 °C and above is a fever (Fahrenheit converted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BP_CONTEXT = r"(?:血压|高压|bp|blood\s*pressure|pressure)"
BP = re.compile(
    BP_CONTEXT + r"[^0-9\n]{0,24}?(\d{2,3})\s*(?:/|over|／|\\)\s*(\d{2,3})"
    r"|(?<![\d/])(\d{2,3})\s*(?:/|／)\s*(\d{2,3})(?![\d/])",
    re.IGNORECASE,
)
SYSTOLIC_ONLY = re.compile(r"高压\s*(?:有|到|是)?\s*(\d{2,3})", re.IGNORECASE)
GLUCOSE = re.compile(
    r"(?:血糖|sugar|glucose|bg)[^0-9\n]{0,10}?(\d{1,3}(?:\.\d)?)\s*(mmol|mg)?", re.IGNORECASE
)
TEMPERATURE = re.compile(
    r"(\d{2,3}(?:\.\d{1,2})?)\s*(?:度|℃|°\s*c|°|c\b|摄氏度|degrees?\s*c?)|(\d{2,3}(?:\.\d)?)\s*(?:°\s*f|f\b|degrees?\s*f)",
    re.IGNORECASE,
)
FEVER_CONTEXT = re.compile(r"烧|热|体温|temp|fever|hot|发热", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    finding: str
    start: int
    end: int
    surface: str


def readings(text: str) -> list[Reading]:
    found: list[Reading] = []
    for match in BP.finditer(text):
        systolic = int(match.group(1) or match.group(3))
        diastolic = int(match.group(2) or match.group(4))
        if not (60 <= systolic <= 300 and 30 <= diastolic <= 200 and 15 <= systolic - diastolic <= 150):
            continue  # 3/4 of the way, dates and doses are not blood pressure
        found.extend(_bp(systolic, diastolic, match))
    for match in SYSTOLIC_ONLY.finditer(text):
        if not any(r.start <= match.start() < r.end for r in found):
            found.extend(_bp(int(match.group(1)), 0, match))
    for match in GLUCOSE.finditer(text):
        value = float(match.group(1))
        if (match.group(2) or "").lower() == "mg" or value > 40:
            value = value / 18.0  # mg/dL
        finding = (
            "sign:low_blood_glucose" if value < 3.9
            else "sign:very_high_blood_glucose" if value >= 16.7
            else "sign:high_blood_glucose" if value >= 7.0
            else ""
        )  # fmt: skip
        if finding:
            found.append(Reading(finding, match.start(), match.end(), match.group()))
    for match in TEMPERATURE.finditer(text):
        celsius = float(match.group(1)) if match.group(1) else (float(match.group(2)) - 32) * 5 / 9
        window = text[max(0, match.start() - 12) : match.end() + 4]
        plausible = 35.0 <= celsius <= 43.0 and (FEVER_CONTEXT.search(window) or celsius >= 37.5)
        if plausible and celsius >= 37.3:
            found.append(Reading("symptom:fever", match.start(), match.end(), match.group()))
    return found


def _bp(systolic: int, diastolic: int, match: re.Match[str]) -> list[Reading]:
    if systolic >= 180 or diastolic >= 120:
        keys = ["sign:severely_elevated_bp", "sign:high_blood_pressure_reading"]
    elif systolic >= 140 or diastolic >= 90:
        keys = ["sign:high_blood_pressure_reading"]
    elif 0 < systolic < 90:
        keys = ["sign:low_blood_pressure"]
    else:
        return []
    return [Reading(key, match.start(), match.end(), match.group()) for key in keys]
