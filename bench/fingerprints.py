"""Output fingerprints: the SHA-256 of what `manage.py edit_clip` writes for every engine bench case.

Run with `make bench-fingerprints`. In its exact mode (`edit_clip --exact`, which this runs) the local
engine gives the same bytes for the same input, prompt, seed and options, so a change that should
not alter any output — a refactor, a speed-up
that claims to be exact — is checked by running this before and after it and comparing the tables:

    make bench-fingerprints > before.txt   # on the old commit
    make bench-fingerprints > after.txt    # on the new one
    diff before.txt after.txt

Prints a markdown table (case, output size, SHA-256) for the 5 s clip. BENCH_ONLY="mirror,grain" runs
the cases whose names contain one of those words.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aleph_studio.settings")

from bench import engine  # noqa: E402
from bench import engine_cases as cases  # noqa: E402
from editor import media  # noqa: E402

OUT = engine.OUT / "fingerprints"


def fingerprint(case: cases.Case, source: Path, info: media.ClipInfo) -> tuple[str, str]:
    """Run one case through edit_clip; return (size, sha256) of its output, or why it did not run."""
    planned = engine.plan_for(case)
    if isinstance(planned, str):
        return "skipped", planned
    mask = engine.make_mask(info.width, info.height) if case.mask else None
    dest = OUT / (case.name.lower().replace(" ", "-").replace("/", "-") + ".mp4")
    command = engine.engine_command(case, source, dest, mask, exact=True)
    done = subprocess.run(command, cwd=ROOT, env=engine.engine_env(), capture_output=True, text=True)
    if done.returncode != 0:
        return "failed", (done.stderr.strip().splitlines() or ["no output"])[-1]
    with open(dest, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return f"{dest.stat().st_size} B", digest


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    only = [word.strip() for word in os.environ.get("BENCH_ONLY", "").split(",") if word.strip()]
    info = media.probe(engine.SHORT)
    print("| case | output | sha256 |")
    print("|---|---|---|")
    for case in cases.CASES:
        if only and not any(word in case.name for word in only):
            continue
        size, digest = fingerprint(case, engine.SHORT, info)
        print(f"| {case.name} | {size} | {digest} |", flush=True)


if __name__ == "__main__":
    main()
