"""Validation of the 18-digit resident identity number (GB 11643-1999)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from smartcare.core.errors import InvalidInput

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCES = {
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
    "71",
    "81",
    "82",
    "91",
}


class InvalidResidentId(InvalidInput):
    code = "PAT-001"
    title = _("Invalid resident ID")
    message = _("The resident ID is not valid: %(reason)s")


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: dt.date
    sex: str  # "male" or "female"
    region: str


def check_digit(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_resident_id(value: str, *, today: dt.date | None = None) -> ResidentId:
    number = (value or "").strip().upper()
    if len(number) != 18:
        raise InvalidResidentId(field="national_id", reason=_("it must have 18 characters"))
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidResidentId(field="national_id", reason=_("only digits and a final X are allowed"))
    if number[:2] not in PROVINCES:
        raise InvalidResidentId(field="national_id", reason=_("the region code is unknown"))
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidResidentId(field="national_id", reason=_("the birth date is not a real date")) from None
    today = today or dt.date.today()  # noqa: DTZ011  (a date, compared with a birth date)
    if birth > today or birth.year < 1880:
        raise InvalidResidentId(field="national_id", reason=_("the birth date is out of range"))
    if check_digit(number[:17]) != number[17]:
        raise InvalidResidentId(field="national_id", reason=_("the check digit does not match"))
    return ResidentId(
        number=number, birth_date=birth, sex="male" if int(number[16]) % 2 else "female", region=number[:6]
    )


def make_resident_id(region: str, birth_date: dt.date, sequence: int, sex: str) -> str:
    """Build a valid number (for demo data and tests)."""
    seq = sequence % 1000
    if (seq % 2 == 1) != (sex == "male"):
        seq = (seq + 1) % 1000
    first17 = f"{region}{birth_date:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)
