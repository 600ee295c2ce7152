"""The page faces' one refusal handler (``civicpoints.faces.errors``): a refusal out of a page
view is the face's not-found page, the message on the page the view goes back to, or the
face's refusal page; htmx gets the message alone; the API and other URLs are left alone."""

from __future__ import annotations

import html

from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.urls import resolve

from civicpoints.errors import ApplicationError, ErrorCode, NotFound, invalid
from civicpoints.faces.errors import FACES, PageErrors, field_errors, refusal_response
from civicpoints.schemes.models import Role
from civicpoints.stores.models import StockMove
from civicpoints.stores.services import store_create
from tests.factories import World, make_staff
from tests.stores.conftest import PIN, build_shop


def text(response) -> str:
    return html.unescape(response.content.decode())


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_outside_the_scope_each_face_shows_its_own_not_found_page(world: World):
    shop = build_shop(world)
    other_admin = make_staff("other", Role.COUNTY_ADMIN, world.other_county, world.other_scheme)
    staff = logged_in(other_admin)
    resident = Client()
    login = resident.post("/m/login/", {"card": shop.household.card_code, "pin": PIN})
    assert login.status_code == 302

    back = staff.get(f"/stores/{shop.store.pk}/")
    counter = staff.get(f"/counter/store/{shop.store.pk}/")
    portal = resident.get("/m/orders/999999/cancel/")
    village = Client().get("/open/220822100299/")

    assert back.status_code == 404
    assert back.templates[0].name == "backoffice/not_found.html"
    assert "没有这条记录，或不在您的管辖范围内。" in text(back)
    assert counter.status_code == 404
    assert "没有找到，或您无权查看" in text(counter)
    assert portal.status_code == 404
    assert portal.templates[0].name == "portal/not_found.html"
    assert village.status_code == 404
    assert village.templates[0].name == "portal/open_not_found.html"
    for response in (back, counter, portal, village):
        assert "no-cache" in response["Cache-Control"]  # a refusal is never cached


def test_htmx_gets_the_message_alone_at_the_same_status(world: World):
    shop = build_shop(world)
    other_admin = make_staff("other", Role.COUNTY_ADMIN, world.other_county, world.other_scheme)

    response = logged_in(other_admin).get(
        f"/ceremonies/households/?store={shop.store.pk}&q=wxy", HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 404
    assert text(response).strip() == (
        '<ul class="messages" role="none"><li class="error" role="alert">未找到</li></ul>'
    )


def test_after_refusals_return_to_the_message_is_on_the_page_gone_back_to(world: World):
    shop = build_shop(world)
    staff = logged_in(shop.admin)
    moves = StockMove.objects.count()
    url = f"/stores/{shop.store.pk}/stock/in/"

    response = staff.post(url, {"product": shop.rice.pk, "quantity": "两袋"})
    page = staff.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"] == f"/stores/{shop.store.pk}/"
    assert [str(m) for m in page.context["messages"]] == ["请填写整数"]
    assert StockMove.objects.count() == moves
    # A product of the store that is not there is told the same way (the action's lookup) ...
    gone = staff.post(url, {"product": "999999", "quantity": "2"})
    assert gone.status_code == 302
    assert [str(m) for m in staff.get(gone["Location"]).context["messages"]] == ["未找到"]
    # ... but the URL's own store outside the scope stays a 404, before any way back is set.
    other = store_create(
        actor=shop.admin_actor,
        scheme_id=world.scheme.pk,
        region=world.village_a2,
        name="新华村爱心超市",
    )
    village_admin = make_staff("a1", Role.VILLAGE_ADMIN, world.village_a1, world.scheme)
    assert logged_in(village_admin).post(f"/stores/{other.pk}/stock/in/", {}).status_code == 404


def test_a_refusal_without_a_way_back_is_the_faces_refusal_page(world: World):
    shop = build_shop(world)
    auditor = make_staff("auditor", Role.AUDITOR, world.county, world.scheme)

    response = logged_in(auditor).get(f"/counter/store/{shop.store.pk}/")  # reads, cannot sell

    assert response.status_code == 403
    assert response.templates[0].name == "counter/refused.html"
    assert "没有权限执行此操作" in text(response)


def test_the_backoffice_and_portal_refusal_pages_say_the_message_at_its_status(db: None):
    request = RequestFactory().get("/stores/")
    request.user = AnonymousUser()
    request.resolver_match = resolve("/stores/")
    refused = ApplicationError(ErrorCode.OUT_OF_STOCK)

    back = refusal_response(request, refused, FACES["backoffice"])
    phone = refusal_response(request, refused, FACES["portal"])

    assert back.status_code == phone.status_code == 409
    assert '<li class="error" role="alert">库存不足</li>' in text(back)
    assert '<li class="error" role="alert">库存不足</li>' in text(phone)


def test_the_api_other_urls_and_other_exceptions_are_left_alone(db: None):
    handler = PageErrors(lambda request: None)  # type: ignore[arg-type,return-value]
    factory = RequestFactory()
    api = factory.get("/api/docs")
    api.resolver_match = resolve("/api/docs")
    admin = factory.get("/admin/")
    admin.resolver_match = resolve("/admin/")
    page = factory.get("/stores/")
    page.resolver_match = resolve("/stores/")

    assert handler.process_exception(api, NotFound("store")) is None
    assert handler.process_exception(admin, NotFound("store")) is None
    assert handler.process_exception(page, ValueError("a bug stays a 500")) is None


def test_field_errors_put_the_message_at_the_field_it_names():
    assert field_errors(invalid("请填写原因", field="reason")) == {"reason": "请填写原因"}
    assert field_errors(ApplicationError(ErrorCode.DUPLICATE)) == {"form": "记录重复"}
    assert field_errors(ApplicationError(ErrorCode.DUPLICATE), "pin") == {"pin": "记录重复"}
