from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import alarm_views, redundancy_views, views

app_name = "adminpanel"
urlpatterns = [
    path("admin-panel/", views.overview, name="overview"),
    path("admin-panel/p2p", views.instance_p2p, name="instance-p2p"),
    path("admin-panel/limits", views.tracker_limits, name="tracker-limits"),
    path("admin-panel/ice-servers", views.ice_servers, name="ice-servers"),
    path("admin-panel/videos/", views.video_list, name="videos"),
    path("admin-panel/videos/<uuid:uuid>/", views.video_detail, name="video"),
    path("admin-panel/videos/<uuid:uuid>/p2p", views.video_p2p, name="video-p2p"),
    path(
        "admin-panel/videos/<uuid:uuid>/min-viewers",
        views.video_min_viewers,
        name="video-min-viewers",
    ),
    path("admin-panel/audit/", views.audit_log, name="audit"),
    path("admin-panel/alarms/", alarm_views.alarm_list, name="alarms"),
    path("admin-panel/alarms/<int:pk>/", alarm_views.incident_detail, name="incident"),
    path(
        "admin-panel/alarms/<int:pk>/acknowledge",
        alarm_views.incident_acknowledge,
        name="incident-acknowledge",
    ),
    path("admin-panel/redundancy/", redundancy_views.redundancy, name="redundancy"),
    path(
        "admin-panel/redundancy/copies.json",
        redundancy_views.redundancy_copies,
        name="redundancy-copies",
    ),
    path(
        "admin-panel/redundancy/check",
        redundancy_views.redundancy_check_now,
        name="redundancy-check",
    ),
    path(
        "admin-panel/redundancy/<slug:name>",
        redundancy_views.redundancy_strategy,
        name="redundancy-strategy",
    ),
    path(
        "admin-panel/login/",
        auth_views.LoginView.as_view(
            template_name="adminpanel/login.html",
            next_page=reverse_lazy("adminpanel:overview"),
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path(
        "admin-panel/logout/",
        auth_views.LogoutView.as_view(next_page=reverse_lazy("home")),
        name="logout",
    ),
    path("about/privacy", views.privacy_faq, name="privacy-faq"),
]
