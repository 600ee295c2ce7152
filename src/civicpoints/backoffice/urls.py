from django.urls import path

from civicpoints.backoffice import activity_views, earning_views, import_views, views
from civicpoints.backoffice import claim_import_views as claim_imports

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("households/", views.households, name="households"),
    path("households/<int:household_id>/", views.household_detail, name="household"),
    path("households/<int:household_id>/card/", views.household_card, name="household_card"),
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
]
