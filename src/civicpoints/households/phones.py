"""Chinese phone numbers: normalise what people type ("138 0013-8000", "+86 138...")."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext as _


def normalize(raw: str) -> str:
    """Digits only, without +86; "" for empty input. Raises ValueError with a Chinese reason."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise ValueError(_("手机号格式不对")) from None
    if number.country_code != 86:
        raise ValueError(_("只支持中国大陆手机号"))
    digits = str(number.national_number)
    # Check length ourselves: new mobile ranges (e.g. 174) are not all in phonenumbers' tables.
    if digits.startswith("1"):
        if len(digits) != 11:
            return _bad_length(len(digits))
        return digits
    if not phonenumbers.is_possible_number(number):
        raise ValueError(_("电话号码位数不对"))
    return "0" + digits


def _bad_length(n: int) -> str:
    raise ValueError(_("手机号应为11位，这里是%(n)d位") % {"n": n})
