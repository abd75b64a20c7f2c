"""Authentication: an account waiting for approval is told so when it logs in with the right
password, and no inactive account ever stays logged in."""

from __future__ import annotations

from django.contrib.auth.backends import AllowAllUsersModelBackend
from django.contrib.auth.forms import AuthenticationForm


class StudioBackend(AllowAllUsersModelBackend):
    """Check inactive accounts' passwords too (so the log-in can say why), but never restore one from a session."""

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "inactive": "This account is waiting for an administrator's approval, or was switched off by one.",
    }
