"""The redundancy copies' public route: a published copy, served like the origin webseed."""

from django.conf import settings
from django.http import Http404
from django.views.decorators.http import require_http_methods

from instance.file_serving import serve_file

from .models import RedundancyCopy


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def redundancy_copy(request, filename: str):
    """A published redundancy copy, served like the origin webseed (PeerTube's path)."""
    copy = RedundancyCopy.objects.published().filter(video_file__file=f"web-videos/{filename}")
    copy = copy.select_related("video_file").first()
    if copy is None:
        raise Http404("No such copy")
    return serve_file(request, settings.REDUNDANCY_ROOT, copy.filename, cors=True)
