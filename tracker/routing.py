from django.urls import path

from .consumers import TrackerConsumer

websocket_urlpatterns = [
    # A query string is accepted (Node clients use ?client=N to get a socket each).
    path("tracker/socket", TrackerConsumer.as_asgi()),
]
