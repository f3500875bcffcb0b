"""Threshold and rate-of-change rules on equipment telemetry (per device kind)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from smartcare.equipment.choices import DEFAULT_LIMITS, AlertRule, Limits, Severity


@dataclass(frozen=True)
class Breach:
    rule: str
    metric: str
    severity: str
    value: float
    limit: float
    detail: str


def limits_for(kind: str, metric: str) -> Limits:
    return DEFAULT_LIMITS.get(kind, {}).get(metric, Limits())


def threshold_breach(kind: str, metric: str, value: float) -> Breach | None:
    """Highs count at or above, lows below; the critical bound wins."""
    limits = limits_for(kind, metric)
    checks = (
        (limits.critical_high, Severity.CRITICAL, True),
        (limits.critical_low, Severity.CRITICAL, False),
        (limits.warning_high, Severity.WARNING, True),
        (limits.warning_low, Severity.WARNING, False),
    )
    for bound, severity, high in checks:
        if bound is None:
            continue
        if (high and value >= bound) or (not high and value < bound):
            sign = ">=" if high else "<"
            return Breach(
                AlertRule.THRESHOLD, metric, severity, value, bound, f"{metric} {value:g} {sign} {bound:g}"
            )
    return None


def rate_breach(
    kind: str,
    metric: str,
    previous: tuple[dt.datetime, float] | None,
    current: tuple[dt.datetime, float],
) -> Breach | None:
    """Change per minute since the previous reading beyond the kind's limit (a warning; twice the
    limit is critical). Readings further apart than an hour are not compared."""
    limits = limits_for(kind, metric)
    if previous is None or limits.rate is None:
        return None
    seconds = (current[0] - previous[0]).total_seconds()
    if seconds <= 0 or seconds > 3600:
        return None
    # Readings closer than a minute are compared as if a minute apart, so noise is not amplified.
    per_minute = (current[1] - previous[1]) / max(seconds / 60, 1.0)
    if abs(per_minute) < limits.rate:
        return None
    severity = Severity.CRITICAL if abs(per_minute) >= 2 * limits.rate else Severity.WARNING
    return Breach(
        AlertRule.RATE,
        metric,
        severity,
        round(per_minute, 3),
        limits.rate,
        f"{metric} {per_minute:+.2f}/min (limit {limits.rate:g}/min)",
    )
