"""Settings for Aleph Studio, read from the environment with dev-safe defaults.

Bad values fail at start-up with a message naming the variable.
"""

import os
import secrets
from pathlib import Path

from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from editor.engines.remote.config import check_base_url, parse_output_hosts

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def envpixels(name: str, default: int) -> int:
    """Read a pixel count, as a number ("8294400") or as width × height ("3840x2160")."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    try:
        width, _, height = value.partition("x")
        pixels = int(width) * int(height) if height else int(width)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a pixel count or WIDTHxHEIGHT, got {value!r}") from None
    if pixels < 1:
        raise ImproperlyConfigured(f"{name} must be at least one pixel, got {value!r}")
    return pixels


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("ALEPH_DATA_DIR", BASE_DIR / "var"))
DEBUG = envbool("DEBUG", False)


def _secret_key() -> str:
    """Use SECRET_KEY, else a key generated once per installation and kept in the data folder (0600)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: a reader never sees half a key, a
        # second process starting at the same moment keeps the first one's, and no one else can read it.
        partial = DATA_DIR / f".secret_key.{os.getpid()}"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
        try:
            os.link(partial, key_file)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Where the studio is reached, e.g. https://studio.example.com: its host is allowed, its origin is
# trusted for CSRF, and absolute links (share links, invitations) are made with it.
ALEPH_PUBLIC_URL = os.environ.get("ALEPH_PUBLIC_URL", "").strip().rstrip("/")
_public = urlsplit(ALEPH_PUBLIC_URL) if ALEPH_PUBLIC_URL else None
if _public is not None and (_public.scheme not in ("http", "https") or not _public.hostname or _public.path):
    raise ImproperlyConfigured(f"ALEPH_PUBLIC_URL must be like https://studio.example.com, got {ALEPH_PUBLIC_URL!r}")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", _public.hostname if _public else "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", f"{_public.scheme}://{_public.netloc}" if _public else "")
# Proxies in front of the web server (nginx: 1). Only then are X-Forwarded-For (the client's address)
# and X-Forwarded-Proto (the scheme the browser used) believed.
ALEPH_TRUSTED_PROXY_COUNT = envint("ALEPH_TRUSTED_PROXY_COUNT", 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ALEPH_TRUSTED_PROXY_COUNT else None

INSTALLED_APPS = [
    "editor",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "aleph_studio.urls"
WSGI_APPLICATION = "aleph_studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "editor.context_processors.unread_notifications",
            ],
        },
    },
]

_sqlite_path = DATA_DIR / "db.sqlite3"
# Connections are kept for a minute and checked before reuse (PostgreSQL); SQLite opens its own.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{_sqlite_path}"), conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE transactions plus a busy
    # timeout make concurrent writers wait for each other instead of failing with "locked".
    # Connections are kept like PostgreSQL's (opening one with its pragmas was a fifth of a poll).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so worker subprocesses in the tests can share the test database; one per
    # test run, so runs side by side never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Inactive accounts (waiting for approval) are told so at log-in, and are never kept logged in.
AUTHENTICATION_BACKENDS = ["editor.auth.StudioBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app and static folders too, so a fresh checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# User media is private: it is only ever served through the permission-checked media view,
# so MEDIA_URL is never exposed by a URL pattern.
MEDIA_ROOT = DATA_DIR / "media"
# What a worker learns about a clip and keeps on its own disk (the people masks of each input), by
# the clip's SHA-256; files unused for a week are swept by the reaper.
ALEPH_CACHE_DIR = Path(os.environ.get("ALEPH_CACHE_DIR", DATA_DIR / "cache"))
_storage_backend = os.environ.get("ALEPH_STORAGE", "filesystem")
if _storage_backend == "filesystem":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": "/never-public/"},
    }
elif _storage_backend == "s3":
    # Credentials come from the environment as boto3 reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    # or the machine's role). Media is private: served by presigned links that live five minutes.
    if not os.environ.get("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("ALEPH_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            # "path" for servers reached by address (a MinIO or Ceph on the LAN), "auto" for AWS.
            "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE", "auto"),
            "signature_version": "s3v4",
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"ALEPH_STORAGE must be 'filesystem' or 's3', got {_storage_backend!r}")

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# How media leaves the building: "direct" (Django streams it, Range aware), "x-accel"
# (nginx serves ALEPH_X_ACCEL_PREFIX + name), or, on S3, a short-lived presigned redirect.
ALEPH_MEDIA_DELIVERY = os.environ.get("ALEPH_MEDIA_DELIVERY", "direct")
if ALEPH_MEDIA_DELIVERY not in ("direct", "x-accel"):
    raise ImproperlyConfigured("ALEPH_MEDIA_DELIVERY must be 'direct' or 'x-accel'")
ALEPH_X_ACCEL_PREFIX = os.environ.get("ALEPH_X_ACCEL_PREFIX", "/protected-media/")

