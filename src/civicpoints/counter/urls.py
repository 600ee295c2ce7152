from django.urls import path

from civicpoints.counter import merchant_views, offline_views, store_views, views

app_name = "counter"

urlpatterns = [
    path("", views.index, name="index"),
    path("store/<int:store_id>/", store_views.store_counter, name="store"),
    path("store/<int:store_id>/redeem/", store_views.store_redeem, name="store_redeem"),
    path(
        "store/<int:store_id>/receipts/<int:redemption_id>/",
        store_views.store_receipt,
        name="store_receipt",
    ),
    path(
        "store/<int:store_id>/receipts/<int:redemption_id>/return/",
        store_views.store_return,
        name="store_return",
    ),
    path("sw.js", offline_views.service_worker, name="service_worker"),
    path("store/<int:store_id>/offline/", offline_views.store_offline, name="store_offline"),
    path(
        "store/<int:store_id>/offline/enrol/",
        offline_views.store_device_enrol,
        name="store_device_enrol",
    ),
    path(
        "store/<int:store_id>/offline/snapshot/",
        offline_views.store_offline_snapshot,
        name="store_offline_snapshot",
    ),
    path(
        "store/<int:store_id>/offline/status/",
        offline_views.store_offline_status,
        name="store_offline_status",
    ),
    path(
        "store/<int:store_id>/manifest.webmanifest",
        offline_views.store_manifest,
        name="store_manifest",
    ),
    path("store/<int:store_id>/conflicts/", offline_views.store_conflicts, name="store_conflicts"),
    path(
        "store/<int:store_id>/conflicts/<int:sale_id>/",
        offline_views.store_conflict_resolve,
        name="store_conflict_resolve",
    ),
    path("merchant/<int:merchant_id>/", merchant_views.merchant_counter, name="merchant"),
    path("merchant/<int:merchant_id>/pay/", merchant_views.merchant_pay, name="merchant_pay"),
    path(
        "merchant/<int:merchant_id>/payments/<int:payment_id>/",
        merchant_views.merchant_receipt,
        name="merchant_receipt",
    ),
    path(
        "merchant/<int:merchant_id>/payments/<int:payment_id>/refund/",
        merchant_views.merchant_refund,
        name="merchant_refund",
    ),
]
