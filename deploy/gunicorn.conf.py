"""gunicorn's settings for the studio's web process, from the environment.

    gunicorn -c deploy/gunicorn.conf.py aleph_studio.wsgi

GUNICORN_BIND (127.0.0.1:8000), GUNICORN_WORKERS (2 × cores + 1), GUNICORN_THREADS (4),
GUNICORN_TIMEOUT (60 s: uploads stream through the web process), GUNICORN_GRACEFUL_TIMEOUT (30 s),
GUNICORN_MAX_REQUESTS (1000, with jitter: workers are recycled now and then).
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max_requests // 10
# nginx on this machine is the only client: it sets the forwarded headers the studio believes
# (ALEPH_TRUSTED_PROXY_COUNT).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
