"""`manage.py studio_worker`: django-tasks-db's worker (`db_worker`), with the studio's reaper beside it
and a graceful stop: on SIGTERM (or Ctrl-C) it takes no new work and gives the edit it is running
ALEPH_SHUTDOWN_GRACE_SECONDS to finish; past that, the edit goes back to the queue cleanly (queued,
scratch removed) for another worker. A second signal hands the edit back at once."""

import logging
import os
import sys
import threading

from django.conf import settings
from django.db import close_old_connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands.db_worker import Command as BaseWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from editor.services import edits

log = logging.getLogger("editor.worker")


def reap_forever(stop: threading.Event, interval: float) -> None:
    """Run the reaper every `interval` seconds until stopped."""
    while not stop.wait(interval):
        try:
            edits.reap_stale_edits()
        except Exception:
            log.exception("reaper pass failed")
        finally:
            close_old_connections()


class StudioWorker(Worker):
    """db_worker's worker, whose stop gives a running edit a grace period, then hands it back."""

    grace_seconds: float = 30.0

    def shutdown(self, signum, frame) -> None:
        if not self.running:
            log.warning("Stopping now: the running edit goes back to the queue.")
            edits.HAND_BACK.set()
            return
        self.running = False
        if not self.running_task:
            sys.exit(0)
        log.warning("Stopping: the running task has %g s to finish, then its edit goes back to the queue.", self.grace_seconds)
        timer = threading.Timer(self.grace_seconds, edits.HAND_BACK.set)
        timer.daemon = True
        timer.start()


class Command(BaseWorkerCommand):
    help = "Run a database task worker, with a reaper that re-queues stale edits and a graceful stop"

    def handle(self, *args, verbosity, queue_name, interval, batch, backend_name, startup_delay, reload, max_tasks,
               worker_id, exclude_queues, **options):
        self.configure_logging(verbosity)
        excluded = exclude_queues.split(",") if exclude_queues else []
        worker = StudioWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded,
        )
        worker.grace_seconds = settings.ALEPH_SHUTDOWN_GRACE_SECONDS
        stop = threading.Event()
        reaper = threading.Thread(
            target=reap_forever, args=(stop, settings.ALEPH_REAPER_INTERVAL_SECONDS), name="aleph-reaper", daemon=True
        )
        reaper.start()
        try:
            if reload and not batch:
                if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                    worker.configure_signals()
                run_with_reloader(worker.run)
            else:
                worker.configure_signals()
                worker.run()
        finally:
            stop.set()
