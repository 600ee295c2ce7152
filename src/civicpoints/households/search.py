"""Household search: the text kept on each household to find it, and the filter that finds it.

Every household carries its search text, written by the household services (never by a trigger
or ``save()``) whenever a name or a phone number changes: ``search_keys`` (the head's pinyin),
``search_names`` (the head's and every member's name), ``search_terms`` (every character and
pair of neighbouring characters of those names, and every start of the head's pinyin keys) and
``search_phones``. A search reads the household table alone: no join to the members, no
DISTINCT. Must never decide who may see a household: the caller's queryset is the scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.fields.array import ArrayContains
from django.db.models import F, Func, Q, TextField, Value

from civicpoints.households import crypto, idcard
from civicpoints.households.models import Member
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


def search_match(query: str, *, vendor: str) -> Q:
    """The filter for one query, already stripped and not empty: an ID number (a member's);
    digits (a card code, or part of a phone number on file when four digits or more);
    letters (the start of the head's pinyin, or a card code); letters and digits (a card
    code); anything else is part of the head's or a member's name.

    On PostgreSQL names and pinyin go through the terms' index; SQLite reads the names and
    keys themselves (one table, in id order, no index for a part of a text)."""
    q = query
    postgres = vendor == "postgresql"
    if len(q) == 18 and idcard.problem(idcard.normalize(q)) is None:
        holders = Member.objects.filter(id_number_digest=crypto.digest(idcard.normalize(q)))
        return Q(pk__in=holders.values("household_id"))
    if q.isascii() and q.isdigit():
        match = Q(card_code=q)
        if len(q) >= PHONE_DIGITS_MIN:
            match |= Q(search_phones__contains=q)
        return match
    if q.isascii() and q.isalpha():
        key = q.lower()
        pinyin = _terms_contain([PINYIN + key]) if postgres else Q(search_keys__contains=" " + key)
        return pinyin | Q(card_code=q.upper())
    if q.isascii() and q.isalnum():
        return Q(card_code=q.upper())
    if LINE in q:
        return Q(pk__in=[])
    if not postgres:
        return Q(search_names__contains=q)
    if len(q) <= 2:
        # Stripped, so the query is itself one of the names' terms: the index answers exactly.
        return _terms_contain([q])
    # Longer: the index finds the households with every pair of the query (every character
    # where white space breaks the pairs), then the names are read for the query itself.
    grams = name_grams([q])
    pairs = [g for g in grams if len(g) == 2] or grams
    return _terms_contain(pairs) & Q(search_names__contains=q)
