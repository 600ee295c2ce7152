"""The ceremony list (``stores.ceremony_list``): lines typed, pasted or uploaded become one row
per household for ``ceremony_redeem``; every line that cannot be read is named, in words."""

from __future__ import annotations

import io

import openpyxl
import pytest

from civicpoints.households.importing.reading import FileProblem
from civicpoints.households.models import HouseholdStatus
from civicpoints.stores.ceremony_list import (
    MAX_LINES,
    ceremony_list_parse,
    ceremony_list_preview,
    ceremony_list_refusals,
    ceremony_list_text,
    split_line,
)
from civicpoints.stores.services import CeremonyRow, Item, ceremony_check
from tests.factories import make_household
from tests.stores.conftest import Shop


@pytest.mark.parametrize(
    ("line", "cells"),
    [
        ("王秀英\t大米 10斤\t2", ["王秀英", "大米 10斤", "2"]),
        ("王秀英，大米 10斤, 2", ["王秀英", "大米 10斤", "2"]),
        ("王秀英 大米 10斤 2", ["王秀英", "大米 10斤", "2"]),
        ("王秀英 电饭煲 1", ["王秀英", "电饭煲", "1"]),
        ("王秀英 1", ["王秀英", "1"]),
        ("", []),
    ],
)
def test_a_line_splits_on_tabs_commas_or_spaces_keeping_the_product_whole(line, cells):
    assert split_line(line) == cells


def test_lines_of_one_household_merge_into_one_row(shop: Shop):
    text = "\n".join(
        [
            "户主\t商品\t数量",  # the header pasted with the list
            f"王秀英\t{shop.cooker.name}\t1",
            "",
            f"{shop.household.card_code.lower()}, {shop.rice.name}, 2",
            f"王秀英 {shop.cooker.name} 1",
        ]
    )

    parsed = ceremony_list_parse(shop.store, text)

    assert parsed.problems == []
    assert parsed.ok is True
    [group] = parsed.groups
    assert group.household == shop.household
    assert group.lines == [2, 4, 5]
    assert parsed.rows() == [
        CeremonyRow(
            household_id=shop.household.pk,
            items=(Item(product_id=shop.cooker.pk, quantity=2), Item(shop.rice.pk, 2)),
        )
    ]


def test_each_unreadable_line_is_named_and_no_row_is_made_for_it(shop: Shop):
    w = shop.world
    make_household(w.scheme, w.village_a1, "李四")
    make_household(w.scheme, w.village_a2, "李四")  # two households of that name
    make_household(w.scheme, w.village_b1, "赵六")  # another township: not served
    closed = make_household(w.scheme, w.village_a1, "钱七")
    closed.status = HouseholdStatus.CLOSED
    closed.save(update_fields=["status"])
    text = "\n".join(
        [
            f"王秀英\t{shop.cooker.name}",
            f"王秀英\t{shop.cooker.name}\t两个",
            f"王秀英\t{shop.cooker.name}\t0",
            "王秀英\t金条\t1",
            f"李四\t{shop.cooker.name}\t1",
            f"赵六\t{shop.cooker.name}\t1",
            f"钱七\t{shop.cooker.name}\t1",
            f"王秀英\t{shop.cooker.name}\t10001",
        ]
    )

    parsed = ceremony_list_parse(shop.store, text)

    assert parsed.problems == [
        "第1行：应为“户主或卡号、商品、数量”三项",
        "第2行：数量应为正整数",
        "第3行：数量应为正整数",
        "第4行：本超市没有在售的“金条”",
        "第5行：“李四”有重名，请改用卡号",
        "第6行：本超市服务范围内没有“赵六”",
        "第7行：本超市服务范围内没有“钱七”",
        "第8行：数量应为正整数",
    ]
    assert parsed.groups == []
    assert parsed.ok is False


def test_a_list_longer_than_the_limit_is_refused_whole(shop: Shop):
    text = "\n".join([f"王秀英\t{shop.cooker.name}\t1"] * (MAX_LINES + 1))

    parsed = ceremony_list_parse(shop.store, text)

    assert parsed.problems == [f"名单超过 {MAX_LINES} 行"]
    assert parsed.groups == []


def test_an_uploaded_sheet_becomes_the_lists_text_columns_found_by_their_headers(shop: Shop):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["数量", "姓名", "奖品"])
    sheet.append([2, "王秀英", shop.cooker.name])
    sheet.append([1, shop.household.card_code, shop.rice.name])
    out = io.BytesIO()
    book.save(out)

    text = ceremony_list_text(out.getvalue())

    assert text == f"王秀英\t{shop.cooker.name}\t2\n{shop.household.card_code}\t{shop.rice.name}\t1"
    assert ceremony_list_parse(shop.store, text).rows() == [
        CeremonyRow(shop.household.pk, (Item(shop.cooker.pk, 2), Item(shop.rice.pk, 1)))
    ]


def test_a_file_that_is_not_a_list_is_a_file_problem():
    with pytest.raises(FileProblem):
        ceremony_list_text(b"\x89PNG\r\n\x1a\n not a sheet")


def test_the_preview_totals_each_household_and_the_stock_with_the_checks_reasons(shop: Shop):
    poor = make_household(shop.world.scheme, shop.world.village_a1, "孙八")
    text = f"王秀英\t{shop.cooker.name}\t2\n孙八\t{shop.freezer.name}\t4"
    parsed = ceremony_list_parse(shop.store, text)
    check = ceremony_check(actor=shop.admin_actor, store=shop.store, rows=parsed.rows())

    preview = ceremony_list_preview(parsed, check)

    assert [r["h"] for r in preview.rows] == [shop.household, poor]
    assert [r["total"] for r in preview.rows] == [40_000, 880_000]
    assert [r["short"] for r in preview.rows] == [False, True]
    assert preview.rows[0]["problems"] == []
    assert preview.rows[1]["problems"] != []  # not enough points: the check's words
    assert preview.total == 920_000
    assert [(s["product"], s["needed"], s["short"]) for s in preview.stock] == [
        (shop.freezer, 4, True),
        (shop.cooker, 2, False),
    ]
    assert preview.stock[0]["problem"] != ""
    assert ceremony_list_preview(parsed, None).rows[1]["problems"] == []


def test_a_refusal_names_each_rows_household_and_list_lines(shop: Shop):
    parsed = ceremony_list_parse(shop.store, f"\n王秀英\t{shop.cooker.name}\t1")

    refusals = ceremony_list_refusals(
        parsed, [{"row": 1, "message": "积分不足"}, {"product": 9, "message": "库存不足"}]
    )

    assert refusals == [
        {"row": 1, "message": "积分不足", "lines": [2], "h": shop.household},
        {"product": 9, "message": "库存不足", "lines": [], "h": None},
    ]
