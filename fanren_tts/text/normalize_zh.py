"""Chinese text normalization: digits and symbols written out as they are read.

``cn2an`` reads the numbers (一千零五, 十二点二五, 负五); the rules here decide
*how* a number is read from what surrounds it, in one pass (``rules.Rules``):

====================  ==========================  ==========================
what                  written                     read
====================  ==========================  ==========================
year (4 digits + 年)   2024年                      二零二四年 (digit by digit)
date                  2024-03-05, 2024/3/5         二零二四年三月五日
time                  3:30, 15:45:30               三点三十分, 十五点四十五分三十秒
percentage            100%, 50%-60%                百分之一百, 百分之五十到百分之六十
currency              ¥25, $3.50, €20, RMB 500     二十五元, 三点五美元, 二十欧元, 人民币五百元
unit                  5kg, 25℃, 60km/h             五千克, 二十五摄氏度, 六十千米每小时
phone                 13812345678, 010-12345678    一三八一二三四五六七八 (digit by digit)
range                 3-5个, 20~25℃               三到五个, 二十到二十五摄氏度
fraction              1/3                          三分之一
====================  ==========================  ==========================
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .rules import Rule, Rules

__all__ = ["read_digits", "read_number", "rules"]

_DIGITS = "零一二三四五六七八九"
_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"

_UNITS = {
    "km/h": "千米每小时",
    "m/s": "米每秒",
    "kg": "千克",
    "mg": "毫克",
    "g": "克",
    "km": "千米",
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "ml": "毫升",
    "mL": "毫升",
    "L": "升",
    "l": "升",
    "℃": "摄氏度",
    "°C": "摄氏度",
    "°F": "华氏度",
    "㎡": "平方米",
    "m²": "平方米",
    "m2": "平方米",
    "TB": "太字节",
    "GB": "吉字节",
    "MB": "兆字节",
    "KB": "千字节",
    "kW": "千瓦",
    "W": "瓦",
    "Hz": "赫兹",
    "kHz": "千赫兹",
    "mAh": "毫安时",
}
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_CURRENCY = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_MEASURE = "个位只本次天条张件种名台人岁辆家份"


@lru_cache(maxsize=1)
def _cn2an() -> Any:
    import cn2an  # imports in ~0.4 s: lazy, so a generator that never speaks Chinese does not pay it

    return cn2an


def read_digits(digits: str) -> str:
    """Digit by digit: 2024 -> 二零二四 (years, phone numbers, codes)."""
    return "".join(_DIGITS[int(d)] if d.isdigit() else "" for d in digits)


def read_number(number: str, *, measure: bool = False) -> str:
    """A cardinal or decimal as Chinese reads it: 1005 -> 一千零五, 12.25 -> 十二点二五.

    Numbers that start with 0 (007) and long runs without separators (IDs) are read
    digit by digit. ``measure``: 2 before a measure word is 两 (两个).
    """
    number = number.replace(",", "")
    negative = number.startswith("-")
    number = number.lstrip("-")
    whole, _, frac = number.partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > 12:
        said = read_digits(whole)
    else:
        said = _cn2an().an2cn(whole)
        if said.startswith("二") and len(said) > 1 and said[1] in "千万亿":
            said = "两" + said[1:]
        elif measure and said == "二":
            said = "两"
    if frac:
        said += "点" + read_digits(frac)
    return ("负" if negative else "") + said


def _year(m: re.Match[str]) -> str:
    return read_digits(m.group(1))


def _date(m: re.Match[str]) -> str:
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    return f"{read_digits(year)}年{read_number(str(month))}月{read_number(str(day))}日"


def _time(m: re.Match[str]) -> str:
    hour, minute, second = int(m.group(1)), int(m.group(2)), m.group(3)
    said = ("零" if hour == 0 else read_number(str(hour))) + "点"
    if minute or second:
        said += ("零" if minute < 10 else "") + read_number(str(minute)) + "分"
    if second:
        said += read_number(str(int(second))) + "秒"
    return said


def _percent_range(m: re.Match[str]) -> str:
    return f"百分之{read_number(m.group(1))}到百分之{read_number(m.group(2))}"


def _percent(m: re.Match[str]) -> str:
    return "百分之" + read_number(m.group(1))


def _money(m: re.Match[str]) -> str:
    amount = m.group(2).rstrip("0").rstrip(".") if "." in m.group(2) else m.group(2)
    return read_number(amount) + (m.group(3) or "") + _CURRENCY[m.group(1)]


def _rmb(m: re.Match[str]) -> str:
    return "人民币" + read_number(m.group(1)) + "元"


def _phone(m: re.Match[str]) -> str:
    return read_digits(m.group(0))


def _called(m: re.Match[str]) -> str:
    return m.group(1) + read_digits(m.group(2))


def _range(m: re.Match[str]) -> str:
    low, high, after = m.group(1), m.group(2), m.group(3) or ""
    if after == "年" and len(low) == len(high) == 4:
        return f"{read_digits(low)}到{read_digits(high)}年"
    return f"{read_number(low)}到{read_number(high)}{_UNITS.get(after, after)}"


def _unit(m: re.Match[str]) -> str:
    return read_number(m.group(1)) + _UNITS[m.group(2)]


def _fraction(m: re.Match[str]) -> str:
    return f"{read_number(m.group(2))}分之{read_number(m.group(1))}"


def _number(m: re.Match[str]) -> str:
    after = m.string[m.end() : m.end() + 1]
    return read_number(m.group(0), measure=bool(after) and after in _MEASURE)


def _symbol(m: re.Match[str]) -> str:
    return _UNITS.get(m.group(0), "")


_NB = r"(?<![\d.])"  # not inside another number
_NA = r"(?![\d])"
_NOT_LATIN_AFTER = r"(?![A-Za-z])"

_RULES = [
    # after 电话/拨打/号码...: digit by digit, unless a measure word or unit says it is a count (手机1000台)
    Rule(
        rf"((?:电话|拨打|号码|热线|手机|致电)(?:号码)?(?:是|为)?[：:]?\s*)(\d[\d\s-]{{1,}}\d)(?![\d.%％{_MEASURE}元万亿千百])",
        _called,
    ),
    Rule(rf"{_NB}1[3-9]\d(?:\s?\d{{4}}){{2}}{_NA}", _phone),
    Rule(rf"{_NB}(?:0\d{{2,3}}|400|800)-\d{{3,4}}(?:-?\d{{4}})?{_NA}", _phone),
    Rule(rf"{_NB}(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_NA}(?:日|号)?", _date),
    Rule(rf"{_NB}(\d{{1,2}}):(\d{{2}})(?::(\d{{2}}))?{_NA}", _time),
    Rule(rf"{_NB}(\d+(?:\.\d+)?)%\s*[-~～—–至到]\s*(\d+(?:\.\d+)?)[%％]", _percent_range),
    Rule(r"(\d+(?:\.\d+)?)[%％]", _percent),
    Rule(r"([¥￥$€£])\s?(\d+(?:,\d{3})*(?:\.\d+)?)([万亿])?", _money),
    Rule(rf"(?:RMB|CNY)\s?({_NUM})", _rmb),
    Rule(rf"{_NB}(\d+(?:\.\d+)?)\s*[-~～—–]\s*(\d+(?:\.\d+)?)({_UNIT}|年)?{_NOT_LATIN_AFTER}", _range),
    Rule(rf"{_NB}(\d{{4}})(?=年)", _year),
    Rule(r"(?<=公元前)(\d+)(?=年)", _year),
    Rule(rf"{_NB}({_NUM})\s?({_UNIT}){_NOT_LATIN_AFTER}", _unit),
    Rule(rf"{_NB}(\d+)/(\d+){_NA}", _fraction),
    Rule(r"(?<=[A-Za-z])-(?=\d)", lambda m: ""),
    Rule(rf"(?<![\dA-Za-z.])-(?=\d)|{_NB}{_NUM}", lambda m: "负" if m.group(0) == "-" else _number(m)),
    Rule(r"℃|°C", _symbol),
]


@lru_cache(maxsize=1)
def rules() -> list[Rule]:
    """The rules, in priority order (a lexicon's rules go before them)."""
    return list(_RULES)


def normalizer() -> Rules:
    return Rules(rules())
