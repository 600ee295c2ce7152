"""ID numbers, phones, pinyin search keys, encryption at rest."""

from __future__ import annotations

import pytest

from civicpoints.households import crypto, idcard, phones
from civicpoints.households.pinyin import search_keys


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("220822194410092800", None),
        ("22082219471115039X", None),
        ("220822194410092801", "身份证校验位错误"),
        ("22082219441009280", "身份证号应为18位，这里是17位"),
        ("220822194413092805", "身份证号中的出生日期无效"),
        ("22082219441009280A", "身份证号含有非法字符"),
        ("２２0822194410092800", "身份证号含有非法字符"),
    ],
)
def test_id_number_problems(number, problem):
    assert idcard.problem(number) == problem


def test_check_char_matches_gb11643_example():
    # The standard's worked example: 11010519491231002 -> X
    assert idcard.check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13800138000", "13800138000"),
        ("138 0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("17446467419", "17446467419"),
        ("", ""),
    ],
)
def test_phone_normalize(raw, normal):
    assert phones.normalize(raw) == normal


@pytest.mark.parametrize("raw", ["1380013800", "138001380001", "abc", "+1 415 555 0100"])
def test_phone_refused(raw):
    with pytest.raises(ValueError):
        phones.normalize(raw)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("曾国涛", ["zgt", "cgt", "zengguotao", "cengguotao"]),
        ("单丽", ["sl", "dl", "shanli", "danli"]),
        ("解玉兰", ["xyl", "jyl"]),
        ("仇建", ["qj", "cj"]),
        ("朴珍", ["pz"]),
        ("曾𠮷", ["z", "c"]),
    ],
)
def test_every_surname_reading_is_searchable(name, keys):
    text = search_keys(name)
    for key in keys:
        assert f" {key}" in text, (name, key, text)


def test_id_numbers_are_encrypted_and_masked():
    token = crypto.encrypt("220822194410092800")
    assert "220822194410092800" not in token
    assert crypto.decrypt(token) == "220822194410092800"
    assert crypto.mask_id_number("220822194410092800") == "220822********2800"
    assert crypto.digest("22082219471115039x") == crypto.digest("22082219471115039X")
