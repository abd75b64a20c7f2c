"""Load benchmark: 50 clients polling unfinished edits' status partials, next to the same clients on
a bare view of the same server, in one run. Each client is an open project page whose unfinished
edits are each polled every 2 s, as htmx does; the run is repeated with 1, 4 and 10 unfinished edits
a page (25, 100 and 250 requests a second in all), and the targets are judged at 4 (a busy page).

Run with `make bench-load`. The studio runs under gunicorn (deploy/gunicorn.conf.py) with the
production settings on a loopback port; Locust (headless, bounded in time) drives it from this
machine. Prints requests per second, p50 and p95 for both and their ratio, and writes the table to
docs/performance.md. BENCH_USERS (50) and BENCH_SECONDS (30) change the load; DATABASE_URL picks the
database (SQLite in a temporary folder by default).
"""

from __future__ import annotations

import csv
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = tempfile.mkdtemp(prefix="aleph-bench-load-")
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "aleph_studio.settings",
    "ALEPH_DATA_DIR": DATA,
    "DEBUG": "0",
    "SECRET_KEY": "bench-" + "x" * 60,
    # Locust speaks plain http to the production settings.
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
}
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.doc import write_section  # noqa: E402
from editor.models import Clip, Edit, Project, Status  # noqa: E402
from tests.servers import free_port, wait_until  # noqa: E402

USERS = int(os.environ.get("BENCH_USERS", "50"))
# Unfinished edits on each client's page; the targets are judged at JUDGED.
LOADS = [int(n) for n in os.environ.get("BENCH_OPEN", "1,4,10").split(",")]
JUDGED = 4
SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
EDITS = 20
TARGET_RATIO = 0.8
TARGET_P95_MS = 50


def fill() -> tuple[str, list[int]]:
    """Make a user with a project of unfinished edits; return a logged-in session key and the edits."""
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("loaded", password="bench-pass-123")
    project = Project.objects.create(owner=user, title="Busy")
    clip = Clip.objects.create(
        project=project, file="clips/x.mp4", poster="posters/x.jpg", size_bytes=1, sha256="0" * 64, container="mp4",
        video_codec="h264", width=1280, height=720, duration=5.0, fps=25.0, frame_count=125,
    )
    now = timezone.now()
    edits = [
        Edit.objects.create(project=project, input_clip=clip, prompt=f"golden hour {n}", ratio="1280:720", seed=n,
                            status=Status.RUNNING, progress=10 + n, started_at=now, heartbeat_at=now, run_token="t")
        for n in range(EDITS)
    ]
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "editor.auth.StudioBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return session.session_key, [e.pk for e in edits]


def run_locust(url: str, target: str, session: str, edits: list[int], open_edits: int) -> dict:
    prefix = Path(DATA) / f"locust-{target}-{open_edits}"
    env = {**ENV, "BENCH_TARGET": target, "BENCH_SESSION": session, "BENCH_EDITS": ",".join(map(str, edits)),
           "BENCH_OPEN": str(open_edits)}
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "--host", url,
         # Clients join over one poll period, so their polls are spread as real pages' are (not in step);
         # the counts start once all have joined.
         "-u", str(USERS), "-r", str(USERS / 2), "--reset-stats", "-t", f"{SECONDS + 2}s", "--csv", str(prefix),
         "--only-summary",
         "--loglevel", "WARNING"],
        check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return {
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
    }


def main() -> None:
    started = datetime.datetime.now(datetime.UTC)
    session, edits = fill()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    access = Path(DATA) / "access.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", str(access), "--access-logformat", "%(U)s %(D)s", "aleph_studio.wsgi"],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: httpx.get(url + "/healthz/", timeout=1).status_code == 200, what="gunicorn")
        probe = httpx.get(f"{url}/edits/{edits[0]}/status/", headers={"HX-Request": "true"}, cookies={"sessionid": session})
        assert probe.status_code == 200 and "progress" in probe.text, probe.status_code
        time.sleep(1)
        runs = []
        for n in LOADS:
            polls = run_locust(url, "polls", session, edits, n) | server_side(access)
            bare = run_locust(url, "bare", session, edits, n) | server_side(access)
            runs.append((n, polls, bare))
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [
        "# Polls under load",
        "",
        f"`make bench-load` (bench/load.py), measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores: gunicorn",
        f"with deploy/gunicorn.conf.py and the production settings (DEBUG off) on loopback, {settings_db()}; Locust",
        f"(headless) on the same machine. {USERS} clients for {SECONDS} s each run, each an open project page whose",
        "unfinished edits are each polled every 2 s (logged in, with HX-Request, as htmx does); then the same clients",
        "at the same pace on a bare view of the same server (/healthz/, which reads nothing).",
        "",
        "| unfinished edits a page | offered req/s | clients ask for | req/s | p50 ms | p95 ms | server p50 ms | server p95 ms | failures |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdict = ""
    for n, polls, bare in runs:
        offered = USERS * n / 2
        for name, result in (("status partials", polls), ("bare view", bare)):
            lines.append(f"| {n} | {offered:.0f} | {name} | {result['rps']:.0f} | {result['p50']:.0f} | "
                         f"{result['p95']:.0f} | {result['server_p50']:.1f} | {result['server_p95']:.1f} | {result['failures']} |")
        ratio = polls["rps"] / bare["rps"] if bare["rps"] else 0.0
        if n == JUDGED:
            verdict = (
                f"At {n} unfinished edits a page, polls reach {ratio:.0%} of the bare view's throughput (target at least "
                f"{TARGET_RATIO:.0%}: " + ("met" if ratio >= TARGET_RATIO else "missed") + f"), with a p95 of "
                f"{polls['p95']:.0f} ms (target at most {TARGET_P95_MS} ms: "
                + ("met" if polls["p95"] <= TARGET_P95_MS else "missed") + ")."
            )
    lines += [
        "",
        "p50 and p95 are what the clients saw (Locust shares the machine's cores with the server); the server's",
        "columns are gunicorn's own time for each request, from its access log.",
        "",
        verdict,
    ]
    text = "\n".join(lines)
    print(text)
    write_section("load", text)


def server_side(access: Path) -> dict:
    """Read gunicorn's request times (microseconds) logged since the last call, and empty the log."""
    times = sorted(int(line.split()[1]) / 1000 for line in access.read_text().splitlines() if line.strip())
    access.write_text("")
    if not times:
        return {"server_p50": 0.0, "server_p95": 0.0}
    return {"server_p50": times[len(times) // 2], "server_p95": times[min(len(times) - 1, int(len(times) * 0.95))]}


def settings_db() -> str:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1]


if __name__ == "__main__":
    main()
