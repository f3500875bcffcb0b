"""The 18-character resident identity number (GB 11643-1999): check digit, region, birth date, sex."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import translation

from smartcare.patients.resident_id import InvalidResidentId, check_digit, make_resident_id, parse_resident_id

TODAY = dt.date(2026, 11, 25)
# ISO 7064 MOD 11-2, written out here independently of the code under test.
WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """The reasons are checked in English (the default language is Chinese)."""
    with translation.override("en"):
        yield


def expected_check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def complete(first17: str) -> str:
    return first17 + expected_check(first17)


def first17_with_check_x() -> str:
    for sequence in range(1000):
        first17 = f"11010519491231{sequence:03d}"
        if expected_check(first17) == "X":
            return first17
    raise AssertionError("no sequence gives X")


def test_weights_are_the_standard_ones() -> None:
    assert WEIGHTS == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


@pytest.mark.parametrize(
    ("number", "birth", "sex", "region"),
    [
        ("11010519491231002X", dt.date(1949, 12, 31), "female", "110105"),  # the standard's own example
        (complete("44030419850704123"), dt.date(1985, 7, 4), "male", "440304"),
        (complete("31010420000229004"), dt.date(2000, 2, 29), "female", "310104"),  # leap day
        (complete("65010218800101001"), dt.date(1880, 1, 1), "male", "650102"),  # oldest accepted year
        (complete("81000020261125002"), TODAY, "female", "810000"),  # born today (Hong Kong region)
    ],
)
def test_valid_numbers(number: str, birth: dt.date, sex: str, region: str) -> None:
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.number == number
    assert parsed.birth_date == birth
    assert parsed.sex == sex
    assert parsed.region == region


def test_check_digit_x() -> None:
    first17 = first17_with_check_x()
    assert check_digit(first17) == "X"
    parsed = parse_resident_id(first17 + "X", today=TODAY)
    assert parsed.number.endswith("X")
    # A lower-case x and surrounding spaces are accepted and normalised.
    assert parse_resident_id(f"  {first17}x ", today=TODAY).number == first17 + "X"


def test_check_digit_matches_independent_computation() -> None:
    for n in range(200):
        first17 = f"3201021990{n % 12 + 1:02d}{n % 28 + 1:02d}{n:03d}"
        assert check_digit(first17) == expected_check(first17)


def test_sex_follows_the_seventeenth_digit() -> None:
    for digit in range(10):
        parsed = parse_resident_id(complete(f"3101041980051700{digit}"), today=TODAY)
        assert parsed.sex == ("male" if digit % 2 else "female")


def test_made_numbers_are_valid_and_carry_the_sex() -> None:
    for sequence in range(0, 60, 7):
        for sex in ("male", "female"):
            number = make_resident_id("510104", dt.date(1972, 10, 3), sequence, sex)
            parsed = parse_resident_id(number, today=TODAY)
            assert (parsed.sex, parsed.birth_date, parsed.region) == (sex, dt.date(1972, 10, 3), "510104")


def assert_invalid(number: str, reason: str) -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id(number, today=TODAY)
    error = caught.value
    assert error.code == "PAT-001"
    assert error.status == 400
    assert error.field == "national_id"
    assert reason in error.detail, error.detail


@pytest.mark.parametrize(
    "number",
    ["", "   ", "11010519491231002", "11010519491231002X1", "110105194912310", "1101051949123100X"],
)
def test_wrong_length(number: str) -> None:
    assert_invalid(number, "18")


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002A",  # only X may end it
        "1101051949123100X2",  # X only at the end
        "11O10519491231002X",  # letter O for zero
        "110105-9491231002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    ],
)
def test_letters_and_symbols(number: str) -> None:
    assert_invalid(number, "digits")


@pytest.mark.parametrize("region", ["00", "10", "19", "20", "39", "66", "72", "80", "90", "99"])
def test_unknown_region(region: str) -> None:
    assert_invalid(complete(f"{region}010519800517002"), "region")


@pytest.mark.parametrize(
    "birth",
    ["19900230", "19990229", "19801301", "19800001", "19800100", "19800431", "21000229"],
)
def test_impossible_dates(birth: str) -> None:
    assert_invalid(complete(f"310104{birth}002"), "not a real date")


@pytest.mark.parametrize("birth", ["20261126", "20270101", "29991231", "18791231", "10000101"])
def test_birth_out_of_range(birth: str) -> None:
    assert_invalid(complete(f"310104{birth}002"), "out of range")


def test_future_birth_uses_the_real_date_by_default() -> None:
    next_year = dt.date.today().year + 1  # noqa: DTZ011
    with pytest.raises(InvalidResidentId):
        parse_resident_id(complete(f"310104{next_year}0101002"))


BASE17 = "44030419850704123"


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != expected_check(BASE17)])
def test_wrong_check_digit(wrong: str) -> None:
    assert_invalid(BASE17 + wrong, "check digit")


def test_swapped_digits_are_caught() -> None:
    good = complete(BASE17)
    swapped = good[:14] + good[15] + good[14] + good[16:]
    assert swapped != good
    assert_invalid(swapped, "check digit")


def test_reason_is_translated() -> None:
    with pytest.raises(InvalidResidentId) as caught:
        parse_resident_id("123", today=TODAY)
    # The message follows the language active when it is shown, not when it was raised.
    with translation.override("zh-hans"):
        chinese = caught.value.detail
    assert "18" in chinese
    assert "characters" not in chinese
    assert "characters" in caught.value.detail


def test_errors_are_checked_in_order() -> None:
    """A number with several problems reports the first one a clerk would look at."""
    assert_invalid("0001051990023000", "18")  # short, bad region and date: length first
    assert_invalid("00010519900230001A", "digits")
    assert_invalid(complete("00010519900230001"), "region")
    assert_invalid("31010419900230001" + "0", "not a real date")
