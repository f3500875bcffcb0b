"""Search parameter values and the query filters built from them.

Values: token ``[system]|[code]``, date with prefixes ``eq ne gt lt ge le`` at the precision given
(``2024``, ``2024-05``, ``2024-05-01``, or a full dateTime), reference ``[Type/]id``, string
(case-insensitive "contains"). A parameter's comma-separated values are alternatives (OR); the
same parameter repeated must hold for each (AND).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from smartcare.interop.fhir.errors import InvalidSearch
from smartcare.interop.fhir.registry import ParamKind, q_any

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str  # "": any code of the system


@dataclass(frozen=True)
class DateRange:
    prefix: str
    start: dt.datetime  # inclusive
    end: dt.datetime  # exclusive


@dataclass(frozen=True)
class Ref:
    resource_type: str  # "" when only an id was given
    id: str


def parse_token(text: str, parameter: str) -> Token:
    if not text:
        raise InvalidSearch(parameter=parameter, reason="empty value")
    if "|" in text:
        system, code = text.split("|", 1)
        return Token(system=system, code=code)
    return Token(system=None, code=text)


def parse_date(text: str, parameter: str) -> DateRange:
    prefix = "eq"
    if len(text) > 2 and text[:2] in (*PREFIXES, "sa", "eb", "ap") and not text[:2].isdigit():
        prefix, text = text[:2], text[2:]
    if prefix not in PREFIXES:
        raise InvalidSearch(
            parameter=parameter, reason=f"prefix {prefix} is not supported (use {', '.join(PREFIXES)})"
        )
    match = _DATE.match(text)
    if not match:
        raise InvalidSearch(parameter=parameter, reason=f"{text!r} is not a FHIR date")
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        if hour is not None:
            naive = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))  # noqa: DTZ001
            if zone:
                start = dt.datetime.fromisoformat(naive.isoformat() + ("+00:00" if zone == "Z" else zone))
            else:
                start = timezone.make_aware(naive)
            end = start + (dt.timedelta(seconds=1) if second is not None else dt.timedelta(minutes=1))
        elif day is not None:
            start = timezone.make_aware(dt.datetime(int(year), int(month), int(day)))  # noqa: DTZ001
            end = start + dt.timedelta(days=1)
        elif month is not None:
            start = timezone.make_aware(dt.datetime(int(year), int(month), 1))  # noqa: DTZ001
            end = timezone.make_aware(
                dt.datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1)  # noqa: DTZ001
            )
        else:
            start = timezone.make_aware(dt.datetime(int(year), 1, 1))  # noqa: DTZ001
            end = timezone.make_aware(dt.datetime(int(year) + 1, 1, 1))  # noqa: DTZ001
    except (ValueError, OverflowError):
        raise InvalidSearch(parameter=parameter, reason=f"{text!r} is not a valid date") from None
    return DateRange(prefix, start, end)


def parse_reference(text: str, parameter: str) -> Ref:
    if not text:
        raise InvalidSearch(parameter=parameter, reason="empty value")
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2:
        return Ref(parts[-2], parts[-1])
    return Ref("", parts[0])


def parse(kind: ParamKind, text: str, parameter: str) -> Any:
    if kind is ParamKind.TOKEN:
        return parse_token(text, parameter)
    if kind is ParamKind.DATE:
        return parse_date(text, parameter)
    if kind is ParamKind.REFERENCE:
        return parse_reference(text, parameter)
    if not text:
        raise InvalidSearch(parameter=parameter, reason="empty value")
    return text


# --- filter builders ------------------------------------------------------------------------------


def date_q(field_name: str, value: DateRange, *, is_date: bool = False) -> Q:
    start: Any = value.start
    end: Any = value.end
    if is_date:
        start = timezone.localtime(value.start).date()
        end_moment = timezone.localtime(value.end)
        end = (
            end_moment.date() if end_moment.time() == dt.time(0) else end_moment.date() + dt.timedelta(days=1)
        )
    if value.prefix == "eq":
        return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
    if value.prefix == "ne":
        return Q(**{f"{field_name}__lt": start}) | Q(**{f"{field_name}__gte": end})
    if value.prefix == "gt":
        return Q(**{f"{field_name}__gte": end})
    if value.prefix == "ge":
        return Q(**{f"{field_name}__gte": start})
    if value.prefix == "lt":
        return Q(**{f"{field_name}__lt": start})
    return Q(**{f"{field_name}__lt": end})  # le


def by_date(field_name: str, *, is_date: bool = False) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    def apply(rows: QuerySet[Any], values: list[DateRange]) -> QuerySet[Any]:
        return rows.filter(q_any([date_q(field_name, v, is_date=is_date) for v in values]))

    return apply


def by_token(
    field_name: str,
    systems: set[str] | frozenset[str] | str | None,
    *,
    transform: Callable[[str], Any] | None = None,
) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    """A field holding plain codes of one code system (or of no system: ``systems=None``)."""
    known = {systems} if isinstance(systems, str) else set(systems or ())

    def apply(rows: QuerySet[Any], values: list[Token]) -> QuerySet[Any]:
        conditions = []
        for token in values:
            if token.system not in (None, *known) and not (token.system == "" and not known):
                continue
            if not token.code:
                conditions.append(Q())
                continue
            code: Any = transform(token.code) if transform else token.code
            if code is None:
                continue
            conditions.append(Q(**{field_name: code}))
        return rows.filter(q_any(conditions))

    return apply


def by_system_code(system_field: str, code_field: str) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    """A pair of columns holding the coding's system and code."""

    def apply(rows: QuerySet[Any], values: list[Token]) -> QuerySet[Any]:
        conditions = []
        for token in values:
            condition = Q()
            if token.system is not None:
                condition &= Q(**{system_field: token.system})
            if token.code:
                condition &= Q(**{code_field: token.code})
            conditions.append(condition)
        return rows.filter(q_any(conditions))

    return apply


def by_reference(
    field_name: str, resource_types: tuple[str, ...], parse_id: Callable[[str], Any]
) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    def apply(rows: QuerySet[Any], values: list[Ref]) -> QuerySet[Any]:
        ids = []
        for ref in values:
            if ref.resource_type and ref.resource_type not in resource_types:
                continue
            pk = parse_id(ref.id)
            if pk is not None:
                ids.append(pk)
        return rows.filter(**{f"{field_name}__in": ids})

    return apply


def by_text(*field_names: str) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    def apply(rows: QuerySet[Any], values: list[str]) -> QuerySet[Any]:
        conditions = []
        for text in values:
            for name in field_names:
                conditions.append(Q(**{f"{name}__icontains": text}))
        return rows.filter(q_any(conditions))

    return apply


def by_choice(
    field_name: str, mapping: dict[str, Any]
) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    """A status-like token whose FHIR codes map to one or more stored values."""

    def apply(rows: QuerySet[Any], values: list[Token]) -> QuerySet[Any]:
        wanted: list[Any] = []
        for token in values:
            stored = mapping.get(token.code)
            if stored is None:
                continue
            wanted.extend(stored if isinstance(stored, (list, tuple)) else [stored])
        return rows.filter(**{f"{field_name}__in": wanted})

    return apply


def constant(value: str) -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    """A token that has one value for every row of the source (emr results are all ``final``)."""

    def apply(rows: QuerySet[Any], values: list[Token]) -> QuerySet[Any]:
        return rows if any(t.code == value or not t.code for t in values) else rows.none()

    return apply


def nothing() -> Callable[[QuerySet[Any], list[Any]], QuerySet[Any]]:
    def apply(rows: QuerySet[Any], values: list[Any]) -> QuerySet[Any]:
        return rows.none()

    return apply
