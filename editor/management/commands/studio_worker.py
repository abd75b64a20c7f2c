"""`manage.py studio_worker`: django-tasks-db's worker (`db_worker`), plus the reaper for edits whose run went silent."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections
from django_tasks_db.management.commands.db_worker import Command as BaseWorkerCommand

from editor.services.edits import reap_stale_edits

log = logging.getLogger("editor.reaper")


def reap_forever(stop: threading.Event, interval: float) -> None:
    """Run the reaper every `interval` seconds until stopped."""
    while not stop.wait(interval):
        try:
            reap_stale_edits()
        except Exception:
            log.exception("reaper pass failed")
        finally:
            close_old_connections()


class Command(BaseWorkerCommand):
    help = "Run a database task worker, with a reaper that re-queues stale edits"

    def handle(self, *args, **options):
        stop = threading.Event()
        reaper = threading.Thread(
            target=reap_forever,
            args=(stop, settings.ALEPH_REAPER_INTERVAL_SECONDS),
            name="aleph-reaper",
            daemon=True,
        )
        reaper.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
