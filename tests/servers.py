"""Real servers for the tests, on loopback, started and stopped by the harness: PostgreSQL (a throwaway
cluster on a Unix socket), Redis, nginx and an S3 server (moto's). Debian's packages are installed when
missing (as root, or through sudo).

    python -m tests.servers postgres -- python -m pytest           # run a command with DATABASE_URL set
    python -m tests.servers postgres redis -- python bench/load.py  # … and CACHE_URL
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def apt_install(*packages: str) -> None:
    """Install Debian packages (quietly), as root or through sudo."""
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", *packages], check=True, env=env, stdout=subprocess.DEVNULL)


def wait_until(check, *, timeout: float = 30.0, what: str = "the server") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:g} s")
        time.sleep(0.1)


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path:
    """Return the folder of Debian's PostgreSQL programs (installing the package when missing)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        apt_install("postgresql")
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent


@dataclass
class Postgres:
    url: str
    folder: Path
    process_user: str


def _as(user: str | None, command: list[str]) -> list[str]:
    return command if user is None else ["runuser", "-u", user, "--", *command]


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """Start a throwaway PostgreSQL cluster in a temporary folder, reachable on a Unix socket there."""
    binaries = postgres_bin()
    # The server refuses to run as root: as root, it runs as Debian's postgres user.
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="aleph-pg-"))
    data = folder / "data"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    role = user or pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(
        _as(user, [str(binaries / "initdb"), "-D", str(data), "-U", role, "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True, stdout=subprocess.DEVNULL,
    )
    options = f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    subprocess.run(
        _as(user, [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]),
        check=True, stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(_as(user, [str(binaries / "createdb"), "-h", str(folder), "-U", role, "aleph"]), check=True)
        yield Postgres(f"postgres://{role}@{quote(str(folder), safe='')}/aleph", folder, role)
    finally:
        subprocess.run(
            _as(user, [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- Redis


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """Start Debian's redis-server on a loopback port, with nothing kept on disk; yield its URL."""
    program = shutil.which("redis-server")
    if program is None:
        apt_install("redis-server")
        program = shutil.which("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.2).close() is None, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------- S3 (moto)


@dataclass
class S3:
    endpoint: str
    bucket: str
    access_key: str = "testing-access-key"
    secret_key: str = "testing-secret-key-0123456789"
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The studio's environment for this server."""
        return {
            "ALEPH_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_S3_REGION_NAME": self.region,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }

    def storages(self, current: dict) -> dict:
        """Django's STORAGES with the default storage on this server (as ALEPH_STORAGE=s3 makes it)."""
        options = {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
        }
        return {**current, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}}

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
        )

    def keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))


@contextlib.contextmanager
def s3(bucket: str = "aleph-media") -> Iterator[S3]:
    """Start moto's standalone S3 server on a loopback port, with an empty private bucket."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = S3(f"http://127.0.0.1:{port}", bucket)
    try:
        wait_until(lambda: httpx.get(server.endpoint, timeout=0.5).status_code < 500, what="the S3 server")
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------- nginx


def nginx_program() -> str:
    program = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if program is None:
        apt_install("nginx-light")
        program = shutil.which("nginx") or "/usr/sbin/nginx"
    return program


@contextlib.contextmanager
def nginx(config: str) -> Iterator[Path]:
    """Run nginx in the foreground with a configuration (its `{prefix}` replaced by a temp folder)."""
    folder = Path(tempfile.mkdtemp(prefix="aleph-nginx-"))
    (folder / "logs").mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(config.replace("{prefix}", str(folder)))
    process = subprocess.Popen(
        [nginx_program(), "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        time.sleep(0.3)
        if process.poll() is not None:
            raise RuntimeError("nginx did not start: " + (process.stdout.read() if process.stdout else ""))
        yield folder
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- command line


def main(argv: list[str]) -> int:
    if "--" not in argv or not set(argv[: argv.index("--")]) <= {"postgres", "redis"} or argv[-1] == "--":
        print(__doc__, file=sys.stderr)
        return 2
    wanted, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if "postgres" in wanted:
            env["DATABASE_URL"] = stack.enter_context(postgres()).url
        if "redis" in wanted:
            env["CACHE_URL"] = stack.enter_context(redis())
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
