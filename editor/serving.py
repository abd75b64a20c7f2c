"""Serving private media: HTTP Range for seeking, proxy hand-off or presigned S3 redirects in production."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024
# No file is this large: a longer number in a Range header stands for "beyond the end".
_DIGITS = 18
_HUGE = 10**_DIGITS


def _number(text: str) -> int:
    return int(text) if len(text) <= _DIGITS else _HUGE


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """Return (first, last) for a single byte range, None to serve it all, False if unsatisfiable.

    Per RFC 9110 a range that cannot be read (bad syntax, several ranges, last before first) is
    ignored and the whole file served; one that starts past the end is unsatisfiable (416).
    """
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = _number(last)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    start = _number(first)
    end = _number(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


def _iter_file(fh, start: int, length: int):
    try:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()


def _private(response: HttpResponse, *, cache: str = "private, max-age=3600") -> HttpResponse:
    response["Cache-Control"] = cache
    response["X-Content-Type-Options"] = "nosniff"
    # A stored file is never a page: opened on its own, it runs no script and loads nothing.
    response["Content-Security-Policy"] = "default-src 'none'; media-src 'self'; img-src 'self'; sandbox"
    return response


def serve_stored_file(
    request: HttpRequest,
    name: str,
    *,
    download_name: str | None = None,
    cache: str = "private, max-age=3600",
) -> HttpResponse:
    """Answer a GET for a stored file, honouring a single Range; the caller checked permission."""
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    disposition = f'attachment; filename="{download_name}"' if download_name else "inline"

    try:
        default_storage.path(name)
        local = True
    except NotImplementedError:
        local = False
    if not local:
        # S3 and friends: a short-lived presigned URL; the bucket itself stays private.
        return _private(HttpResponseRedirect(default_storage.url(name)), cache="private, no-store")
    if settings.ALEPH_MEDIA_DELIVERY == "x-accel":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.ALEPH_X_ACCEL_PREFIX + name
        response["Content-Disposition"] = disposition
        return _private(response, cache=cache)

    path = Path(default_storage.path(name))
    size = path.stat().st_size
    byte_range = parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    if byte_range is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return _private(response, cache=cache)
    head = request.method == "HEAD"
    if byte_range is None:
        if head:
            response = HttpResponse(content_type=content_type)
        else:
            response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        first, last = byte_range
        length = last - first + 1
        if head:
            response = HttpResponse(status=206, content_type=content_type)
        else:
            response = StreamingHttpResponse(
                _iter_file(open(path, "rb"), first, length), status=206, content_type=content_type
            )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = disposition
    return _private(response, cache=cache)
