from django.urls import re_path

from . import views

urlpatterns = [
    re_path(
        r"^static/redundancy/(?P<filename>[A-Za-z0-9._-]+)$",
        views.redundancy_copy,
        name="redundancy-copy",
    ),
]
