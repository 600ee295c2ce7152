from django.urls import path

from civicpoints.backoffice import (
    activity_views,
    ceremony_views,
    community_views,
    delivery_views,
    earning_views,
    help_views,
    import_views,
    merchant_views,
    pin_views,
    settlement_views,
    store_views,
    views,
)
from civicpoints.backoffice import claim_import_views as claim_imports

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("households/", views.households, name="households"),
    path("households/<int:household_id>/", views.household_detail, name="household"),
    path("households/<int:household_id>/card/", views.household_card, name="household_card"),
    path(
        "households/<int:household_id>/access/",
        pin_views.household_access,
        name="household_access",
    ),
    path(
        "households/<int:household_id>/access/pin/",
        pin_views.household_pin_reset_view,
        name="household_pin_reset",
    ),
    path(
        "households/<int:household_id>/access/card/",
        pin_views.household_card_issue_view,
        name="household_card_issue",
    ),
    path("households/letters/", pin_views.letters_villages, name="letters"),
    path(
        "households/letters/<int:village_id>/",
        pin_views.letters_village,
        name="letters_village",
    ),
    path("households/import/", import_views.household_import, name="household_import"),
    path(
        "households/import/confirm/",
        import_views.household_import_confirm,
        name="household_import_confirm",
    ),
    path(
        "households/import/done/<str:token>/",
        import_views.household_import_done,
        name="household_import_done",
    ),
    path(
        "households/import/sample.xlsx",
        import_views.household_import_sample,
        name="household_import_sample",
    ),
    path("claims/import/", claim_imports.claim_import, name="claim_import"),
    path(
        "claims/import/confirm/",
        claim_imports.claim_import_confirm,
        name="claim_import_confirm",
    ),
    path(
        "claims/import/done/<str:token>/",
        claim_imports.claim_import_done,
        name="claim_import_done",
    ),
    path(
        "claims/import/template.xlsx",
        claim_imports.claim_import_template_download,
        name="claim_import_template",
    ),
    path("claims/export/", claim_imports.claim_export, name="claim_export"),
    path("claims/", earning_views.claim_queue, name="claims"),
    path("claims/new/", earning_views.claim_new, name="claim_new"),
    path("claims/<int:claim_id>/", earning_views.claim_detail, name="claim"),
    path(
        "claims/<int:claim_id>/<str:action>/",
        earning_views.claim_review,
        name="claim_review",
    ),
    path("photos/<int:photo_id>/", earning_views.claim_photo, name="claim_photo"),
    path("notices/", earning_views.notice_index, name="notices"),
    path("notices/<int:village_id>/", earning_views.notice_board, name="notice_board"),
    path("notices/<int:village_id>/print/", earning_views.notice_print, name="notice_print"),
    path("budget/", earning_views.budget, name="budget"),
    path("activities/", activity_views.activity_list, name="activities"),
    path(
        "activities/<int:activity_id>/checkin/",
        activity_views.activity_checkin,
        name="activity_checkin",
    ),
    path("activities/<int:activity_id>/scan/", activity_views.activity_scan, name="activity_scan"),
    path(
        "activities/<int:activity_id>/attendances/<int:attendance_id>/checkout/",
        activity_views.attendance_checkout,
        name="activity_attendance_checkout",
    ),
    path(
        "activities/<int:activity_id>/close/",
        activity_views.activity_close_view,
        name="activity_close",
    ),
    path("mutual-help/", help_views.help_list, name="mutual_help"),
    path(
        "mutual-help/<int:help_id>/confirm/",
        help_views.help_confirm,
        name="mutual_help_confirm",
    ),
    path(
        "mutual-help/<int:help_id>/reject/", help_views.help_reject, name="mutual_help_reject"
    ),
    path("stores/", store_views.store_list, name="stores"),
    path("stores/new/", store_views.store_new, name="store_new"),
    path("stores/<int:store_id>/", store_views.store_detail, name="store"),
    path("stores/<int:store_id>/products/new/", store_views.product_new, name="product_new"),
    path(
        "stores/<int:store_id>/products/<int:product_id>/photo/",
        store_views.product_photo,
        name="product_photo",
    ),
    path("stores/<int:store_id>/stock/in/", store_views.stock_in, name="stock_in"),
    path("stores/<int:store_id>/stock/count/", store_views.stocktake, name="stocktake"),
    path(
        "redemptions/<int:redemption_id>/",
        store_views.redemption_receipt,
        name="redemption_receipt",
    ),
    path("deliveries/", delivery_views.delivery_board, name="deliveries"),
    path(
        "deliveries/<int:delivery_id>/proof/", delivery_views.delivery_proof, name="delivery_proof"
    ),
    path(
        "deliveries/<int:delivery_id>/<str:action>/",
        delivery_views.delivery_action,
        name="delivery_action",
    ),
    path("orders/", delivery_views.order_list, name="orders"),
    path("orders/<int:order_id>/<str:action>/", delivery_views.order_action, name="order_action"),
    path("ceremonies/new/", ceremony_views.ceremony_new, name="ceremony_new"),
    path(
        "ceremonies/households/",
        ceremony_views.ceremony_households,
        name="ceremony_households",
    ),
    path("ceremonies/<int:ceremony_id>/", ceremony_views.ceremony_detail, name="ceremony"),
    path("merchants/", merchant_views.merchant_list, name="merchants"),
    path("merchants/new/", merchant_views.merchant_new, name="merchant_new"),
    path(
        "merchants/<int:merchant_id>/status/",
        merchant_views.merchant_status,
        name="merchant_status",
    ),
    path("settlement/", settlement_views.settlement, name="settlement"),
    path("settlement/run/", settlement_views.settlement_run, name="settlement_run"),
    path(
        "settlement/statements/<int:statement_id>/paid/",
        settlement_views.statement_paid,
        name="statement_paid",
    ),
    path("settlement/payouts/", settlement_views.payouts, name="payouts"),
    path(
        "settlement/payouts.xlsx",
        settlement_views.payout_file,
        {"kind": "xlsx"},
        name="payout_xlsx",
    ),
    path(
        "settlement/payouts.csv",
        settlement_views.payout_file,
        {"kind": "csv"},
        name="payout_csv",
    ),
    path("settlement/reconcile/", settlement_views.reconciliation, name="reconciliation"),
    # Village life: announcements (村务信息) and complaints/suggestions (投诉建议).
    path("village/announcements/", community_views.announcement_list, name="announcements"),
    path(
        "village/announcements/new/",
        community_views.announcement_new,
        name="announcement_new",
    ),
    path(
        "village/announcements/<int:announcement_id>/",
        community_views.announcement_detail,
        name="announcement",
    ),
    path(
        "village/announcements/<int:announcement_id>/withdraw/",
        community_views.announcement_withdraw_view,
        name="announcement_withdraw",
    ),
    path("village/feedback/", community_views.feedback_list, name="feedback_list"),
    path("village/feedback/<int:feedback_id>/", community_views.feedback_detail, name="feedback"),
    path(
        "village/feedback/<int:feedback_id>/reply/",
        community_views.feedback_reply_view,
        name="feedback_reply",
    ),
    path(
        "village/feedback/<int:feedback_id>/status/",
        community_views.feedback_status_view,
        name="feedback_status",
    ),
    path(
        "village/feedback/<int:feedback_id>/photo/",
        community_views.feedback_photo_view,
        name="feedback_photo",
    ),
]
