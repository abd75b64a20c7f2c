"""`manage.py run_studio` starts the web server and a worker, and a SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_web_server_and_the_worker(tmp_path):
    port = _free_port()
    env = {**os.environ, "ALEPH_DATA_DIR": str(tmp_path), "DEBUG": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    studio = subprocess.Popen(
        [sys.executable, "manage.py", "run_studio", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the web server did not answer"
            time.sleep(0.3)
        children = _children(studio.pid)
        assert len(children) == 2  # runserver and studio_worker
        studio.send_signal(signal.SIGTERM)
        studio.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in children)
    finally:
        if studio.poll() is None:
            studio.kill()
        for pid in children or _children(studio.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _start_studio(tmp_path, port: int, **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "ALEPH_DATA_DIR": str(tmp_path), "DEBUG": "1", **env_extra}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_studio", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_for_site(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the web server did not answer"
        time.sleep(0.3)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_worker_that_dies_is_started_again_and_the_site_stays_up(tmp_path):
    port = _free_port()
    studio = _start_studio(tmp_path, port)
    try:
        _wait_for_site(port)
        [first] = [pid for pid in _children(studio.pid) if "studio_worker" in _cmdline(pid)]
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            workers = [pid for pid in _children(studio.pid) if "studio_worker" in _cmdline(pid) and _alive(pid)]
            if workers and workers != [first]:
                break
            assert time.monotonic() < deadline, "the dead worker was not started again"
            time.sleep(0.2)
        assert studio.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200
    finally:
        studio.send_signal(signal.SIGTERM)
        output, _ = studio.communicate(timeout=60)
    assert "Worker 0 exited with code -9; starting it again" in output
