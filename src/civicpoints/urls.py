"""URL map: the API, the Django admin, the residents' and counter pages, and the staff pages."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from civicpoints.api.main import api
from civicpoints.ops import unavailable
from civicpoints.ops.views import bench_floor, healthz
from civicpoints.portal import open_views, sms_views

admin.site.site_header = _("文明积分 管理后台")
admin.site.site_title = _("文明积分")
admin.site.index_title = _("系统管理")

urlpatterns = [
    path("api/", api.urls),
    # One staff login (throttle, lockout, session limits): the admin's own form is not used.
    path(
        "admin/login/",
        RedirectView.as_view(pattern_name="backoffice:login", query_string=True),
        name="admin_login",
    ),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the remembered switch
    path("m/", include("civicpoints.portal.urls")),
    path("sms/inbound", sms_views.inbound, name="sms_inbound"),
    path("counter/", include("civicpoints.counter.urls")),
    # The credit statements' signing public keys (no login; docs/credit.md).
    path("open/keys.json", open_views.signing_keys, name="open_keys"),
    # A village's public page (no login): monthly totals, masked notice, the chain head.
    path("open/<str:code>/", open_views.village_open, name="open_village"),
    # A certificate's QR opens this (no login): is the certificate real, and does it stand?
    path("c/<str:code>/", open_views.certificate_check, name="certificate_check"),
    # A signed credit statement's QR opens this (no login): genuine, and is its consent live?
    path("s/<str:code>/", open_views.statement_check, name="statement_check"),
    path("healthz", healthz, name="healthz"),  # for load balancers: no login, no private data
    path("bench/floor/", bench_floor, name="bench_floor"),  # 404 unless CIVICPOINTS_BENCH=1
    path("", include("civicpoints.backoffice.urls")),
]

# A 500 raised while the database is away (in a middleware, e.g. saving a session) is a 503.
handler500 = unavailable.handler500
