"""Differentially private exploration: means and histograms of one measure over the lake.

The privacy unit is the patient: each patient contributes at most one value (their age, or their
latest value of a lab test or vital sign), so adding or removing one patient changes the data set
by one row, which is what OpenDP's symmetric distance of 1 describes. Values are clamped to the
bounds the user gives (the bounds are public: choose them from clinical knowledge, not from the
data). Patients who withdrew research consent are left out; a saved cohort restricts the
population to its members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from smartcare.core import clock
from smartcare.research import privacy
from smartcare.research.errors import PrivacyQueryInvalid

_CODE = re.compile(r"^[A-Za-z0-9:._-]{1,60}$")
VITAL_KINDS = ("bp", "hr", "temp", "spo2", "weight", "height", "rr")
MEASURES = (
    ("age", _("Age today (years)")),
    ("lab", _("Latest lab value (LOINC or test code)")),
    ("vital", _("Latest vital sign")),
)
STATISTICS = (("mean", _("Mean")), ("histogram", _("Histogram")))


@dataclass(frozen=True)
class Measure:
    kind: str  # age / lab / vital
    code: str = ""

    def label(self) -> str:
        return self.kind if not self.code else f"{self.kind}:{self.code}"


def parse_measure(kind: Any, code: Any = "") -> Measure:
    kind = str(kind or "").strip()
    code = str(code or "").strip()
    if kind == "age":
        return Measure("age")
    if kind == "lab" and _CODE.match(code):
        return Measure("lab", code)
    if kind == "vital" and code in VITAL_KINDS:
        return Measure("vital", code)
    raise PrivacyQueryInvalid(reason="measure", field="measure")


def values(measure: Measure, *, keys: set[str] | None = None, con: Any = None) -> list[float]:
    """One value per patient (privacy unit), consent withdrawals excluded."""
    import pyarrow as pa

    from smartcare.research.consent import withdrawn_patient_ids
    from smartcare.research.lake import connect, person_keys

    connection = con or connect()
    withdrawn = sorted(person_keys(withdrawn_patient_ids()))
    connection.register("explore_withdrawn", pa.table({"k": pa.array(withdrawn, pa.string())}))
    restrict = ""
    if keys is not None:
        connection.register("explore_keys", pa.table({"k": pa.array(sorted(keys), pa.string())}))
        restrict = " AND person_key IN (SELECT k FROM explore_keys)"
    not_withdrawn = " AND person_key NOT IN (SELECT k FROM explore_withdrawn)"
    if measure.kind == "age":
        today = clock.today().isoformat()
        sql = (
            f"SELECT date_diff('year', birth_date, DATE '{today}') - "  # noqa: S608 (a date we made)
            f"CASE WHEN strftime(birth_date, '%m%d') > '{today[5:7]}{today[8:10]}' THEN 1 ELSE 0 END "
            f"FROM persons WHERE birth_date IS NOT NULL{not_withdrawn}{restrict}"
        )
        rows = connection.execute(sql).fetchall()
    else:
        table, column, time = (
            ("labs", "code", "observed_at") if measure.kind == "lab" else ("vitals", "kind", "measured_at")
        )
        sql = (
            f"SELECT arg_max(value, {time}) FROM {table} "  # noqa: S608 (fixed names)
            f"WHERE {column} = ? AND value IS NOT NULL{not_withdrawn}{restrict} GROUP BY person_key"
        )
        rows = connection.execute(sql, [measure.code]).fetchall()
    return [float(r[0]) for r in rows if r[0] is not None]


def explore(
    user: Any,
    *,
    measure: Measure,
    statistic: str,
    lower: Any,
    upper: Any,
    bins: Any = 10,
    purpose: str,
    project: Any = None,
    keys: set[str] | None = None,
) -> privacy.Release:
    """Release a DP mean or histogram of ``measure``, charged to the user's budget."""
    if statistic not in ("mean", "histogram"):
        raise PrivacyQueryInvalid(reason="statistic", field="statistic")
    try:
        lo, hi = float(lower), float(upper)
    except (TypeError, ValueError):
        raise PrivacyQueryInvalid(reason="bounds", field="bounds") from None
    if not purpose or not str(purpose).strip():
        raise PrivacyQueryInvalid(reason="purpose", field="purpose")
    if statistic == "histogram":
        try:
            count = int(bins)
        except (TypeError, ValueError):
            raise PrivacyQueryInvalid(reason="bins", field="bins") from None
        if not 1 <= count <= 50:
            raise PrivacyQueryInvalid(reason="bins", field="bins")
    if lo >= hi:
        raise PrivacyQueryInvalid(reason="bounds", field="bounds")
    data = values(measure, keys=keys)
    label = f"{purpose} [{measure.label()}]"[:200]
    if statistic == "mean":
        return privacy.release_mean(
            user=user, project=project, values=data, lower=lo, upper=hi, purpose=label
        )
    return privacy.release_histogram(
        user=user, project=project, values=data, lower=lo, upper=hi, bins=count, purpose=label
    )
