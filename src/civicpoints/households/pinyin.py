"""Search keys for Chinese names: initials and full pinyin, with every reading of the surname.

Surnames such as 曾 (zeng/ceng), 单 (shan/dan), 解 (xie/jie), 仇 (qiu/chou), 朴 (piao/pu) are
read differently from the everyday word, so the first character contributes all its readings;
the rest of the name uses its usual reading. Characters pypinyin does not know (e.g. 𠮷) are
kept out of the keys rather than breaking them.
"""

from __future__ import annotations

from itertools import product

from pypinyin import Style, pinyin

# Readings of surnames that pypinyin's heteronym table may rank low or miss.
SURNAME_READINGS = {
    "曾": ["zeng", "ceng"],
    "单": ["shan", "dan", "chan"],
    "解": ["xie", "jie"],
    "仇": ["qiu", "chou"],
    "朴": ["piao", "pu"],
    "区": ["ou", "qu"],
    "查": ["zha", "cha"],
    "盖": ["ge", "gai"],
    "尉": ["yu", "wei"],
    "乐": ["yue", "le"],
    "覃": ["qin", "tan"],
    "缪": ["miao", "mou"],
    "繁": ["po", "fan"],
    "召": ["shao", "zhao"],
    "员": ["yun", "yuan"],
    "秘": ["bi", "mi"],
    "万": ["wan", "mo"],
}

MAX_VARIANTS = 16


def _readings(char: str, *, all_readings: bool) -> list[str]:
    found = pinyin(char, style=Style.NORMAL, heteronym=all_readings, errors="ignore")
    readings = [r for r in (found[0] if found else []) if r.isascii() and r.isalpha()]
    if all_readings:
        readings = SURNAME_READINGS.get(char, []) + readings
    return list(dict.fromkeys(readings))


def search_keys(name: str) -> str:
    """Space-separated keys, each preceded by a space so a query matches a key's start."""
    chars = [c for c in name.strip() if not c.isspace()]
    if not chars:
        return ""
    per_char = [_readings(c, all_readings=(i == 0)) for i, c in enumerate(chars)]
    per_char = [r for r in per_char if r]
    keys: list[str] = []
    for combo in product(*per_char):
        keys.append("".join(r[0] for r in combo))
        keys.append("".join(combo))
        if len(keys) >= MAX_VARIANTS * 2:
            break
    return " " + " ".join(dict.fromkeys(keys)) + " " if keys else ""
