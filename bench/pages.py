"""Page benchmark: fill a database with 1,000 edits and time the studio's pages next to a bare view.

Run with `make bench-pages`: it measures on SQLite and on PostgreSQL (a throwaway cluster that
tests/servers.py starts), prints a table of median and p95 milliseconds per page with the number of
SQL queries each ran, and writes it to docs/performance.md. `python bench/pages.py --measure`
measures once, on the database DATABASE_URL names (SQLite by default), and prints JSON.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = tempfile.mkdtemp(prefix="aleph-bench-pages-")
os.environ["ALEPH_DATA_DIR"] = DATA
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aleph_studio.settings")
os.environ["RATELIMIT_ENABLE"] = "0"
# The test client speaks plain http to production settings.
os.environ.update(SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

EDITS = int(os.environ.get("BENCH_EDITS", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))


def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bare/", bare), path("", include("aleph_studio.urls"))]


def fill() -> tuple[int, int]:
    from django.contrib.auth import get_user_model

    from editor.models import Batch, ChangeMap, Clip, Edit, Project, Status

    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    projects = [Project.objects.create(owner=user, title=f"Project {n}") for n in range(20)]
    clip_fields = dict(size_bytes=1, sha256="0" * 64, container="mp4", video_codec="h264", width=1280, height=720,
                       duration=5.0, fps=25.0, frame_count=125, file="clips/x.mp4", poster="posters/x.jpg")
    originals = {p.pk: Clip.objects.create(project=p, **clip_fields) for p in projects}
    big = projects[0]
    statuses = [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.QUEUED]
    edits = []
    for n in range(EDITS):
        project = big if n < EDITS // 2 else projects[1 + n % 19]
        edits.append(Edit(project=project, input_clip=originals[project.pk], prompt=f"golden hour take {n}",
                          ratio="1280:720", seed=n, status=statuses[n % 4], summary="golden-hour look"))
    Edit.objects.bulk_create(edits, batch_size=500)
    results = [Clip(project=e.project, source_edit=e, **clip_fields) for e in Edit.objects.filter(status=Status.SUCCEEDED)]
    Clip.objects.bulk_create(results, batch_size=500)
    # A batch of 16 finished results, for the contact sheet.
    batch = Batch.objects.create(project=big, title="golden hour, 16 seeds")
    sheet = Edit.objects.bulk_create(
        Edit(project=big, input_clip=originals[big.pk], prompt="golden hour", ratio="1280:720", seed=n, batch=batch,
             status=Status.SUCCEEDED, summary="golden-hour look")
        for n in range(16)
    )
    Clip.objects.bulk_create(Clip(project=big, source_edit=e, **clip_fields) for e in sheet)
    ChangeMap.objects.bulk_create(
        ChangeMap(edit=e, state=ChangeMap.State.DONE, aligned=True, changed_share=0.1 * (n % 10), heatmap="heatmaps/x.mp4")
        for n, e in enumerate(sheet)
    )
    return user.pk, big.pk, batch.pk


def measure(client: Client, url: str) -> tuple[float, float, int]:
    timings = []
    client.get(url)  # warm templates and caches
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(url)
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * (len(timings) - 1))))]
    return statistics.median(timings), p95, len(executed)


PAGES_TARGET_MS = 150


def measure_all() -> dict:
    call_command("migrate", verbosity=0)
    user_id, big_project, batch = fill()
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(pk=user_id))
    pages = [
        ("bare Django view", "/bare/"),
        ("projects list", "/"),
        (f"project page ({EDITS // 2} edits)", f"/projects/{big_project}/"),
        ("history (page 1)", "/history/"),
        ("history, search", "/history/?q=take+99"),
        ("contact sheet (16 results)", f"/batches/{batch}/"),
    ]
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        rows = [(name, *measure(client, url)) for name, url in pages]
    return {"engine": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1], "rows": rows}


def table(result: dict) -> list[str]:
    base = result["rows"][0][1]
    lines = ["| page | median ms | p95 ms | × bare | queries |", "|---|---:|---:|---:|---:|"]
    for name, median, p95, queries in result["rows"]:
        lines.append(f"| {name} | {median:.1f} | {p95:.1f} | {median / base:.1f} | {queries} |")
    return lines


def main() -> None:
    started = datetime.datetime.now(datetime.UTC)
    me = [sys.executable, str(Path(__file__).resolve()), "--measure"]
    sqlite_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    runs = [subprocess.run(me, capture_output=True, text=True, check=True, cwd=ROOT, env=sqlite_env)]
    runs.append(subprocess.run([sys.executable, "-m", "tests.servers", "postgres", "--", *me],
                               capture_output=True, text=True, check=True, cwd=ROOT))
    results = [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs]
    lines = [
        "# Page performance",
        "",
        f"`make bench-pages` (bench/pages.py), measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores:",
        f"{EDITS} edits in the database (half of them in one project, under its original), {ROUNDS} rounds of",
        "each page after a warm-up, in-process through Django's test client with DEBUG off; the bare view",
        "is a view that returns \"ok\", measured in the same run. Queries are counted on one request.",
        "The project page shows the newest versions of its tree (older ones load on demand).",
    ]
    for result in results:
        lines += ["", f"## On {result['engine']}", "", *table(result)]
    worst = max(row[2] for result in results for row in result["rows"][1:])
    lines += ["", f"Target: every page's p95 at most {PAGES_TARGET_MS} ms — "
              + ("met" if worst <= PAGES_TARGET_MS else "missed") + f" (the slowest p95 is {worst:.1f} ms)."]
    text = "\n".join(lines)
    print(text)
    from bench.doc import write_section

    write_section("pages", text)


if __name__ == "__main__":
    if "--measure" in sys.argv:
        print(json.dumps(measure_all()))
    else:
        main()
