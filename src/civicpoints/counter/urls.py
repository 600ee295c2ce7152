from django.urls import path

from civicpoints.counter import merchant_views, store_views, views

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
