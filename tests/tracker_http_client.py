"""A stand-in for Django's test client that sends its GETs through the served ASGI application,
so the HTTP tracker's tests run against both of its adapters: the Django views (the test client)
and the bare ASGI route that `manage.py serve` answers with (tracker/http_app.py)."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator

from instance.asgi import application


@dataclass
class AsgiResponse:
    status_code: int
    content: bytes
    headers: dict[str, str]


class AsgiClient:
    """get(path, REMOTE_ADDR=..., HTTP_X_FORWARDED_FOR=...) as the test client takes them."""

    def get(self, path: str, REMOTE_ADDR: str = "127.0.0.1", **meta) -> AsgiResponse:
        return self.request("GET", path, REMOTE_ADDR, **meta)

    def request(
        self, method: str, path: str, remote_addr: str = "127.0.0.1", raw_headers=(), **meta
    ):
        """raw_headers: (name, value) byte pairs sent as they are, repeated names included."""
        headers = [
            (name[5:].lower().replace("_", "-").encode(), str(value).encode("latin-1"))
            for name, value in meta.items()
            if name.startswith("HTTP_")
        ]
        headers += list(raw_headers)
        headers.append((b"host", b"testserver"))  # what the test client sends
        communicator = HttpCommunicator(application, method, path, headers=headers)
        # HttpCommunicator re-encodes the query as UTF-8: keep the raw, percent-encoded one.
        communicator.scope["query_string"] = urlsplit(path).query.encode("latin-1")
        communicator.scope["client"] = (remote_addr, 50000)
        reply = async_to_sync(communicator.get_response)()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reply["headers"]}
        return AsgiResponse(reply["status"], reply["body"], headers)


SHELLS = ["django-view", "asgi-route"]


def shell_client(shell: str, django_client):
    """The client of one of the two adapters: Django's test client or the ASGI route."""
    return django_client if shell == "django-view" else AsgiClient()
