from django.urls import path

from civicpoints.backoffice import import_views, views

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
]
