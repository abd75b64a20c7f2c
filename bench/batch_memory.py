"""Batch memory benchmark: a batch of 16 local edits on the 5 s clip, run by one worker process.

Run with `make bench-batch`. A worker runs a batch's edits one after another, so its peak memory
should be that of its largest single edit, not grow with the batch. Side by side in one run: a
worker given one edit, then a fresh worker given the 16 edits of a batch (4 prompts × 4 seeds), each
on its own SQLite database. The worker's peak resident memory is read from the kernel (VmHWM).
Prints a table and writes it to docs/performance.md.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIP = ROOT / "tests" / "data" / "bigbuckbunny_720p_5s.mp4"
PROMPTS = ("make it black and white", "relight this as golden hour", "teal and orange look", "add film grain")
CEILING_MB = 300
SETUP = """
import os, sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from editor.services import edits, projects
user = get_user_model().objects.create_user("bench", password="bench-pass-123")
path = sys.argv[1]
project = projects.create_project_from_upload(user, SimpleUploadedFile("clip.mp4", open(path, "rb").read(), content_type="video/mp4"), "Bench")
clip = project.clips.get()
prompts = sys.argv[2].split("|")
seeds = int(sys.argv[3])
variants = [edits.EditSettings(prompt=p, ratio="1280:720", seed=s) for p in prompts for s in range(seeds)]
if len(variants) == 1:
    edits.create_edit(project, clip, variants[0])
else:
    edits.create_batch(project, clip, variants)
"""
COUNT = """
import django
django.setup()
from editor.models import Edit, Status
print(Edit.objects.exclude(status=Status.SUCCEEDED).count(), Edit.objects.filter(status=Status.FAILED).count())
"""


def run(prompts: tuple[str, ...], seeds: int) -> dict:
    data = tempfile.mkdtemp(prefix="aleph-bench-batch-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aleph_studio.settings", "ALEPH_DATA_DIR": data, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", SETUP, str(CLIP), "|".join(prompts), str(seeds)], cwd=ROOT, env=env, check=True)
    start = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "studio_worker", "--interval", "0.1", "--no-startup-delay", "--worker-id", "bench"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            time.sleep(0.5)
            left, failed = map(int, subprocess.run([sys.executable, "-c", COUNT], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split())
            if left == 0 or failed:
                break
        elapsed = time.perf_counter() - start
        peak = _peak_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {"edits": len(prompts) * seeds, "seconds": elapsed, "peak_mb": peak, "failed": failed}


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM for the worker")


def main() -> None:
    one = run(PROMPTS[:1], 1)
    batch = run(PROMPTS, 4)
    rows = [("one edit", one), (f"a batch of {batch['edits']} edits ({len(PROMPTS)} prompts × 4 seeds)", batch)]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Batch memory",
        "",
        f"`make bench-batch` (bench/batch_memory.py), measured {now} on {os.cpu_count()} cores: one `studio_worker`",
        "process on SQLite runs local edits of the 5 s 720p clip one after another; its peak resident memory",
        "(VmHWM) is read when the last edit has finished. One edit, then a fresh worker given a whole batch, in the same run.",
        "",
        "| worker given | edits | seconds | peak RSS MB | failed |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {r['edits']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['failed']} |" for name, r in rows]
    growth = batch["peak_mb"] / one["peak_mb"]
    met = batch["peak_mb"] <= CEILING_MB and not batch["failed"]
    lines += [
        "",
        f"Target: the batch's worker stays within the engine's {CEILING_MB} MB ceiling — "
        + ("met" if met else "missed") + f" ({batch['peak_mb']:.0f} MB, {growth:.2f}× the single edit's peak).",
    ]
    print("\n".join(lines))
    from bench.doc import write_section

    write_section("batch", "\n".join(lines))


if __name__ == "__main__":
    main()