TASKS = {
    "default": {
        "BACKEND": os.environ.get("ALEPH_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Who may create an account: open, approval (an administrator approves each new account), invite
# (one-time links an administrator makes) or closed. The first account is the administrator.
ALEPH_SIGNUP = os.environ.get("ALEPH_SIGNUP", "open" if DEBUG else "invite").strip().lower()
if ALEPH_SIGNUP not in ("open", "approval", "invite", "closed"):
    raise ImproperlyConfigured(f"ALEPH_SIGNUP must be open, approval, invite or closed, got {ALEPH_SIGNUP!r}")
# Credits a month a new account may spend on paid engines (0: the local engine only), and the whole
# server's monthly cap (unset: none). Administrators set each user's allowance.
ALEPH_DEFAULT_MONTHLY_CREDITS = envint("ALEPH_DEFAULT_MONTHLY_CREDITS", 0)
ALEPH_MONTHLY_CREDIT_CAP = envint("ALEPH_MONTHLY_CREDIT_CAP", 0) if os.environ.get("ALEPH_MONTHLY_CREDIT_CAP") else None

ALEPH_MAX_UPLOAD_MB = envint("ALEPH_MAX_UPLOAD_MB", 500, minimum=1)
# The largest remote result stored: 30 s of ProRes 4444 at 1080p is over a gigabyte.
ALEPH_MAX_RESULT_MB = envint("ALEPH_MAX_RESULT_MB", 4096, minimum=1)
ALEPH_MAX_CLIP_SECONDS = envint("ALEPH_MAX_CLIP_SECONDS", 120, minimum=1)
ALEPH_MAX_REFERENCE_MB = envint("ALEPH_MAX_REFERENCE_MB", 16, minimum=1)
# Clips and images are refused on their headers when larger than this, before anything is decoded.
ALEPH_MAX_PIXELS = envpixels("ALEPH_MAX_PIXELS", 3840 * 2160)
ALEPH_MAX_REFERENCE_PIXELS = envpixels("ALEPH_MAX_REFERENCE_PIXELS", 50_000_000)
# An upload is probed (and its poster drawn) in a child process with this much memory and time.
ALEPH_PROBE_MEMORY_MB = envint("ALEPH_PROBE_MEMORY_MB", 1536, minimum=256)
ALEPH_PROBE_SECONDS = envint("ALEPH_PROBE_SECONDS", 60, minimum=5)
ALEPH_IMPORT_TIMEOUT_SECONDS = envint("ALEPH_IMPORT_TIMEOUT_SECONDS", 60, minimum=1)
# A running edit whose heartbeat is older than this goes back to the queue.
ALEPH_STALE_SECONDS = envint("ALEPH_STALE_SECONDS", 120, minimum=5)
ALEPH_REAPER_INTERVAL_SECONDS = envint("ALEPH_REAPER_INTERVAL_SECONDS", 30, minimum=1)
# On SIGTERM a worker lets its running edit finish for this long, then puts it back in the queue.
ALEPH_SHUTDOWN_GRACE_SECONDS = envint("ALEPH_SHUTDOWN_GRACE_SECONDS", 30, minimum=0)

# Remote engines. Each appears in the Engine control only when its key is set; keys come from the
# environment only and never reach a page or a log line.
def envurl(name: str, default: str) -> str:
    """Read an API base URL: https, or plain http only for a loopback address."""
    try:
        return check_base_url(os.environ.get(name) or default)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} {exc}") from None


def envhosts(name: str) -> list[str]:
    """Read a comma-separated list of hosts ("host", "host:port" or "*.domain")."""
    try:
        return list(parse_output_hosts(os.environ.get(name, "")))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


RUNWAYML_API_SECRET = os.environ.get("RUNWAYML_API_SECRET", "")
RUNWAYML_BASE_URL = envurl("RUNWAYML_BASE_URL", "https://api.dev.runwayml.com")
COMETAPI_KEY = os.environ.get("COMETAPI_KEY", "")
COMETAPI_BASE_URL = envurl("COMETAPI_BASE_URL", "https://api.cometapi.com/runwayml")
# Hosts remote results may be downloaded from (plain http only for loopback hosts listed here).
ALEPH_OUTPUT_HOSTS = envhosts("ALEPH_OUTPUT_HOSTS")
ALEPH_REMOTE_CONNECT_TIMEOUT = envint("ALEPH_REMOTE_CONNECT_TIMEOUT", 10, minimum=1)
ALEPH_REMOTE_READ_TIMEOUT = envint("ALEPH_REMOTE_READ_TIMEOUT", 60, minimum=1)
# A remote task that cannot be read (or its result downloaded) for this long stops being followed:
# the edit then needs attention, and "Check again" reads the same task.
ALEPH_REMOTE_GIVE_UP_SECONDS = envint("ALEPH_REMOTE_GIVE_UP_SECONDS", 6 * 3600, minimum=60)

# Each upload is counted by the capped handler first, which stops reading past the view's limit.
FILE_UPLOAD_HANDLERS = [
    "editor.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Uploads larger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.environ.get("ALEPH_UPLOAD_TEMP_DIR") or None

# The cache every process shares: rate limits and the credit-balance cache count in it. By default
# a table in the database (created by migrate), so limits hold across web processes.
# CACHE_URL (redis://host:6379/0) moves it to Redis, for many web machines.
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// (or rediss://, unix://) URL, got {CACHE_URL!r}")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "aleph_cache"}}
# Mail (notifications to owners): SMTP when EMAIL_HOST is set, else printed on the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Aleph Studio <studio@localhost>")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)

RATELIMIT_VIEW = "editor.ratelimits.too_many"
RATELIMIT_ENABLE = envbool("RATELIMIT_ENABLE", True)
RATELIMIT_IP_META_KEY = "editor.ratelimits.client_ip"

# Error pages and reports never show a key, a password or a connection URL.
DEFAULT_EXCEPTION_REPORTER_FILTER = "editor.debug.SecretFilter"

# Sessions are read from the shared cache first (Redis when CACHE_URL is set), the database behind it.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Off make run (DEBUG off), the studio is served over https: cookies are secure, http is redirected,
# and browsers are told to come back over https (HSTS). Each can be turned off explicitly.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Preloading is a commitment made at hstspreload.org; until an operator makes it, its check is silenced.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
