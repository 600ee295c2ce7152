"""Chinese resident ID numbers (GB 11643): 18 characters, ISO 7064 MOD 11-2 check digit."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def normalize(raw: str) -> str:
    return raw.strip().replace(" ", "").upper()


def problem(number: str) -> str | None:
    """What is wrong with an ID number, in plain Chinese, or None when it is valid."""
    if len(number) != 18:
        return _("身份证号应为18位，这里是%(n)d位") % {"n": len(number)}
    if not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        return _("身份证号含有非法字符")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return _("身份证号中的出生日期无效")
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return _("身份证号中的出生日期无效")
    if check_char(number[:17]) != number[17]:
        return _("身份证校验位错误")
    return None


def make(first17: str) -> str:
    return first17 + check_char(first17)
