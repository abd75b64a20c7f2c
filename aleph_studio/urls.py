from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from editor.ratelimits import limit_logins

urlpatterns = [
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin's log-in counts failures like the studio's own.
    path("admin/login/", limit_logins(admin.site.login)),
    path("admin/", admin.site.urls),
    path("", include("editor.urls")),
]
