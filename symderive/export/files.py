"""Writing files the user asked for: atomically, never over something they did not mean to replace."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from symderive.errors import ExportError


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str, force: bool) -> Path:
    """Write through a temporary file in the same folder and rename it: never a half-written file."""
    if path.exists() and not force:
        raise ExportError(f"{path} exists; pass --force (force=True) to overwrite it")
    if path.is_dir():
        raise ExportError(f"{path} is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {e.strerror}") from None
    return path
