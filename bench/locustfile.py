"""What bench/load.py's clients do: poll the status partials of unfinished edits the way an open
project page does (every edit every 2 s, with the HX-Request header), or fetch the bare view at the same
pace. BENCH_TARGET picks which; BENCH_SESSION, BENCH_EDITS and BENCH_OPEN come from bench/load.py."""

import os
import random

from locust import FastHttpUser, constant_pacing, task

EDITS = [int(pk) for pk in os.environ.get("BENCH_EDITS", "").split(",") if pk]
SESSION = os.environ.get("BENCH_SESSION", "")
TARGET = os.environ.get("BENCH_TARGET", "polls")
# Unfinished edits on each client's page, each polled every 2 s (htmx's `every 2s`).
OPEN = int(os.environ.get("BENCH_OPEN", "10"))
POLL_SECONDS = 2.0


class Poller(FastHttpUser):
    wait_time = constant_pacing(POLL_SECONDS / OPEN)

    def on_start(self) -> None:
        self.client.cookiejar.set_cookie(_cookie("sessionid", SESSION))

    @task
    def poll(self) -> None:
        if TARGET == "bare":
            self.client.get("/healthz/", name="bare view")
        else:
            pk = random.choice(EDITS)
            self.client.get(f"/edits/{pk}/status/", headers={"HX-Request": "true"}, name="status poll")


def _cookie(name: str, value: str):
    from http.cookiejar import Cookie

    return Cookie(0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {})
