"""The webseeds of a video file beyond its origin, from the apps that provide some.

The catalogue does not know who makes copies of its files: an app registers a provider (a
function of a VideoFile that returns URLs) when Django starts it, in its AppConfig.ready(); the
redundancy app registers its published copies (instance/redundancy/apps.py).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import VideoFile

Provider = Callable[["VideoFile"], list[str]]

_providers: list[Provider] = []


def register(provider: Provider) -> None:
    """Add a provider; registering the same one again changes nothing (ready() may run twice)."""
    if provider not in _providers:
        _providers.append(provider)


def extra_webseeds(video_file: "VideoFile") -> list[str]:
    """The registered providers' URLs for `video_file`, in the order they registered."""
    return [url for provider in _providers for url in provider(video_file)]
