"""Household search: the text kept on each household to find it, and the filter that finds it.

The household services write the ``search_*`` columns whenever a name or a phone changes; a
search reads the household row alone (no join to members, no DISTINCT). It never decides who
may see a household: the caller's queryset is the scope. See docs/households.md, "Search".
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.fields.array import ArrayContains  # type: ignore[attr-defined]
from django.db import connections
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.expressions import RawSQL

from civicpoints.households import crypto, idcard
from civicpoints.households.models import Household, Member
from civicpoints.households.pinyin import search_keys

# Names and numbers are kept one a line: a query (one line of a search box) never spans two.
LINE = "\n"
# Terms are kept space-separated, the form PostgreSQL's index splits
# (``string_to_array(search_terms, ' ')``, migration 0006); no term holds white space.
TERM = " "
# A pinyin term is "p:" and the start of a key: three characters or more, so never one of the
# names' terms (one or two characters).
PINYIN = "p:"
# Fewer digits than this match no phone: too broad to be useful, too easy to enumerate.
PHONE_DIGITS_MIN = 4
SEARCH_FIELDS = ("search_keys", "search_names", "search_terms", "search_phones")
# SQLite's FTS5 tables over search_terms and search_phones (migration 0007).
FTS_TERMS = "households_search_terms_fts"
FTS_PHONES = "households_search_phones_fts"
_FTS_READY: dict[tuple[str, str], bool] = {}
# Chinese characters: the unified ideographs and extension A, the compatibility ideographs,
# extensions B to F.
HAN = [
    (chr(0x3400), chr(0x4DBF)),
    (chr(0x4E00), chr(0x9FFF)),
    (chr(0xF900), chr(0xFAFF)),
    (chr(0x20000), chr(0x2EBEF)),
]


def name_grams(names: Iterable[str]) -> list[str]:
    """Each character and each pair of neighbouring characters of the names, without white
    space, in first-seen order: a query of one or two characters is in a name exactly when it
    is one of these (PostgreSQL's trigrams would need three)."""
    grams: dict[str, None] = {}
    for name in names:
        for width in (1, 2):
            for i in range(len(name) - width + 1):
                gram = name[i : i + width]
                if not any(c.isspace() for c in gram):
                    grams[gram] = None
    return list(grams)


def pinyin_terms(keys: str) -> list[str]:
    """Every start of every pinyin key (``search_keys``): a query is one of them exactly when
    it starts a key, as ``search_keys`` containing " " + query would say."""
    terms: dict[str, None] = {}
    for key in keys.split():
        for end in range(1, len(key) + 1):
            terms[PINYIN + key[:end]] = None
    return list(terms)


def search_fields(
    *, head_name: str, phone: str, members: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """The search columns of a household: its head's name and phone, and every member's
    (name, phone), the head's own member row included or not."""
    names = [n for n in dict.fromkeys([head_name, *(name for name, _phone in members)]) if n]
    phones = [p for p in dict.fromkeys([phone, *(p for _name, p in members)]) if p]
    keys = search_keys(head_name)
    terms = name_grams(names) + pinyin_terms(keys)
    return {
        "search_keys": keys,
        "search_names": LINE.join(names),
        "search_terms": TERM + TERM.join(terms) + TERM if terms else "",
        "search_phones": LINE.join(phones),
    }


def _terms_contain(terms: list[str]) -> Q:
    """PostgreSQL: every one of the terms, through the expression index
    ``households_search_terms`` (the same expression, so it is found without statistics)."""
    split = Func(
        F("search_terms"),
        Value(TERM),
        function="string_to_array",
        output_field=ArrayField(TextField()),
    )
    return Q(ArrayContains(split, terms))


def _fts_ready(alias: str) -> bool:
    """SQLite: whether migration 0007 made the FTS5 tables (SQLite without FTS5 has none)."""
    connection = connections[alias]
    key = (alias, str(connection.settings_dict["NAME"]))
    if key not in _FTS_READY:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (%s, %s)",
                [FTS_TERMS, FTS_PHONES],
            )
            _FTS_READY[key] = cursor.fetchone()[0] == 2
    return _FTS_READY[key]


def _fts(table: str, phrases: list[str], *, or_card: str | None = None) -> Q:
    """SQLite: the households whose column holds every phrase, through the FTS5 table, and
    the household with card code ``or_card``. One set of ids, which SQLite walks in id order
    and stops at the limit (an OR beside it would sort every match first). The tables are
    ours; the phrases a parameter, quoted for FTS5's own syntax."""
    match = " AND ".join('"' + p.replace('"', '""') + '"' for p in phrases)
    sql = f"SELECT rowid FROM {table} WHERE {table} MATCH %s"  # noqa: S608
    params = [match]
    if or_card is not None:
        sql += f" UNION ALL SELECT id FROM {Household._meta.db_table} WHERE card_code = %s"  # noqa: S608
        params.append(or_card)
    return Q(pk__in=RawSQL(sql, params))  # noqa: S611


def _fts_tokens(text: str) -> bool:
    """Whether every character is one FTS5's unicode61 keeps in a token for sure (ASCII letters
    and digits, Chinese characters): else a query could become an empty phrase there."""
    return all((c.isascii() and c.isalnum()) or any(a <= c <= b for a, b in HAN) for c in text)


def search_match(query: str, *, vendor: str, alias: str = "default") -> Q:
    """The filter for one query, already stripped and not empty: an ID number (a member's);
    digits (a card code, or part of a phone number on file when four digits or more);
    letters (the start of the head's pinyin, or a card code); letters and digits (a card
    code); anything else is part of the head's or a member's name.

    On PostgreSQL names and pinyin go through the terms' GIN index, phone digits through
    pg_trgm; on SQLite through the FTS5 tables over the same columns (migration 0007). A name
    of three characters or more is then read in ``search_names`` itself. Without FTS5, or for
    a query FTS5 would not keep whole, SQLite reads the columns alone, in id order."""
    q = query
    postgres = vendor == "postgresql"
    fts = vendor == "sqlite" and _fts_ready(alias)
    if len(q) == 18 and idcard.problem(idcard.normalize(q)) is None:
        holders = Member.objects.filter(id_number_digest=crypto.digest(idcard.normalize(q)))
        return Q(pk__in=holders.values("household_id"))
    if q.isascii() and q.isdigit():
        if len(q) < PHONE_DIGITS_MIN:
            return Q(card_code=q)
        if fts:
            # FTS5's trigram phrase is the digits side by side: exactly "part of a number".
            return _fts(FTS_PHONES, [q], or_card=q)
        return Q(search_phones__contains=q) | Q(card_code=q)
    if q.isascii() and q.isalpha():
        key = q.lower()
        if fts:
            return _fts(FTS_TERMS, [PINYIN + key], or_card=q.upper())
        if postgres:
            return _terms_contain([PINYIN + key]) | Q(card_code=q.upper())
        return Q(search_keys__contains=" " + key) | Q(card_code=q.upper())
    if q.isascii() and q.isalnum():
        return Q(card_code=q.upper())
    if LINE in q:
        return Q(pk__in=[])
    names = Q(search_names__contains=q)
    if not postgres and not (fts and _fts_tokens(q)):
        return names
    # Stripped, so a query of one or two characters is itself one of the names' terms, which
    # the index answers exactly. A longer one: the households with all its pairs (every
    # character where white space breaks the pairs), then the names read for the query itself.
    grams = name_grams([q])
    terms = [q] if len(q) <= 2 else [g for g in grams if len(g) == 2] or grams
    found = _terms_contain(terms) if postgres else _fts(FTS_TERMS, terms)
    return found if len(q) <= 2 else found & names
