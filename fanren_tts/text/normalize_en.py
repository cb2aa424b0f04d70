"""English text normalization: numbers, money, dates, times, units and abbreviations written out.

``num2words`` reads the numbers (cardinals, ordinals, years); the rules here decide
which reading a number gets from what surrounds it, in one pass (``rules.Rules``):
``$3.50`` is "three dollars and fifty cents", ``3/5/2024`` "March fifth, twenty
twenty-four", ``3:30`` "three thirty", ``5 p.m.`` "five p m", ``Dr. Smith``
"Doctor Smith", ``in 1999`` "in nineteen ninety-nine", ``22nd`` "twenty-second",
``5 km`` "five kilometers", ``45%`` "forty-five percent". Dates are read month
first (US order). American style: no "and" inside numbers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .rules import Rule, Rules

__all__ = ["cardinal", "normalizer", "ordinal", "rules", "year"]

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBR = {m[:3]: m for m in _MONTHS} | {"Sept": "September"}
_MONTH = "|".join(_MONTHS)
_DIGIT_NAMES = "zero one two three four five six seven eight nine".split()

#: unit -> (singular, plural)
_UNITS: dict[str, tuple[str, str]] = {
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "mi": ("mile", "miles"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "L": ("liter", "liters"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"),
    "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "℃": ("degree Celsius", "degrees Celsius"),
}
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
#: symbol -> (major singular, major plural, minor singular, minor plural)
_CURRENCY = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
    "￥": ("yen", "yen", "sen", "sen"),
}
_ABBREVIATIONS = {
    "Dr.": "Doctor",
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "Prof.": "Professor",
    "Jr.": "Junior",
    "Sr.": "Senior",
    "Mt.": "Mount",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "vs.": "versus",
    "approx.": "approximately",
    "a.m.": "a m",
    "p.m.": "p m",
}
#: Words after which a four-digit number is a year ("in 1999"; "1999 people" stays a count).
_YEAR_BEFORE = r"\b(?:[Ii]n|[Ss]ince|[Bb]y|[Uu]ntil|[Ff]rom|to|of|year|circa|[Bb]efore|[Aa]fter|between|and|[Ii]n early|[Ii]n late)"


@lru_cache(maxsize=1)
def _num2words() -> Any:
    from num2words import num2words

    return num2words


def cardinal(number: int) -> str:
    """42 -> "forty-two"; 1234 -> "one thousand two hundred thirty-four" (no "and")."""
    return str(_num2words()(number)).replace(",", "").replace(" and ", " ")


def ordinal(number: int) -> str:
    return str(_num2words()(number, to="ordinal")).replace(",", "").replace(" and ", " ")


def year(number: int) -> str:
    """1999 -> "nineteen ninety-nine", 2005 -> "two thousand five"."""
    return str(_num2words()(number, to="year")).replace(",", "").replace(" and ", " ")


def _decimal(text: str) -> str:
    text = text.replace(",", "")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    said = cardinal(int(whole or "0"))
    if frac:
        said += " point " + " ".join(_DIGIT_NAMES[int(d)] for d in frac)
    return ("minus " if negative else "") + said


def _digits(text: str) -> str:
    return " ".join(_DIGIT_NAMES[int(d)] for d in text if d.isdigit())


def _abbreviation(m: re.Match[str]) -> str:
    said = _ABBREVIATIONS[m.group(0)]
    at_end = not m.string[m.end() :].strip()
    return said + ("." if at_end and m.group(0).endswith(".") else "")


def _money(m: re.Match[str]) -> str:
    one, many, cent, cents = _CURRENCY[m.group(1)]
    amount, scale = m.group(2).replace(",", ""), m.group(3)
    if scale:
        return f"{_decimal(amount)} {scale} {many}"
    whole, _, frac = amount.partition(".")
    major = int(whole or "0")
    minor = int((frac + "00")[:2]) if frac else 0
    parts = []
    if major or not minor:
        parts.append(f"{cardinal(major)} {one if major == 1 else many}")
    if minor:
        parts.append(f"{cardinal(minor)} {cent if minor == 1 else cents}")
    return " and ".join(parts)


def _clock(hour: int, minute: int) -> str:
    if minute == 0:
        return cardinal(hour)
    return f"{cardinal(hour)} {'oh ' if minute < 10 else ''}{cardinal(minute)}"


def _time(m: re.Match[str]) -> str:
    hour, minute, half = int(m.group(1)), int(m.group(2)), m.group(3)
    said = _clock(hour, minute)
    if half:
        said += f" {half[0].lower()} m"
    elif minute == 0:
        said += " o'clock"
    return said + _keep_stop(m)


def _hour(m: re.Match[str]) -> str:
    return f"{cardinal(int(m.group(1)))} {m.group(2).lower()} m" + _keep_stop(m)


def _keep_stop(m: re.Match[str]) -> str:
    """A sentence-final "p.m." keeps its full stop, so the sentence still ends."""
    return "." if m.group(0).endswith(".") and not m.string[m.end() :].strip() else ""


def _date_mdy(m: re.Match[str]) -> str:
    month, day, yr = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year(yr)}"


def _date_iso(m: re.Match[str]) -> str:
    yr, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year(yr)}"


def _date_named(m: re.Match[str]) -> str:
    month = _MONTH_ABBR.get(m.group(1).rstrip("."), m.group(1))
    said = f"{month} {ordinal(int(m.group(2)))}"
    return said + (f", {year(int(m.group(3)))}" if m.group(3) else "")


def _decade(m: re.Match[str]) -> str:
    said = year(int(m.group(1)))
    return said[:-1] + "ies" if said.endswith("y") else said + "s"


def _year(m: re.Match[str]) -> str:
    return f"{m.group(1)} {year(int(m.group(2)))}"


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m.group(1)))


def _percent(m: re.Match[str]) -> str:
    return _decimal(m.group(1)) + " percent"


def _unit(m: re.Match[str]) -> str:
    one, many = _UNITS[m.group(2)]
    return f"{_decimal(m.group(1))} {one if m.group(1) == '1' else many}"


def _phone(m: re.Match[str]) -> str:
    return ", ".join(_digits(g) for g in re.findall(r"\d+", m.group(0)))


def _range(m: re.Match[str]) -> str:
    return f"{_decimal(m.group(1))} to {_decimal(m.group(2))}"


_FRACTIONS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _fraction(m: re.Match[str]) -> str:
    top, bottom = int(m.group(1)), int(m.group(2))
    if bottom == 0:
        return m.group(0)
    one, many = _FRACTIONS.get(bottom, (ordinal(bottom), ordinal(bottom) + "s"))
    return f"{cardinal(top)} {one if top == 1 else many}"


def _number(m: re.Match[str]) -> str:
    return _decimal(m.group(0))


_NB = r"(?<![\d.,])"
_NA = r"(?![\d])"
_ABBR = "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True) if a not in ("a.m.", "p.m."))

_RULES = [
    Rule(rf"{_NB}(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}){_NA}", _date_mdy),
    Rule(rf"{_NB}(\d{{4}})-(\d{{2}})-(\d{{2}}){_NA}", _date_iso),
    Rule(
        rf"\b({_MONTH}|(?:{'|'.join(_MONTH_ABBR)})\.)\s(\d{{1,2}})(?:st|nd|rd|th)?(?:,\s(\d{{4}}))?{_NA}", _date_named
    ),
    Rule(
        rf"{_NB}\(\d{{3}}\)\s?\d{{3}}-\d{{4}}{_NA}|{_NB}\d{{3}}-\d{{3}}-\d{{4}}{_NA}|{_NB}\d{{3}}-\d{{4}}{_NA}", _phone
    ),
    Rule(rf"{_NB}(\d{{1,2}}):(\d{{2}})(?:\s?([AaPp])\.?[Mm]\.?)?{_NA}", _time),
    Rule(rf"{_NB}(\d{{1,2}})\s?([AaPp])\.[Mm]\.", _hour),
    Rule(r"([$£€¥￥])\s?(\d+(?:,\d{3})*(?:\.\d+)?)(?:\s(million|billion|trillion|thousand))?", _money),
    Rule(rf"{_NB}(\d+(?:\.\d+)?)\s?%", _percent),
    Rule(rf"{_NB}(\d+)(?:st|nd|rd|th)\b", _ordinal),
    Rule(rf"{_NB}(1\d|20)(\d0)s\b", lambda m: _decade_of(m)),
    Rule(rf"({_YEAR_BEFORE}) ((?:1[1-9]|20)\d\d)(?![\d,.]\d)(?!\s?(?:{_UNIT}|%))\b", _year),
    Rule(rf"{_NB}(-?\d+(?:,\d{{3}})*(?:\.\d+)?)\s?({_UNIT})(?![A-Za-z])", _unit),
    Rule(rf"{_NB}(\d+)\s?[-–]\s?(\d+){_NA}", _range),
    Rule(rf"{_NB}(\d)/(\d{{1,2}}){_NA}", _fraction),
    Rule(r"(?<=[A-Za-z])-(?=\d)|(?<=\d)-(?=[A-Za-z])", lambda m: " "),
    Rule(rf"(?<![\w.]){_ABBR}|\bNo\.(?=\s?\d)", lambda m: "number" if m.group(0) == "No." else _abbreviation(m)),
    Rule(rf"(?<![A-Za-z\d.,])-?\d+(?:,\d{{3}})*(?:\.\d+)?{_NA}", _number),
]


def _decade_of(m: re.Match[str]) -> str:
    return _decade(re.match(r"(\d{4})", m.group(1) + m.group(2)))  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def rules() -> list[Rule]:
    """The rules, in priority order (a lexicon's rules go before them)."""
    return list(_RULES)


def normalizer() -> Rules:
    return Rules(rules())
