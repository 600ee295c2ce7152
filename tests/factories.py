"""Small builders for tests: a county with townships and villages, staff, households, funds."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path

from django.test import Client
from PIL import Image

from civicpoints.households.models import Household
from civicpoints.households.services import household_create
from civicpoints.ledger.models import AccountKind, Posting, PostingKind
from civicpoints.ledger.services import Leg, household_account, post, system_account
from civicpoints.schemes.models import Region, RegionLevel, Scheme, User
from civicpoints.schemes.services import region_create, role_grant, scheme_create

PASSWORD = "correct horse battery staple"
_ids = itertools.count(1)


@dataclass
class World:
    """Two schemes: Tongyu county (two townships, three villages) and another county."""

    scheme: Scheme
    county: Region
    township_a: Region
    township_b: Region
    village_a1: Region
    village_a2: Region
    village_b1: Region
    other_scheme: Scheme
    other_county: Region
    other_village: Region


def build_world() -> World:
    province = region_create(code="220000000000", name="吉林省", level=RegionLevel.PROVINCE)
    city = region_create(
        code="220800000000", name="白城市", level=RegionLevel.CITY, parent=province
    )
    county = region_create(
        code="220822000000", name="通榆县", level=RegionLevel.COUNTY, parent=city
    )
    ta = region_create(
        code="220822100000", name="开通镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    tb = region_create(
        code="220822101000", name="兴隆山镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    a1 = region_create(code="220822100201", name="晓光村", level=RegionLevel.VILLAGE, parent=ta)
    a2 = region_create(code="220822100202", name="新华村", level=RegionLevel.VILLAGE, parent=ta)
    b1 = region_create(code="220822101201", name="兴盛村", level=RegionLevel.VILLAGE, parent=tb)
    other_county = region_create(
        code="220821000000", name="镇赉县", level=RegionLevel.COUNTY, parent=city
    )
    ot = region_create(
        code="220821100000", name="镇赉镇", level=RegionLevel.TOWNSHIP, parent=other_county
    )
    ov = region_create(code="220821100201", name="东风村", level=RegionLevel.VILLAGE, parent=ot)
    return World(
        scheme=scheme_create(name="通榆县文明积分", operator_region=county),
        county=county,
        township_a=ta,
        township_b=tb,
        village_a1=a1,
        village_a2=a2,
        village_b1=b1,
        other_scheme=scheme_create(name="镇赉县文明积分", operator_region=other_county),
        other_county=other_county,
        other_village=ov,
    )


def make_staff(username: str, role: str, region: Region, scheme: Scheme) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    role_grant(user=user, scheme=scheme, region=region, role=role)
    return user


def make_household(scheme: Scheme, village: Region, name: str = "", **kw: object) -> Household:
    return household_create(
        actor_id=None,
        scheme=scheme,
        village=village,
        head_name=name or f"测试户{next(_ids)}",
        **kw,  # type: ignore[arg-type]
    )


def fund(household: Household, hundredths: int, memo: str = "测试奖励") -> Posting:
    """Award points from the scheme's issuance account."""
    return post(
        scheme_id=household.scheme_id,
        kind=PostingKind.AWARD,
        legs=[
            Leg(
                system_account(scheme_id=household.scheme_id, kind=AccountKind.ISSUANCE),
                -hundredths,
            ),
            Leg(household_account(household=household), hundredths),
        ],
        memo=memo,
    )


def api_client(user: User) -> Client:
    client = Client()
    response = client.post(
        "/api/v1/auth/token",
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (4, 3), **options: object) -> bytes:
    """A real, tiny photo (uploads are decoded and re-encoded, so a few magic bytes won't do)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 30)).save(out, format=fmt, **options)  # type: ignore[arg-type]
    return out.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")


def static_text(path: str) -> str:
    """A static file's text (pages link their styles and scripts: the CSP allows no inline)."""
    from django.contrib.staticfiles import finders

    found = finders.find(path)
    assert found, path
    return Path(str(found)).read_text(encoding="utf-8")
