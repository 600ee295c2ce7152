from django.urls import path

from civicpoints.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("history/", views.history, name="history"),
    path("notices/", views.notices, name="notices"),
    path("notices/<int:claim_id>/object/", views.object_view, name="object"),
    path("report/", views.report, name="report"),
]
