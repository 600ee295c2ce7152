from django.urls import path

from civicpoints.portal import community_views, order_views, pay_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("history/", views.history, name="history"),
    path("notices/", views.notices, name="notices"),
    path("notices/<int:claim_id>/object/", views.object_view, name="object"),
    path("report/", views.report, name="report"),
    path("pay/", pay_views.pay, name="pay"),
    path("pay/code/", pay_views.pay_code, name="pay_code"),
    path("stores/", pay_views.stores, name="stores"),
    path(
        "stores/<int:store_id>/products/<int:product_id>/order/",
        order_views.order_start,
        name="order_start",
    ),
    path(
        "stores/<int:store_id>/products/<int:product_id>/order/confirm/",
        order_views.order_confirm,
        name="order_confirm",
    ),
    path(
        "stores/<int:store_id>/products/<int:product_id>/order/place/",
        order_views.order_place_view,
        name="order_place",
    ),
    path("orders/", order_views.orders, name="orders"),
    path("orders/<int:order_id>/cancel/", order_views.order_cancel_view, name="order_cancel"),
    # Village life: announcements (村务信息) and complaints/suggestions (投诉建议).
    path("village/", community_views.announcements, name="announcements"),
    path("village/<int:announcement_id>/", community_views.announcement, name="announcement"),
    path("feedback/", community_views.feedback_mine, name="feedback_list"),
    path("feedback/new/", community_views.feedback_new, name="feedback_new"),
    path("feedback/<int:feedback_id>/", community_views.feedback_detail, name="feedback"),
    path(
        "feedback/<int:feedback_id>/photo/",
        community_views.feedback_photo_view,
        name="feedback_photo",
    ),
]
