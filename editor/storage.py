"""Moving files between local paths and the configured storage (filesystem or S3)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage


def save_file(local_path: Path, name: str) -> str:
    """Copy a local file into storage under a generated name and return the stored name."""
    with open(local_path, "rb") as fh:
        return default_storage.save(name, File(fh, name=Path(name).name))


def delete_quietly(*names: str) -> None:
    """Delete stored files, ignoring blanks and files that are already gone."""
    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except FileNotFoundError:
                pass


@contextmanager
def local_copy(name: str, suffix: str = "") -> Iterator[Path]:
    """Yield a local path for a stored file, downloading it first when storage is remote."""
    try:
        yield Path(default_storage.path(name))
        return
    except NotImplementedError:
        pass
    with tempfile.TemporaryDirectory(prefix="aleph-") as tmp:
        target = Path(tmp) / f"file{suffix or Path(name).suffix}"
        with default_storage.open(name, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        yield target


class Staged:
    """Files saved into storage for a change that has not committed yet."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, local_path: Path, name: str) -> str:
        """Save a local file into storage (see save_file) and remember it until the change is kept."""
        stored = save_file(local_path, name)
        self.names.append(stored)
        return stored


@contextmanager
def staged_files() -> Iterator[Staged]:
    """Yield a Staged; when the block raises, delete every file it saved and let the error go on."""
    staged = Staged()
    try:
        yield staged
    except BaseException:
        delete_quietly(*staged.names)
        raise


def read_stored(name: str) -> bytes:
    """Return a stored file's bytes."""
    with default_storage.open(name, "rb") as fh:
        return fh.read()


# Scratch folders on this machine: a run's is named after its edit and run token, so that the reaper
# can remove the one a dead run left behind; anything of the studio's older than a day is swept.
SCRATCH_MAX_AGE_SECONDS = 24 * 3600


def scratch_prefix(kind: str, edit_id: int, token: str) -> str:
    return f"aleph-{kind}-{edit_id}-{token}-"


@contextmanager
def scratch(kind: str, edit_id: int, token: str) -> Iterator[Path]:
    """Yield a scratch folder for one run of an edit; it is removed when the run ends."""
    with tempfile.TemporaryDirectory(prefix=scratch_prefix(kind, edit_id, token)) as tmp:
        yield Path(tmp)


def remove_scratch(kind: str, edit_id: int, token: str) -> None:
    """Remove the scratch folder a dead run left on this machine."""
    if not token:
        return
    for folder in Path(tempfile.gettempdir()).glob(scratch_prefix(kind, edit_id, token) + "*"):
        shutil.rmtree(folder, ignore_errors=True)


def sweep_scratch(max_age: float = SCRATCH_MAX_AGE_SECONDS) -> list[str]:
    """Remove the studio's temporary folders older than max_age seconds (left by killed processes)."""
    cutoff = time.time() - max_age
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("aleph-*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        except OSError:
            continue
    return removed


CACHE_MAX_AGE_SECONDS = 7 * 24 * 3600


def sweep_cache(folder: Path, max_age: float = CACHE_MAX_AGE_SECONDS) -> list[str]:
    """Remove what a worker cached about clips (people masks, subject tracks) and has not used for
    max_age seconds."""
    cutoff = time.time() - max_age
    removed = []
    for path in folder.glob("*.npz") if folder.is_dir() else ():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except OSError:
            continue
    return removed


def give_memory_back() -> None:
    """Return the heap a finished run freed to the system. A worker runs edit after edit, and
    glibc keeps freed frame buffers in its heap, so without this its peak memory grows with every
    edit (four times the single edit's after sixteen: `make bench-batch`)."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        # Not glibc: nothing to trim.
        pass
