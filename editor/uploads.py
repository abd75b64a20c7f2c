"""Uploads are read through a handler that stops as soon as a file passes the cap of the view it is
sent to, so a body larger than the limit is never received in full (or written to disk)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from editor import media

MB = 1024 * 1024
# A file sent anywhere else than these views is refused beyond this.
OTHER_CAP = 1 * MB


def upload_cap(url_name: str | None) -> int:
    """Return the largest file, in bytes, the view of this URL name takes."""
    caps = {
        "project_new": settings.ALEPH_MAX_UPLOAD_MB * MB,
        "reference_add": settings.ALEPH_MAX_REFERENCE_MB * MB,
        "edit_create": media.MAX_MASK_BYTES,
    }
    return caps.get(url_name or "", OTHER_CAP)


def refusal(request) -> str | None:
    """Return why an upload of this request was stopped, or None."""
    return getattr(request, "upload_refused", None)


class CappedUploadHandler(FileUploadHandler):
    """Count each uploaded file's bytes and stop reading the request once one passes its cap."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        match = getattr(self.request, "resolver_match", None)
        self.cap = upload_cap(match.url_name if match else None)
        self.request_length = content_length or 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0
        # A request that says it is far larger than the cap is stopped before the file is read at all.
        if self.request_length > self.cap + MB:
            self._stop()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.cap:
            self._stop()
        return raw_data

    def file_complete(self, file_size):
        return None

    def _stop(self) -> None:
        self.request.upload_refused = f"The file is larger than the {self.cap / MB:g} MB limit."
        raise StopUpload(connection_reset=True)
