"""The scenario format: what a manager wants to change, as JSON or YAML.

Every field is optional; an empty scenario is the current setup. Unknown fields are refused so
that a misspelt change does not silently simulate the current setup::

    name: "20-minute slots and a second Monday-morning doctor"
    slot_minutes: 20                 # every session's slot length (5-120)
    capacity_per_slot: 3             # patients booked per slot (1-20)
    extra_sessions:                  # extra doctors on given weekday sessions
      - {weekday: monday, period: morning, doctors: 1}
    check_in:
      opens_minutes: 30              # phone check-in opens this long before the booked time (0-240)
      late_grace_minutes: 10         # later than this after the booked time counts as late (0-120)
      kiosks: 3                      # self-service kiosks serving the department's clinic (0-50)
      desks: 1                       # staffed check-in desks (0-20)
    demand_change_percent: 10        # more (or fewer, negative) booked patients (-90 .. 200)
    consultation_change_percent: -5  # longer or shorter consultations (-80 .. 200)
    doctor_start_delay_minutes: 0    # doctors start on time (replaces the measured delay) (-30 .. 120)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from smartcare.simulation.errors import InvalidScenario, InvalidScenarioFile

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIODS = ("morning", "afternoon", "evening")
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExtraSession:
    weekday: int  # 0 = Monday
    period: str
    doctors: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str = ""
    slot_minutes: int | None = None
    capacity_per_slot: int | None = None
    extra_sessions: tuple[ExtraSession, ...] = field(default_factory=tuple)
    opens_minutes: int | None = None
    late_grace_minutes: int | None = None
    kiosks: int | None = None
    desks: int | None = None
    demand_change_percent: float = 0.0
    consultation_change_percent: float = 0.0
    doctor_start_delay_minutes: float | None = None

    @property
    def is_current(self) -> bool:
        return self == Scenario(name=self.name)

    def as_dict(self) -> dict[str, Any]:
        """The scenario in its file format (only what it changes)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        for key in ("slot_minutes", "capacity_per_slot"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.extra_sessions:
            out["extra_sessions"] = [
                {**asdict(e), "weekday": WEEKDAYS[e.weekday]} for e in self.extra_sessions
            ]
        check_in = {
            key: getattr(self, key)
            for key in ("opens_minutes", "late_grace_minutes", "kiosks", "desks")
            if getattr(self, key) is not None
        }
        if check_in:
            out["check_in"] = check_in
        for key in ("demand_change_percent", "consultation_change_percent"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.doctor_start_delay_minutes is not None:
            out["doctor_start_delay_minutes"] = self.doctor_start_delay_minutes
        return out


TOP_KEYS = {
    "name",
    "slot_minutes",
    "capacity_per_slot",
    "extra_sessions",
    "check_in",
    "demand_change_percent",
    "consultation_change_percent",
    "doctor_start_delay_minutes",
    "description",
}
CHECK_IN_KEYS = {"opens_minutes", "late_grace_minutes", "kiosks", "desks"}
EXTRA_KEYS = {"weekday", "period", "doctors"}


def _number(value: Any, where: str, low: float, high: float, *, integer: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidScenario(where=where, problem="a number is expected")
    if integer and (isinstance(value, float) and not value.is_integer()):
        raise InvalidScenario(where=where, problem="a whole number is expected")
    if not low <= value <= high:
        raise InvalidScenario(where=where, problem=f"must be between {low:g} and {high:g}")
    return int(value) if integer else float(value)


def _weekday(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower())
    raise InvalidScenario(where=where, problem="a weekday name (monday ... sunday) or 0-6 is expected")


def from_data(data: Any) -> Scenario:
    """Check a parsed scenario and build it; raises SIM-012 naming the first bad field."""
    if data is None:
        return Scenario()
    if not isinstance(data, dict):
        raise InvalidScenario(where="(top)", problem="a mapping of fields is expected")
    unknown = sorted(set(map(str, data)) - TOP_KEYS)
    if unknown:
        raise InvalidScenario(where=unknown[0], problem="unknown field")
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidScenario(where="name", problem="text of at most 200 characters is expected")
    values: dict[str, Any] = {"name": name.strip()}
    if data.get("slot_minutes") is not None:
        values["slot_minutes"] = _number(data["slot_minutes"], "slot_minutes", 5, 120, integer=True)
    if data.get("capacity_per_slot") is not None:
        values["capacity_per_slot"] = _number(
            data["capacity_per_slot"], "capacity_per_slot", 1, 20, integer=True
        )
    extras = data.get("extra_sessions") or []
    if not isinstance(extras, list) or len(extras) > 30:
        raise InvalidScenario(where="extra_sessions", problem="a list of at most 30 entries is expected")
    sessions = []
    for n, extra in enumerate(extras):
        where = f"extra_sessions[{n}]"
        if not isinstance(extra, dict):
            raise InvalidScenario(where=where, problem="a mapping is expected")
        unknown = sorted(set(map(str, extra)) - EXTRA_KEYS)
        if unknown:
            raise InvalidScenario(where=f"{where}.{unknown[0]}", problem="unknown field")
        period = extra.get("period")
        if period not in PERIODS:
            raise InvalidScenario(
                where=f"{where}.period", problem="morning, afternoon or evening is expected"
            )
        sessions.append(
            ExtraSession(
                weekday=_weekday(extra.get("weekday"), f"{where}.weekday"),
                period=str(period),
                doctors=_number(extra.get("doctors", 1), f"{where}.doctors", 1, 10, integer=True),
            )
        )
    values["extra_sessions"] = tuple(sessions)
    check_in = data.get("check_in") or {}
    if not isinstance(check_in, dict):
        raise InvalidScenario(where="check_in", problem="a mapping is expected")
    unknown = sorted(set(map(str, check_in)) - CHECK_IN_KEYS)
    if unknown:
        raise InvalidScenario(where=f"check_in.{unknown[0]}", problem="unknown field")
    limits = {"opens_minutes": 240, "late_grace_minutes": 120, "kiosks": 50, "desks": 20}
    for key, high in limits.items():
        if check_in.get(key) is not None:
            values[key] = _number(check_in[key], f"check_in.{key}", 0, high, integer=True)
    if values.get("kiosks") == 0 and values.get("desks") == 0:
        raise InvalidScenario(where="check_in", problem="at least one kiosk or desk is needed")
    if data.get("demand_change_percent") is not None:
        values["demand_change_percent"] = _number(
            data["demand_change_percent"], "demand_change_percent", -90, 200, integer=False
        )
    if data.get("consultation_change_percent") is not None:
        values["consultation_change_percent"] = _number(
            data["consultation_change_percent"], "consultation_change_percent", -80, 200, integer=False
        )
    if data.get("doctor_start_delay_minutes") is not None:
        values["doctor_start_delay_minutes"] = _number(
            data["doctor_start_delay_minutes"], "doctor_start_delay_minutes", -30, 120, integer=False
        )
    return Scenario(**values)


def parse(text: str | bytes) -> Scenario:
    """Parse a scenario file (JSON or YAML). SIM-011 when it cannot be read, SIM-012 when a field is bad."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise InvalidScenarioFile(problem="the file is larger than 64 KB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidScenarioFile(problem="the file is not UTF-8 text") from exc
    if len(text) > MAX_BYTES:
        raise InvalidScenarioFile(problem="the file is larger than 64 KB")
    stripped = text.strip()
    try:
        data = json.loads(stripped) if stripped.startswith(("{", "[")) else yaml.safe_load(stripped)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidScenarioFile(problem=str(exc).splitlines()[0][:200]) from exc
    return from_data(data)
