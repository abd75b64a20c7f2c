"""Moving files between local paths and the configured storage (filesystem or S3)."""

from __future__ import annotations

import shutil
import tempfile
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
