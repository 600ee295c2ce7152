from django.urls import path

from civicpoints.backoffice import views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("households/", views.households, name="households"),
    path("households/<int:household_id>/", views.household_detail, name="household"),
]
