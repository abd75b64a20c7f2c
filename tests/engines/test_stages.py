"""Pipeline stages on threads: order kept, errors handed back, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from editor.engines.local.stages import Stage


def _running() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("aleph-")]


def test_items_are_done_in_order_and_close_waits_for_all():
    done = []
    stage = Stage("test", lambda item: (time.sleep(0.001 * (item % 3)), done.append(item)), depth=2)
    for n in range(50):
        stage.put(n)
    stage.close()
    assert done == list(range(50))
    assert _running() == []


def test_chained_stages_keep_order():
    done = []
    last = Stage("last", done.append)
    first = Stage("first", lambda item: last.put(item * 2))
    for n in range(30):
        first.put(n)
    first.close()
    last.close()
    assert done == [2 * n for n in range(30)]


def test_an_error_in_the_stage_reaches_the_producer_and_later_items_are_dropped():
    done = []

    def work(item):
        if item == 3:
            raise ValueError("frame 3 is broken")
        done.append(item)

    stage = Stage("test", work, depth=1)
    with pytest.raises(ValueError, match="frame 3"):
        for n in range(100):
            stage.put(n)
        stage.close()
    stage.abort()
    assert done == [0, 1, 2]
    assert _running() == []


def test_an_error_is_raised_by_close_when_nothing_else_is_put():
    stage = Stage("test", lambda item: 1 / 0)
    stage.put(1)
    with pytest.raises(ZeroDivisionError):
        stage.close()
    assert _running() == []


def test_abort_with_a_full_queue_and_slow_work_does_not_hang():
    started = threading.Event()
    done = []

    def work(item):
        started.set()
        time.sleep(0.05)
        done.append(item)

    stage = Stage("test", work, depth=2)
    for n in range(3):
        stage.put(n)
    started.wait(1)
    stage.abort()
    assert done == [0]  # the item in hand finishes; what was queued is dropped
    assert _running() == []
