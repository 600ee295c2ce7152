from django.urls import path

from civicpoints.portal import (
    activity_views,
    community_views,
    credit_views,
    help_views,
    honour_views,
    login_views,
    order_views,
    pay_views,
    views,
)

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", login_views.login_view, name="login"),
    path("login/sms/send/", login_views.sms_send, name="login_sms_send"),
    path("login/sms/", login_views.sms_login, name="login_sms"),
    path("login/choose/", login_views.login_choose, name="login_choose"),
    path("logout/", login_views.logout_view, name="logout"),
    path("pin/", login_views.pin_change, name="pin_change"),
    path("history/", views.history, name="history"),
    # 信用授权: consents to lenders (文明积分贷) and every use of them.
    path("credit/", credit_views.credit_home, name="credit"),
    path("credit/new/", credit_views.credit_new, name="credit_new"),
    path("credit/statements/<str:code>/", credit_views.credit_statement, name="credit_statement"),
    path("credit/<str:ref>/granted/", credit_views.credit_granted, name="credit_granted"),
    path("credit/<str:ref>/revoke/", credit_views.credit_revoke, name="credit_revoke"),
    path("rank/", views.rank, name="rank"),
    path("votes/", honour_views.votes, name="votes"),
    path("votes/<int:campaign_id>/", honour_views.vote, name="vote"),
    path("votes/<int:campaign_id>/propose/", honour_views.propose, name="propose"),
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
    # Mutual help from both sides; volunteer activities (sign up, scan the door's code, hours).
    path("help/", help_views.help_index, name="help"),
    path("help/gave/", help_views.help_new, {"side": "gave"}, name="help_gave"),
    path("help/received/", help_views.help_new, {"side": "received"}, name="help_received"),
    path("help/<int:help_id>/confirm/", help_views.help_confirm, name="help_confirm"),
    path("help/<int:help_id>/dispute/", help_views.help_dispute, name="help_dispute"),
    path("activities/", activity_views.activity_list, name="activities"),
    path("activities/scan/", activity_views.activity_scan, name="activity_scan"),
    path("activities/hours/", activity_views.my_hours, name="activity_hours"),
    path(
        "activities/<int:activity_id>/enrol/",
        activity_views.activity_enrol_view,
        name="activity_enrol",
    ),
    path(
        "activities/<int:activity_id>/cancel/",
        activity_views.activity_cancel_view,
        name="activity_cancel",
    ),
]
