from django.urls import path

from . import views

urlpatterns = [
    path("announce", views.announce, name="tracker-announce"),
    path("scrape", views.scrape, name="tracker-scrape"),
    path("test-page", views.test_page, name="tracker-test-page"),
]
