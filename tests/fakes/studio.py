"""Helpers for testing remote edits through the studio: settings aimed at the fake, time, the task queue.

    fake = FakeProvider("runway", api_key=RUNWAY_TEST_KEY).start()
    clock = use_fake(settings, fake)          # the studio now talks to the fake; retries sleep on `clock`
    queue = TaskQueue()
    queue.run("run_edit_task")                # what a worker would do next, without waiting for run_after
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from django.test import TestCase

# Keys in the providers' real shapes, so a leak would be caught by the shape-based redaction too.
RUNWAY_TEST_KEY = "key_" + "ab" * 64
COMETAPI_TEST_KEY = "sk-" + "cd" * 24


@dataclass
class FakeTime:
    """A monotonic clock and a sleep that advances it instead of waiting."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def use_fake(settings, fake, *, read_timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> FakeTime:
    """Point the studio's settings for the fake's provider at it; return the clock its clients sleep on."""
    time = FakeTime()
    if fake.provider == "runway":
        settings.RUNWAYML_API_SECRET = fake.api_key
        settings.RUNWAYML_BASE_URL = fake.base_url
    else:
        settings.COMETAPI_KEY = fake.api_key
        settings.COMETAPI_BASE_URL = fake.base_url
    settings.ALEPH_OUTPUT_HOSTS = [fake.host]
    settings.ALEPH_REMOTE_CONNECT_TIMEOUT = 2
    settings.ALEPH_REMOTE_READ_TIMEOUT = read_timeout
    settings.ALEPH_REMOTE_CLIENT_OPTIONS = {"sleep": time.sleep, "clock": time.clock, "jitter": lambda: 0.0}
    settings.ALEPH_REMOTE_TRANSPORT = transport
    return time


def worker_settings_env(fake, **extra: str) -> dict[str, str]:
    """Environment for a worker subprocess that talks to the fake."""
    env = {"ALEPH_OUTPUT_HOSTS": fake.host, "ALEPH_REMOTE_CONNECT_TIMEOUT": "2", **extra}
    if fake.provider == "runway":
        env.update(RUNWAYML_API_SECRET=fake.api_key, RUNWAYML_BASE_URL=fake.base_url)
    else:
        env.update(COMETAPI_KEY=fake.api_key, COMETAPI_BASE_URL=fake.base_url)
    return env


def closed_port_url() -> str:
    """Return an http URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class RefusingTransport(httpx.BaseTransport):
    """A real HTTP transport that refuses the first `times` connections for one method and path.

    Connection refused happens before anything is sent, so it is the one create failure a client
    may repeat on its own.
    """

    def __init__(self, method: str, path: str, times: int = 1):
        self.method = method
        self.path = path
        self.left = times
        self.refused = 0
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left and request.method == self.method and request.url.path.endswith(self.path):
            self.left -= 1
            self.refused += 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        # Each job's client closes its transport; this one outlives them and is closed by its owner.
        pass

    def shutdown(self) -> None:
        self._inner.close()


class HookTransport(httpx.BaseTransport):
    """A real HTTP transport that calls `hook()` once, just before it sends the first matching request.

    It lets a test make something happen at an exact point of a run, e.g. the reaper giving up on an
    edit while its create is on the wire.
    """

    def __init__(self, method: str, path: str, hook):
        self.method = method
        self.path = path
        self.hook = hook
        self.called = False
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.called and request.method == self.method and request.url.path.endswith(self.path):
            self.called = True
            self.hook()
        return self._inner.handle_request(request)

    def close(self) -> None:
        # Each job's client closes its transport; this one outlives them and is closed by its owner.
        pass

    def shutdown(self) -> None:
        self._inner.close()


class TaskQueue:
    """Run the database task queue the way `db_worker` does, except that nobody waits for run_after.

    Every run is checked against the poll rule: a deferred status read is never due sooner than 5 s
    after it was enqueued.
    """

    MIN_POLL_DELAY = timedelta(seconds=5)

    def pending(self, name: str | None = None) -> list:
        from django_tasks_db.models import DBTaskResult

        rows = DBTaskResult.objects.filter(status="READY").order_by("run_after", "enqueued_at")
        return [r for r in rows if name is None or r.task_path.rsplit(".", 1)[1] == name]

    def names(self) -> list[str]:
        return [r.task_path.rsplit(".", 1)[1] for r in self.pending()]

    def run(self, name: str | None = None):
        """Run the next pending task (of that name); fail the test if there is none."""
        pending = self.pending(name)
        assert pending, f"no pending {name or 'task'}; queue holds {self.names()}"
        row = pending[0]
        if row.task_path.endswith("poll_remote_task"):
            assert row.run_after - row.enqueued_at >= self.MIN_POLL_DELAY, "a poll was scheduled sooner than 5 s"
        row.claim("test-queue")
        # A worker runs each task outside any transaction, so what it enqueues "on commit" is enqueued at once.
        with TestCase.captureOnCommitCallbacks(execute=True):
            row.task.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
        row.set_successful(None)
        return row

    def run_edit_to_the_end(self, edit):
        """Run an edit's run, then its polls until it has finished; return it fresh."""
        self.run("run_edit_task")
        edit.refresh_from_db()
        while not edit.is_finished and self.pending("poll_remote_task"):
            self.run("poll_remote_task")
            edit.refresh_from_db()
        return edit

    def run_all(self, limit: int = 50) -> list[str]:
        """Run tasks until none is pending; return their names in order."""
        ran = []
        while self.pending():
            assert len(ran) < limit, f"the queue never drained: {ran}"
            ran.append(self.run().task_path.rsplit(".", 1)[1])
        return ran
