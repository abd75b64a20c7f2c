"""`manage.py run_studio`: the web server and its workers together in the foreground.

A worker that dies is started again (after a pause that grows while it keeps dying), and the console
says so; the site stays up. Ctrl-C, or a SIGTERM or SIGHUP to this process, stops everything: each
worker gets ALEPH_SHUTDOWN_GRACE_SECONDS to finish the edit it is running before it hands it back."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

# A worker that ran this long before it died is restarted at once; one that keeps dying waits longer
# each time, up to MAX_BACKOFF seconds.
HEALTHY_SECONDS = 60
MAX_BACKOFF = 30


class Command(BaseCommand):
    help = "Start the web server and task workers together; Ctrl-C stops them"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--workers", type=int, default=1, help="Number of task worker processes")

    def handle(self, *args, host, port, workers, **options):
        # A service manager's SIGTERM, or a closed terminal's SIGHUP, stops the children like Ctrl-C.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        web = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"], env=self.env)
        crew = [_Worker(n) for n in range(workers)]
        for worker in crew:
            worker.start(self.env)
        url_host = f"[{host}]" if ":" in host else host
        self.stdout.write(self.style.SUCCESS(f"\nAleph Studio is running at http://{url_host}:{port}/ (Ctrl-C stops it)\n"))
        try:
            while web.poll() is None:
                for worker in crew:
                    self._look_after(worker)
                time.sleep(0.5)
            self.stderr.write(f"Stopped: the web server exited with code {web.returncode}.")
        except KeyboardInterrupt:
            pass
        finally:
            self._stop([web, *(w.process for w in crew if w.process is not None)])

    def _look_after(self, worker: "_Worker") -> None:
        """Start a worker again once its pause is over, if it died."""
        if worker.process is not None and worker.process.poll() is None:
            return
        now = time.monotonic()
        if worker.process is not None:
            code = worker.process.returncode
            worker.process = None
            worker.backoff = 0 if now - worker.started > HEALTHY_SECONDS else min(MAX_BACKOFF, max(1, worker.backoff * 2))
            worker.restart_at = now + worker.backoff
            self.stderr.write(
                f"Worker {worker.number} exited with code {code}; starting it again"
                + (f" in {worker.backoff} s." if worker.backoff else ".")
            )
        if now >= worker.restart_at:
            worker.start(self.env)

    def _stop(self, processes: list[subprocess.Popen]) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        # Workers finish (or hand back) their edit within the grace period; then they are killed.
        deadline = time.monotonic() + settings.ALEPH_SHUTDOWN_GRACE_SECONDS + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


class _Worker:
    def __init__(self, number: int):
        self.number = number
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.backoff = 0
        self.restart_at = 0.0

    def start(self, env: dict) -> None:
        command = [sys.executable, "manage.py", "studio_worker", "--no-reload", "--interval", "0.5",
                   "--worker-id", f"studio-{self.number}-{os.getpid()}-{time.monotonic_ns()}"]
        self.process = subprocess.Popen(command, env=env)
        self.started = time.monotonic()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
