"""Moving files between local paths and the configured storage (filesystem or S3)."""

from __future__ import annotations

import hashlib
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


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a local file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
