"""`manage.py run_studio`: the web server and a worker together in the foreground; Ctrl-C (or a
SIGTERM or SIGHUP to this process) stops both."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server and a task worker together; Ctrl-C stops both"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--workers", type=int, default=1, help="Number of task worker processes")

    def handle(self, *args, host, port, workers, **options):
        # A service manager's SIGTERM, or a closed terminal's SIGHUP, stops the children like Ctrl-C.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        manage = [sys.executable, "manage.py"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        processes = [
            subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"], env=env),
            *(
                subprocess.Popen([*manage, "studio_worker", "--no-reload", "--interval", "0.5", "--worker-id", f"studio-{n}"], env=env)
                for n in range(workers)
            ),
        ]
        url_host = f"[{host}]" if ":" in host else host
        self.stdout.write(self.style.SUCCESS(f"\nAleph Studio is running at http://{url_host}:{port}/ (Ctrl-C stops it)\n"))
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p.args[2] for p in processes if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            self.stderr.write(f"Stopped: {', '.join(failed)} exited with an error.")


def _interrupt(signum, frame):
    raise KeyboardInterrupt

