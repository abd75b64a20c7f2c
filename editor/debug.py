"""What Django's error pages and reports may show: never a key, a password or a connection URL.

Django hides settings and request headers whose names look secret; this filter also hides the
connection URLs (DATABASE_URL, CACHE_URL…) and any value, anywhere in a report, that contains one of
the secrets this server is configured with (a provider key echoed into a local variable, say).
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter

HIDDEN = re.compile(r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE|CACHE_URL|DSN|CREDENTIAL", re.I)
# Settings and environment variables whose values are secrets in their own right.
SECRET_NAMES = ("RUNWAYML_API_SECRET", "COMETAPI_KEY", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "CACHE_URL")


def configured_secrets() -> list[str]:
    """Return the secret values this process knows (long enough to be worth looking for)."""
    values = [getattr(settings, name, "") or os.environ.get(name, "") for name in SECRET_NAMES]
    for database in settings.DATABASES.values():
        values.append(database.get("PASSWORD") or "")
    return [v for v in values if isinstance(v, str) and len(v) >= 6]


class SecretFilter(SafeExceptionReporterFilter):
    hidden_settings = HIDDEN

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        return self._scrub(value)

    def get_safe_request_meta(self, request):
        return {k: self._scrub(v) for k, v in super().get_safe_request_meta(request).items()}

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self._scrub(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]

    def _scrub(self, value):
        """Hide a value whose text holds a configured secret."""
        if value == self.cleansed_substitute:
            return value
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:
            return value
        if any(secret in text for secret in configured_secrets()):
            return self.cleansed_substitute
        return value
